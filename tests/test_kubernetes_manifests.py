"""The Kubernetes objects of a workflow: typed, minimal in rights, locked down, no secrets.

Every object (exported or submitted) is built from the official client's typed models
and survives a round trip through its serializer; the manifests of the toy pipeline
have one Job per node, the shared claim everywhere, the resources, selectors and
tolerations of ``scanflow.yml``, a Role with exactly the rights a run needs, and no
credential value anywhere.
"""

from __future__ import annotations

import json

import pytest
import yaml
from kubernetes.client import ApiClient, V1Job

from kedro_scanflow.backends.kubernetes.project_objects import RUNNER_RULES
from kedro_scanflow.backends.kubernetes.resource_quantities import cpu_quantity, memory_quantity
from kedro_scanflow.config import ScanflowConfig
from kedro_scanflow.export.kubernetes_manifests import export_kubernetes
from kedro_scanflow.runs.run_request import RunRequest
from kedro_scanflow.tasks.task_spec import TaskSpec

from .kubernetes_toy import toy_plan

PLANTED_SECRET = "s3cr3t-planted-value-7f1c"


@pytest.fixture
def config() -> ScanflowConfig:
    return ScanflowConfig.model_validate(
        {
            "backends": {
                "kubernetes": {
                    "namespace": "team-ml",
                    "registry": "registry.example.com/team",
                    "run_as_user": 1000,
                    "storage": {
                        "storage_class": "fast-rwx",
                        "size": "20Gi",
                        "access_modes": ["ReadWriteMany"],
                    },
                    "image_pull_secrets": ["registry-pull"],
                    "secrets": [
                        {"secret": "mlflow-auth", "keys": {"MLFLOW_TRACKING_PASSWORD": "password"}},
                        {"secret": "s3-credentials"},
                    ],
                    "credentials_secret": "kedro-credentials",
                    "resources": {"cpus": 1, "memory": "1g", "requests": {"cpus": 0.25}},
                    "require_gpu_node_selector": True,
                }
            },
            "nodes": [
                {
                    "select": {"tags": ["math"]},
                    "resources": {"cpus": 2, "memory": "4g", "gpus": 1},
                    "node_selector": {"nvidia.com/gpu.present": "true"},
                    "tolerations": [
                        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
                    ],
                },
                {
                    "select": {"nodes": ["total"]},
                    "retries": 2,
                    "timeout": 600,
                    "image": "registry.example.com/team/report:1.0",
                },
            ],
        }
    )


@pytest.fixture
def exported(config, tmp_path, monkeypatch):
    # Credentials the orchestrator has must never travel into a manifest.
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PLANTED_SECRET)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", PLANTED_SECRET)
    return export_kubernetes(
        plan=toy_plan(),
        config=config,
        request=RunRequest(pipelines=["numbers"], runtime_params={"factor": {"multiplier": 3}}),
        project_path=tmp_path,
        package_name="toy_project",
        experiment="toy",
    )


def task_jobs(exported) -> dict[str, V1Job]:
    return {
        job.metadata.labels["scanflow.io/task"]: job
        for job in exported.objects
        if job.kind == "Job" and job.metadata.labels.get("app.kubernetes.io/component") == "task"
    }


def pods(exported):
    """Every pod template: Jobs' and the tracker Deployment's."""
    return [obj.spec.template.spec for obj in exported.objects if obj.kind in ("Job", "Deployment")]


def test_every_object_is_a_typed_model_that_survives_the_client_serializer(exported):
    client = ApiClient()
    kinds = set()
    for obj in exported.objects:
        assert type(obj).__module__.startswith("kubernetes.client.models")
        wire = client.sanitize_for_serialization(obj)
        back = client.deserialize(json.dumps(wire), type(obj).__name__, "application/json")
        assert back == obj, obj.kind
        kinds.add(obj.kind)
    assert kinds == {
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "PersistentVolumeClaim",
        "Deployment",
        "Service",
        "Job",
    }


def test_one_job_per_node_with_its_dependencies_recorded_in_annotations(exported):
    plan = toy_plan()
    jobs = task_jobs(exported)
    assert sorted(jobs) == sorted(plan.tasks)
    for slug, task in plan.tasks.items():
        annotations = jobs[slug].metadata.annotations
        recorded = annotations["scanflow.io/depends-on"]
        assert sorted(filter(None, recorded.split(","))) == sorted(task.dependencies)
        assert annotations["scanflow.io/nodes"] == ",".join(task.nodes)
        [container] = jobs[slug].spec.template.spec.containers
        spec_json = next(e.value for e in container.env if e.name == "SCANFLOW_TASK_SPEC")
        spec = TaskSpec.model_validate_json(spec_json)
        assert spec.nodes == list(task.nodes) and spec.runtime_params == {
            "factor": {"multiplier": 3}
        }
        assert spec.tracking.uri == "http://scanflow-toy-project-tracker:5000"
    assert jobs["total"].metadata.annotations["scanflow.io/depends-on"] == "double,square"


