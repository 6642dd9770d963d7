"""Task processes that load MLflow only when their task uses it: which runs may, the
REST client that ends a task's run without MLflow, and real task processes logging to a
real tracking server, with and without a node that imports MLflow."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from kedro.config import OmegaConfigLoader
from mlflow.tracking import MlflowClient

from kedro_scanflow.backends.docker.container_plan import task_command
from kedro_scanflow.config import ScanflowConfig
from kedro_scanflow.runs.run_directory import RunDirectory
from kedro_scanflow.runs.run_request import RunRequest
from kedro_scanflow.tasks.mlflow_on_demand import tasks_may_defer_mlflow
from kedro_scanflow.tasks.plugin_hooks import hook_entry_points
from kedro_scanflow.tasks.task_spec import TrackingSpec
from kedro_scanflow.tracking.rest_run_log import RestRunLog, TrackerRequestError

from .conftest import cli_env, free_port
from .test_pod_task_process import run_task_process, toy_spec

IMPORT_TIMES = (sys.executable, "-X", "importtime", "-m", "kedro_scanflow.tasks")
SUPERVISED = {
    "inference": {
        "inputs": {"new_data": "new", "reference_data": "train", "model": "champion"},
        "checkers": [{"kind": "drift_detector", "n_critical": 10}],
    }
}


def _conf(tmp_path, catalog: str = "", mlflow_yml: str | None = None) -> OmegaConfigLoader:
    base = tmp_path / "conf" / "base"
    base.mkdir(parents=True)
    (tmp_path / "conf" / "local").mkdir()
    (base / "catalog.yml").write_text(catalog or "numbers:\n  type: json.JSONDataset\n")
    if mlflow_yml is not None:
        (base / "mlflow.yml").write_text(mlflow_yml)
    return OmegaConfigLoader(str(tmp_path / "conf"), base_env="base", default_run_env="local")


def test_tasks_may_defer_mlflow_only_where_nothing_needs_it_loaded(tmp_path):
    """kedro-mlflow's hook (``mlflow.yml``), its datasets and the supervision nodes all
    work through a loaded MLflow; a plain project's tasks do not need it."""
    plain = ScanflowConfig()
    assert tasks_may_defer_mlflow(_conf(tmp_path / "plain"), plain)
    assert not tasks_may_defer_mlflow(
        _conf(tmp_path / "yml", mlflow_yml="tracking:\n  run:\n    name: nightly\n"), plain
    )
    artifact = "plot:\n  type: kedro_mlflow.io.artifacts.MlflowArtifactDataset\n"
    assert not tasks_may_defer_mlflow(_conf(tmp_path / "catalog", catalog=artifact), plain)
    supervised = ScanflowConfig.model_validate({"supervision": SUPERVISED})
    assert not tasks_may_defer_mlflow(_conf(tmp_path / "supervised"), supervised)


def test_the_hooks_tasks_skip_are_found_by_their_entry_points():
    assert hook_entry_points(["kedro_mlflow"]) == ["mlflow_hook"]
    assert hook_entry_points(["kedro_telemetry", "kedro_mlflow"]) == [
        "kedro-telemetry",
        "mlflow_hook",
    ]


def test_skipped_plugin_hooks_are_never_imported(toy_project):
    """In a fresh interpreter, as a task process: the sessions of the process leave the
    hooks out without importing them; other plugins' hooks (the plugin's own) stay."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from kedro.framework.startup import bootstrap_project\n"
        "bootstrap_project(Path.cwd())\n"
        "from kedro_scanflow.tasks.plugin_hooks import skip_plugin_hooks\n"
        "skip_plugin_hooks(['kedro_telemetry'])\n"
        "print(skip_plugin_hooks(['kedro_telemetry', 'kedro_mlflow']))\n"
        "from kedro.framework.session import KedroSession\n"
        "for _ in range(2):\n"
        "    with KedroSession.create(Path.cwd()) as session:\n"
        "        manager = session._hook_manager\n"
        "        names = sorted(n for n, p in manager.list_name_plugin() if p)\n"
        "print(names)\n"
        "print(sorted(m for m in ('kedro_mlflow', 'kedro_telemetry', 'mlflow')\n"
        "             if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=toy_project.path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    blocked, plugins, loaded = done.stdout.strip().splitlines()[-3:]
    assert blocked == "['kedro-telemetry', 'mlflow_hook']"
    assert "scanflow" in plugins and "mlflow_hook" not in plugins, plugins
    assert "kedro-telemetry" not in plugins, plugins
    assert loaded == "[]"


def test_task_containers_are_told_to_load_mlflow_on_demand():
    from pathlib import PurePosixPath

    spec = PurePosixPath("data/runs/r/specs/t.json")
    assert "--mlflow-on-demand" in task_command(spec, [], True, mlflow_on_demand=True)
    assert "--mlflow-on-demand" not in task_command(spec, [], True)


def test_rest_run_log_ends_a_run_with_its_results(tracking_server):
    """Parameters beyond one request's limit (100) go in several batches."""
    client = MlflowClient(tracking_server)
    experiment = client.create_experiment("rest")
    run = client.create_run(experiment)
    params = {f"p{index:03d}": str(index) for index in range(150)}

    run_log = RestRunLog(tracking_server)
    run_log.log_batch(
        run.info.run_id,
        [("task_duration_s", 1.5, 0), ("node_duration_s", 0.5, 0), ("node_duration_s", 0.7, 1)],
        params,
        {"scanflow.pid": "42"},
    )
    run_log.end_run(run.info.run_id, "FAILED")

    ended = client.get_run(run.info.run_id)
    assert ended.info.status == "FAILED" and ended.info.end_time is not None
    assert ended.data.params == params
    assert ended.data.tags["scanflow.pid"] == "42"
    assert ended.data.metrics["task_duration_s"] == 1.5
    history = client.get_metric_history(run.info.run_id, "node_duration_s")
    assert [(m.step, m.value) for m in history] == [(0, 0.5), (1, 0.7)]


