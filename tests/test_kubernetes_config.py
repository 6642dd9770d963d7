"""``backends.kubernetes`` and the per-node Kubernetes settings of ``scanflow.yml``:
validated before anything reaches a cluster, with errors that name the file and the key."""

from __future__ import annotations

import pytest
import yaml
from kedro.config import OmegaConfigLoader

from kedro_scanflow.config import ScanflowConfig, ScanflowConfigError, load_scanflow_config
from kedro_scanflow.config.node_settings import settings_for
from kedro_scanflow.pipeline.task_plan import Task
from kedro_scanflow.runs.run_directory import RunDirectory


def load(tmp_path, content: dict):
    for env in ("base", "local"):
        (tmp_path / env).mkdir(parents=True, exist_ok=True)
    (tmp_path / "base" / "scanflow.yml").write_text(yaml.safe_dump(content))
    return load_scanflow_config(
        OmegaConfigLoader(str(tmp_path), base_env="base", default_run_env="local")
    )


def gpu_entry(**extra):
    return {"select": {"tags": ["train"]}, "resources": {"gpus": 1}, **extra}


@pytest.mark.parametrize(
    ("content", "key", "message"),
    [
        (
            {"backends": {"kubernetes": {"storage": {"storage_clas": "fast"}}}},
            "backends.kubernetes.storage.storage_clas",
            "Extra inputs are not permitted",
        ),
        (
            {"nodes": [{"select": {"nodes": ["a"]}, "resources": {"cpus": -1}}]},
            "nodes.0.resources.cpus",
            "greater than 0",
        ),
        (
            {"nodes": [{"select": {"nodes": ["a"]}, "resources": {"memory": "-2g"}}]},
            "nodes.0.resources.memory",
            "is not a memory size",
        ),
        (
            {"nodes": [{"select": {"nodes": ["a"]}, "resources": {"gpus": -1}}]},
            "nodes.0.resources.gpus",
            "greater than or equal to 0",
        ),
        (
            {"backends": {"kubernetes": {"resources": {"requests": {"cpus": -0.5}}}}},
            "backends.kubernetes.resources.requests.cpus",
            "greater than 0",
        ),
        (
            {
                "nodes": [
                    {"select": {"nodes": ["a"]}, "resources": {"cpus": 1, "requests": {"cpus": 2}}}
                ]
            },
            "nodes.0.resources",
            "requests.cpus (2.0) exceeds cpus (1.0)",
        ),
        (
            {
                "backends": {"kubernetes": {"require_gpu_node_selector": True}},
                "nodes": [gpu_entry()],
            },
            "nodes.0.node_selector",
            "requests 1 GPU(s) but sets no node_selector",
        ),
        (
            {"backends": {"kubernetes": {"storage": {"size": "-10Gi"}}}},
            "backends.kubernetes.storage.size",
            "is not a positive storage size",
        ),
        (
            {"backends": {"kubernetes": {"namespace": "Team_ML"}}},
            "backends.kubernetes.namespace",
            "is not a valid Kubernetes name",
        ),
        (
            {"backends": {"kubernetes": {"tracker": {"uri": "sqlite:///mlflow.db"}}}},
            "backends.kubernetes.tracker.uri",
            "pods cannot reach a database or file store",
        ),
        (
            {"backends": {"kubernetes": {"secrets": [{"secret": "db", "value": "hunter2"}]}}},
            "backends.kubernetes.secrets.0.value",
            "Extra inputs are not permitted",
        ),
        (
            {"nodes": [{"select": {"nodes": ["a"]}, "retries": -1}]},
            "nodes.0.retries",
            "greater than or equal to 0",
        ),
    ],
)
def test_bad_kubernetes_settings_are_errors_naming_the_file_and_the_key(
    tmp_path, content, key, message
):
    with pytest.raises(ScanflowConfigError) as error:
        load(tmp_path, content)
    text = str(error.value)
    assert f"{tmp_path / 'base' / 'scanflow.yml'}: key '{key}'" in text
    assert message in text


def test_gpu_groups_with_a_selector_or_a_default_selector_are_accepted(tmp_path):
    required = {"require_gpu_node_selector": True}
    own = load(
        tmp_path,
        {
            "backends": {"kubernetes": required},
            "nodes": [gpu_entry(node_selector={"nvidia.com/gpu.present": "true"})],
        },
    )
    assert own.nodes[0].node_selector == {"nvidia.com/gpu.present": "true"}
    default = ScanflowConfig.model_validate(
        {
            "backends": {"kubernetes": {**required, "node_selector": {"pool": "gpu"}}},
            "nodes": [gpu_entry()],
        }
    )
    assert default.backends.kubernetes.node_selector == {"pool": "gpu"}
    assert ScanflowConfig.model_validate({"nodes": [gpu_entry()]}), "only when required"


def test_kubernetes_node_settings_merge_by_name_tag_and_namespace():
    config = ScanflowConfig.model_validate(
        {
            "nodes": [
                {
                    "select": {"tags": ["train"]},
                    "node_selector": {"pool": "gpu"},
                    "tolerations": [{"key": "gpu", "operator": "Exists"}],
                    "retries": 1,
                },
                {"select": {"nodes": ["fit"]}, "timeout": 900, "node_selector": {"zone": "a"}},
                {"select": {"namespaces": ["fit"]}, "retries": 3},
            ]
        }
    )
    task = Task(
        name="fit",
        slug="fit",
        nodes=("fit",),
        dependencies=frozenset(),
        inputs=frozenset(),
        outputs=frozenset(),
        tags=frozenset({"train"}),
    )
    settings = settings_for(task, config.nodes)
    assert settings.node_selector == {"pool": "gpu", "zone": "a"}
    assert [t.key for t in settings.tolerations] == ["gpu"]
    assert (settings.retries, settings.timeout) == (1, 900)


def test_a_bad_config_stops_a_kubernetes_run_before_any_cluster_is_contacted(toy_project):
    (toy_project.path / "conf/base/scanflow.yml").write_text(
        "backends:\n  kubernetes:\n    storage:\n      storage_clas: fast\n"
    )
    result = toy_project.kedro(
        "scanflow", "run", "--backend", "kubernetes", KUBECONFIG="/nonexistent/kubeconfig"
    )
    assert result.returncode == 1
    assert "key 'backends.kubernetes.storage.storage_clas'" in result.output
    assert "conf/base/scanflow.yml" in result.output
    assert "cluster" not in result.output.lower()
    assert not RunDirectory.list(toy_project.runs_root()), "nothing was started"


def test_without_a_cluster_the_run_says_how_to_point_to_one_and_skips_host_file_checks(
    toy_project,
):
    # 'absent_numbers' does not exist on this machine: the local backend refuses to start,
    # but on Kubernetes the catalog files live on the cluster's volume, not here.
    local = toy_project.kedro("scanflow", "run", "--pipeline", "missing")
    assert "Missing pipeline input(s)" in local.output
    remote = toy_project.kedro(
        "scanflow",
        "run",
        "--pipeline",
        "missing",
        "--backend",
        "kubernetes",
        KUBECONFIG="/nonexistent/kubeconfig",
    )
    assert remote.returncode == 1
    assert "Missing pipeline input(s)" not in remote.output
    assert "No Kubernetes cluster is configured" in remote.output
    assert "KUBECONFIG" in remote.output