def test_the_shared_claim_is_mounted_by_every_task_and_workflow_pod(exported):
    [claim] = [
        obj
        for obj in exported.objects
        if obj.kind == "PersistentVolumeClaim" and obj.metadata.name.endswith("-data")
    ]
    assert claim.spec.storage_class_name == "fast-rwx"
    assert claim.spec.access_modes == ["ReadWriteMany"]
    assert claim.spec.resources.requests == {"storage": "20Gi"}
    jobs = [obj for obj in exported.objects if obj.kind == "Job"]
    assert len(jobs) == len(toy_plan().tasks) + 2, "tasks, workflow-start, workflow-finish"
    for job in jobs:
        pod = job.spec.template.spec
        [volume] = [v for v in pod.volumes if v.persistent_volume_claim is not None]
        assert volume.persistent_volume_claim.claim_name == claim.metadata.name
        for container in pod.containers + (pod.init_containers or []):
            mounts = {m.mount_path: m for m in container.volume_mounts}
            assert mounts["/home/kedro/project/data"].name == volume.name


def test_resources_selectors_tolerations_retries_and_timeouts_come_from_the_config(exported):
    jobs = task_jobs(exported)
    double = jobs["double"].spec.template.spec
    [container] = double.containers
    assert container.resources.limits == {"cpu": "2", "memory": "4096Mi", "nvidia.com/gpu": "1"}
    assert container.resources.requests == {"cpu": "250m"}
    assert double.node_selector == {"nvidia.com/gpu.present": "true"}
    [toleration] = double.tolerations
    assert (toleration.key, toleration.operator, toleration.effect) == (
        "nvidia.com/gpu",
        "Exists",
        "NoSchedule",
    )
    load = jobs["load-numbers"].spec.template.spec
    assert load.containers[0].resources.limits == {"cpu": "1", "memory": "1024Mi"}
    assert load.node_selector is None and load.tolerations is None
    assert load.containers[0].image == "registry.example.com/team/scanflow/toy-project:latest"
    total = jobs["total"]
    assert total.spec.backoff_limit == 2 and total.spec.active_deadline_seconds == 600
    assert total.spec.template.spec.containers[0].image == "registry.example.com/team/report:1.0"
    assert (
        jobs["square"].spec.backoff_limit == 0
        and jobs["square"].spec.active_deadline_seconds is None
    )
    for pod in pods(exported):
        assert [s.name for s in pod.image_pull_secrets] == ["registry-pull"]


def test_the_role_grants_exactly_what_a_run_needs_and_nothing_cluster_wide(exported):
    [role] = [obj for obj in exported.objects if obj.kind == "Role"]
    rules = {(r.api_groups[0], r.resources[0]): sorted(r.verbs) for r in role.rules}
    assert rules == {
        ("batch", "jobs"): ["create", "delete", "get", "list", "watch"],
        ("", "pods"): ["get", "list", "watch"],
        ("", "pods/log"): ["get"],
        ("", "pods/portforward"): ["create", "get"],
        ("", "events"): ["list"],
        ("", "services"): ["create", "get"],
        ("apps", "deployments"): ["create", "get"],
        ("", "persistentvolumeclaims"): ["create", "get"],
    }
    assert len(role.rules) == len(RUNNER_RULES)
    for rule in role.rules:
        assert len(rule.api_groups) == 1 and len(rule.resources) == 1
        assert "*" not in rule.verbs + rule.resources + rule.api_groups
        assert not rule.resource_names and not rule.non_resource_urls
    assert "secrets" not in {r.resources[0] for r in role.rules}
    [binding] = [obj for obj in exported.objects if obj.kind == "RoleBinding"]
    assert binding.role_ref.kind == "Role" and binding.role_ref.name == role.metadata.name
    assert [(s.kind, s.name) for s in binding.subjects] == [("ServiceAccount", "scanflow")]
    assert not any(obj.kind.startswith("Cluster") for obj in exported.objects)