def test_rest_run_log_names_the_tracker_and_the_request_it_could_not_make(
    tracking_server, monkeypatch
):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(TrackerRequestError, match=r"refused runs/update \(HTTP 404\)") as refused:
        RestRunLog(tracking_server).end_run("0" * 32, "FINISHED")
    assert tracking_server in str(refused.value)

    gone = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TrackerRequestError, match="did not answer runs/log-batch") as unreachable:
        RestRunLog(gone).log_batch("0" * 32, params={"a": "1"})
    assert gone in str(unreachable.value)
    with pytest.raises(ValueError, match="not a tracking server URI"):
        RestRunLog("sqlite:///mlflow.db")


def _loaded_mlflow(import_times: str) -> bool:
    """Whether ``-X importtime`` output shows the ``mlflow`` package imported."""
    return re.search(r"\|\s+mlflow$", import_times, re.MULTILINE) is not None


def test_tasks_with_mlflow_on_demand_log_their_runs_with_and_without_loading_it(
    toy_project, tracking_server
):
    """``load_numbers`` never imports MLflow: its run ends over the REST API. ``double``
    imports MLflow as it runs and finds its task's run active: its metric lands there.
    ``total`` fails without MLflow: its run ends FAILED and the failure names the node."""
    client = MlflowClient(tracking_server)
    experiment = client.create_experiment("toy-on-demand")
    run = RunDirectory.create(toy_project.runs_root(), RunRequest(pipelines=["numbers"]))

    def run_node(node: str, shared: dict[str, str]) -> tuple[str, str]:
        task_run = client.create_run(experiment, run_name=node).info.run_id
        spec = toy_spec(run, toy_project, node, node, shared).model_copy(
            update={
                "tracking": TrackingSpec(
                    uri=tracking_server, experiment_id=experiment, run_id=task_run
                )
            }
        )
        done = run_task_process(toy_project, spec, "--mlflow-on-demand", command=IMPORT_TIMES)
        return task_run, done

    loaded, done = run_node("load_numbers", {"numbers": "numbers.pkl"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert not _loaded_mlflow(done.stderr)
    finished = client.get_run(loaded)
    assert finished.info.status == "FINISHED"
    assert {"task_duration_s", "node_duration_s"} <= finished.data.metrics.keys()
    assert finished.data.tags["scanflow.host"]

    doubled, done = run_node("double", {"numbers": "numbers.pkl", "doubled": "doubled.pkl"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert _loaded_mlflow(done.stderr)
    double_run = client.get_run(doubled)
    assert double_run.info.status == "FINISHED"
    assert double_run.data.metrics["doubled_sum"] == 20.0  # 2 * (1 + 2 + 3 + 4)
    assert double_run.data.params["factor.multiplier"] == "2"

    _, done = run_node("square", {"numbers": "numbers.pkl", "squared": "squared.pkl"})
    assert done.returncode == 0, done.stderr[-3000:]
    (toy_project.path / "data" / "FAIL").write_text("")
    failed, done = run_node("total", {"doubled": "doubled.pkl", "squared": "squared.pkl"})
    assert done.returncode == 1
    assert not _loaded_mlflow(done.stderr)
    assert client.get_run(failed).info.status == "FAILED"
    assert run.task_failure("total").node == "total"