def test_every_pod_runs_locked_down_without_an_api_token(exported):
    for pod in pods(exported):
        assert pod.automount_service_account_token is False
        assert pod.security_context.run_as_non_root is True
        assert pod.security_context.run_as_user == 1000
        assert pod.security_context.seccomp_profile.type == "RuntimeDefault"
        tmp = {v.name for v in pod.volumes if v.empty_dir is not None}
        for container in pod.containers + (pod.init_containers or []):
            context = container.security_context
            assert context.run_as_non_root is True and context.run_as_user == 1000
            assert context.allow_privilege_escalation is False and context.privileged is False
            assert context.capabilities.drop == ["ALL"] and not context.capabilities.add
            assert context.read_only_root_filesystem is True
            assert context.seccomp_profile.type == "RuntimeDefault"
            assert {m.name for m in container.volume_mounts if m.mount_path == "/tmp"} <= tmp
    [account] = [obj for obj in exported.objects if obj.kind == "ServiceAccount"]
    assert account.automount_service_account_token is False
    [namespace] = [obj for obj in exported.objects if obj.kind == "Namespace"]
    assert namespace.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_secrets_are_referenced_by_name_and_no_value_is_ever_written(exported, tmp_path):
    folder = tmp_path / "manifests"
    written = exported.write(folder)
    text = "\n".join(path.read_text() for path in written)
    assert PLANTED_SECRET not in text
    assert "kind: Secret\n" not in text, "scanflow never creates Secrets"
    [container] = task_jobs(exported)["load-numbers"].spec.template.spec.containers
    [password] = [e for e in container.env if e.name == "MLFLOW_TRACKING_PASSWORD"]
    assert password.value is None
    assert (password.value_from.secret_key_ref.name, password.value_from.secret_key_ref.key) == (
        "mlflow-auth",
        "password",
    )
    assert [s.secret_ref.name for s in container.env_from] == ["s3-credentials"]
    pod = task_jobs(exported)["load-numbers"].spec.template.spec
    [conf_local] = [v for v in pod.volumes if v.secret is not None]
    assert conf_local.secret.secret_name == "kedro-credentials"


def test_the_folder_is_a_kustomization_of_yaml_the_client_reads_back(exported, tmp_path):
    folder = tmp_path / "manifests"
    exported.write(folder)
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization" and kustomization["namespace"] == "team-ml"
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in folder.iterdir() if p.name != "kustomization.yaml"
    )
    client = ApiClient()
    count = 0
    for name in kustomization["resources"]:
        for document in yaml.safe_load_all((folder / name).read_text()):
            model = f"V1{document['kind']}"
            typed = client.deserialize(json.dumps(document), model, "application/json")
            assert client.sanitize_for_serialization(typed) == document
            count += 1
    assert count == len(exported.objects)


def test_exported_tasks_wait_for_their_upstream_tasks_on_the_shared_volume(exported):
    jobs = task_jobs(exported)
    [gate] = jobs["total"].spec.template.spec.init_containers
    assert gate.command[:3] == ["python", "-m", "kedro_scanflow.tasks.upstream_gate"]
    assert gate.command[-2:] == ["double", "square"]
    [container] = jobs["double"].spec.template.spec.containers
    marker = container.command[container.command.index("--success-marker") + 1]
    assert marker.endswith("/tasks/double.succeeded")


@pytest.mark.parametrize(
    ("memory", "quantity"),
    [("512m", "512Mi"), ("2g", "2048Mi"), ("1.5Gi", "1536Mi"), ("1000", "1000")],
)
def test_docker_style_memory_sizes_become_kubernetes_quantities(memory, quantity):
    assert memory_quantity(memory) == quantity


def test_cpus_become_millicores():
    assert [cpu_quantity(c) for c in (2, 0.5, 1.25, 0.1)] == ["2", "500m", "1250m", "100m"]


def test_kedro_scanflow_export_writes_a_kustomize_folder(toy_project):
    result = toy_project.kedro("scanflow", "export", "--target", "kubernetes", "-o", "deploy")
    assert result.returncode == 0, result
    folder = toy_project.path / "deploy"
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == "scanflow-toy-project"
    jobs = [
        document
        for name in kustomization["resources"]
        for document in yaml.safe_load_all((folder / name).read_text())
        if document["kind"] == "Job"
    ]
    tasks = sorted(
        j["metadata"]["labels"]["scanflow.io/task"]
        for j in jobs
        if "scanflow.io/task" in j["metadata"]["labels"]
    )
    assert tasks == ["double", "load-numbers", "square", "total"]
    assert "kubectl apply -k" in result.output
