"""``kedro scanflow run`` on the local backend, through the real CLI, on a real project.

Each test is a behaviour users rely on: tasks are separate processes, data crosses
task boundaries, MLflow holds one parent and one child per node, failures name the
node and keep finished work, runs resume, Ctrl-C and killed tasks leave nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from datetime import datetime
from pathlib import Path

import pytest

from kedro_scanflow.pipeline.task_plan import volume_file_names
from kedro_scanflow.runs.run_directory import RunDirectory, TaskStatus
from kedro_scanflow.tracking.tracker_query import TrackerQuery

from .conftest import KedroProject


def _tracker(project: KedroProject) -> TrackerQuery:
    return TrackerQuery(project.tracking_uri, experiment="toy")


def _only_run(project: KedroProject) -> RunDirectory:
    runs = RunDirectory.list(project.runs_root())
    assert len(runs) == 1, [r.run_id for r in runs]
    return runs[0]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is a dead process that its parent has not reaped yet
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_each_node_runs_in_its_own_process_and_everything_is_tracked(toy_project):
    result = toy_project.kedro("scanflow", "run")
    assert result.returncode == 0, result

    summary = json.loads((toy_project.path / "data/08_reporting/summary.json").read_text())
    assert summary["doubled"] == 20 and summary["squared"] == 30

    run = _only_run(toy_project)
    tracker = _tracker(toy_project)
    [parent] = tracker.workflow_runs()
    assert parent.status == "FINISHED"
    assert parent.tags["scanflow.run_id"] == run.run_id
    assert parent.params["factor.multiplier"] == "2"

    tasks = {task.name: task for task in tracker.task_runs(parent.run_id)}
    assert set(tasks) == {"load_numbers", "double", "square", "total"}
    assert all(task.status == "FINISHED" for task in tasks.values())
    assert all(task.parent_run_id == parent.run_id for task in tasks.values())
    pids = {task.tags["scanflow.pid"] for task in tasks.values()}
    assert len(pids) == 4, "every node must run in its own process"
    assert str(os.getpid()) not in pids
    assert str(summary["pid"]) == tasks["total"].tags["scanflow.pid"]

    assert tasks["double"].params["factor.multiplier"] == "2"
    assert tasks["double"].metrics["doubled_sum"] == 20.0
    assert all("task_duration_s" in task.metrics for task in tasks.values())
    assert parent.run_id and tracker.gather(parent.run_id).metrics["double.doubled_sum"] == 20.0

    for dataset in ("numbers", "doubled", "squared"):
        assert (run.volume / f"{dataset}.pkl").is_file(), f"{dataset} must cross the shared volume"
    assert "kedro scanflow runs" in result.output and parent.run_id in result.output


def test_independent_nodes_overlap_and_max_workers_limits_them(toy_project):
    def intervals(project: KedroProject, run: RunDirectory) -> list[tuple[datetime, datetime]]:
        spans = []
        for slug in ("wait-a", "wait-b"):
            state = run.task_state(slug)
            assert state is not None and state.status == TaskStatus.SUCCEEDED
            spans.append(
                (datetime.fromisoformat(state.started_at), datetime.fromisoformat(state.ended_at))
            )
        return spans

    assert (
        toy_project.kedro("scanflow", "run", "-p", "parallel", "--max-workers", "2").returncode == 0
    )
    (a_start, a_end), (b_start, b_end) = intervals(toy_project, _only_run(toy_project))
    assert a_start < b_end and b_start < a_end, "independent nodes must run at the same time"

    for run in RunDirectory.list(toy_project.runs_root()):
        shutil.rmtree(run.root)
    assert toy_project.kedro("scanflow", "run", "-p", "parallel", "-w", "1").returncode == 0
    (a_start, a_end), (b_start, b_end) = sorted(intervals(toy_project, _only_run(toy_project)))
    assert a_end <= b_start, "with one worker, tasks must not overlap"


def test_a_failing_node_is_named_keeps_finished_outputs_and_the_run_resumes(toy_project):
    (toy_project.path / "data" / "FAIL").write_text("x")
    failed = toy_project.kedro("scanflow", "run")
    assert failed.returncode == 1, failed
    assert "node 'total' failed" in failed.output
    assert "ValueError: total refuses to run while data/FAIL exists" in failed.output

    run = _only_run(toy_project)
    assert f"kedro scanflow run --resume {run.run_id}" in failed.output
    for dataset in ("numbers", "doubled", "squared"):
        assert (run.volume / f"{dataset}.pkl").is_file(), "finished outputs must be kept"
    assert not (toy_project.path / "data/08_reporting/summary.json").exists()
    assert run.task_state("total").status == TaskStatus.FAILED
    assert run.task_failure("total").node == "total"

    tracker = _tracker(toy_project)
    [first_parent] = tracker.workflow_runs()
    assert first_parent.status == "FAILED"
    statuses = {t.name: t.status for t in tracker.task_runs(first_parent.run_id)}
    assert statuses == {
        "load_numbers": "FINISHED",
        "double": "FINISHED",
        "square": "FINISHED",
        "total": "FAILED",
    }

    (toy_project.path / "data" / "FAIL").unlink()
    resumed = toy_project.kedro("scanflow", "run", "--resume", run.run_id)
    assert resumed.returncode == 0, resumed
    assert (
        json.loads((toy_project.path / "data/08_reporting/summary.json").read_text())["doubled"]
        == 20
    )
    assert run.task_state("total").attempts == 2
    assert run.task_state("double").attempts == 1, "finished tasks are not run again"
    assert run.task_state("load-numbers").attempts == 1

    parents = {p.run_id: p for p in tracker.workflow_runs()}
    assert len(parents) == 2
    assert parents[first_parent.run_id].status == "FAILED", "a parent run never flips status"
    [second] = [p for p in parents.values() if p.run_id != first_parent.run_id]
    assert second.status == "FINISHED"
    assert second.tags["scanflow.resumed_from"] == first_parent.run_id
    assert [t.name for t in tracker.task_runs(second.run_id)] == ["total"]


def test_an_unknown_backend_is_refused_with_the_choices(toy_project):
    result = toy_project.kedro("scanflow", "run", "--backend", "nowhere")
    assert result.returncode == 2
    assert "Invalid value for '--backend'" in result.output and "'local'" in result.output
    assert not toy_project.runs_root().exists()


@pytest.mark.parametrize(
    ("env", "content", "expected"),
    [
        ("base", "run:\n  max_workers: -1\n", ["run.max_workers", "greater than 0", "-1"]),
        ("base", "run:\n  workers: 3\n", ["run.workers", "Extra inputs are not permitted"]),
        ("local", "run:\n  backend: cloud\n", ["run.backend", "'cloud'"]),
    ],
)
def test_an_invalid_scanflow_yml_names_the_file_the_key_and_the_value(
    toy_project, env, content, expected
):
    path = toy_project.path / "conf" / env / "scanflow.yml"
    path.write_text(content)
    result = toy_project.kedro("scanflow", "run")
    assert result.returncode != 0
    assert f"conf/{env}/scanflow.yml" in result.output
    for fragment in expected:
        assert fragment in result.output, result
    assert not toy_project.runs_root().exists(), "nothing may start on a bad configuration"


def test_a_missing_input_file_is_reported_before_anything_starts(toy_project):
    result = toy_project.kedro("scanflow", "run", "--pipeline", "missing")
    assert result.returncode == 1, result
    assert "'absent_numbers' (read by load_absent) does not exist" in result.output
    assert "data/01_raw/absent.json" in result.output
    assert not toy_project.runs_root().exists()


def test_an_in_memory_input_without_its_producer_is_refused(toy_project):
    result = toy_project.kedro("scanflow", "run", "--nodes", "total")
    assert result.returncode == 1
    assert (
        "'doubled' (read by total) is an in-memory dataset that no selected node produces"
        in result.output
    )


def test_selectors_params_and_environments_work_as_in_kedro_run(toy_project):
    result = toy_project.kedro(
        "scanflow", "run", "--to-nodes", "double", "--params", "factor.multiplier=3"
    )
    assert result.returncode == 0, result
    [parent] = _tracker(toy_project).workflow_runs()
    tasks = {t.name: t for t in _tracker(toy_project).task_runs(parent.run_id)}
    assert set(tasks) == {"load_numbers", "double"}
    assert tasks["double"].metrics["doubled_sum"] == 30.0

    (toy_project.path / "conf" / "staging").mkdir()
    (toy_project.path / "conf" / "staging" / "parameters.yml").write_text(
        "factor:\n  multiplier: 5\n"
    )
    result = toy_project.kedro(
        "scanflow", "run", "--env", "staging", "--nodes", "load_numbers,double"
    )
    assert result.returncode == 0, result
    latest = _tracker(toy_project).workflow_runs()[0]
    doubled = {
        t.name: t.metrics.get("doubled_sum") for t in _tracker(toy_project).task_runs(latest.run_id)
    }
    assert doubled == {"load_numbers": None, "double": 50.0}

    result = toy_project.kedro("scanflow", "run", "--tags", "ingest")
    assert result.returncode == 0, result
    latest = _tracker(toy_project).workflow_runs()[0]
    assert [t.name for t in _tracker(toy_project).task_runs(latest.run_id)] == ["load_numbers"]


def test_grouping_by_namespace_runs_a_namespace_as_one_task(toy_project):
    config = toy_project.path / "conf" / "base" / "scanflow.yml"
    config.write_text(config.read_text().replace("run:\n", "run:\n  group_by: namespace\n"))
    result = toy_project.kedro("scanflow", "run", "-p", "grouped")
    assert result.returncode == 0, result
    tracker = _tracker(toy_project)
    [parent] = tracker.workflow_runs()
    tasks = {t.name: t for t in tracker.task_runs(parent.run_id)}
    assert set(tasks) == {"load_numbers", "maths"}
    assert tasks["maths"].tags["scanflow.nodes"] == "maths.double,maths.square_doubled"
    history = tracker.client.get_metric_history(tasks["maths"].run_id, "node_duration_s")
    assert len(history) == 2, "each node of the group reports its duration"
    volume = {path.name for path in _only_run(toy_project).volume.iterdir()}
    assert volume == set(volume_file_names(["numbers", "maths.squared_doubled"]).values()), (
        "data inside a group stays in memory; only edges between tasks use the volume"
    )


def test_spawn_start_method_runs_fresh_interpreters(toy_project):
    config = toy_project.path / "conf" / "base" / "scanflow.yml"
    config.write_text(config.read_text() + "backends:\n  local:\n    start_method: spawn\n")
    result = toy_project.kedro("scanflow", "run")
    assert result.returncode == 0, result
    [parent] = _tracker(toy_project).workflow_runs()
    pids = {t.tags["scanflow.pid"] for t in _tracker(toy_project).task_runs(parent.run_id)}
    assert len(pids) == 4


def test_a_fresh_interpreter_ends_a_failed_tasks_run_failed(toy_project):
    # A task process that exits normally runs MLflow's exit handler, which ends any run
    # still active as FINISHED; kedro-mlflow opens the task's run again before each node.
    config = toy_project.path / "conf" / "base" / "scanflow.yml"
    config.write_text(config.read_text() + "backends:\n  local:\n    start_method: spawn\n")
    (toy_project.path / "data" / "FAIL").write_text("x")
    failed = toy_project.kedro("scanflow", "run")
    assert failed.returncode == 1, failed
    [parent] = _tracker(toy_project).workflow_runs()
    statuses = {t.name: t.status for t in _tracker(toy_project).task_runs(parent.run_id)}
    assert statuses == {
        "load_numbers": "FINISHED",
        "double": "FINISHED",
        "square": "FINISHED",
        "total": "FAILED",
    }


def _wait_for_running(
    project: KedroProject, slug: str, timeout: float = 60
) -> tuple[RunDirectory, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in RunDirectory.list(project.runs_root()):
            state = run.task_state(slug)
            if state is not None and state.status == TaskStatus.RUNNING and state.handle:
                return run, int(state.handle)
        time.sleep(0.2)
    raise AssertionError(f"task {slug} never started")


def test_ctrl_c_stops_running_tasks_and_fails_the_parent_once(toy_project):
    process = toy_project.start_kedro("scanflow", "run", "-p", "slow")
    run, task_pid = _wait_for_running(toy_project, "wait")
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0, output
    assert "Interrupted" in output
    deadline = time.monotonic() + 10
    while _pid_alive(task_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _pid_alive(task_pid), "the running task must be stopped"
    assert run.task_state("wait").status == TaskStatus.FAILED
    assert run.task_state("square-after-wait").status == TaskStatus.CANCELLED

    [parent] = _tracker(toy_project).workflow_runs()
    assert parent.status == "FAILED"
    assert parent.tags["scanflow.stop_reason"] == "interrupted"
    assert {t.name: t.status for t in _tracker(toy_project).task_runs(parent.run_id)} == {
        "load_numbers": "FINISHED",
        "wait": "FAILED",
    }


def test_a_task_killed_from_outside_fails_the_run_cleanly(toy_project):
    process = toy_project.start_kedro("scanflow", "run", "-p", "slow")
    run, task_pid = _wait_for_running(toy_project, "wait")
    os.kill(task_pid, signal.SIGKILL)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1, output
    assert "node 'wait' failed (exit code -9): killed by signal 9" in output
    state = run.task_state("wait")
    assert state.status == TaskStatus.FAILED and state.exit_code == -9

    tracker = _tracker(toy_project)
    [parent] = tracker.workflow_runs()
    assert parent.status == "FAILED"
    wait_run = {t.name: t for t in tracker.task_runs(parent.run_id)}["wait"]
    assert wait_run.status == "FAILED", "the orchestrator ends the run of a killed task"
    assert "killed by signal 9" in wait_run.tags["scanflow.stop_reason"]


def test_no_process_outlives_the_run(toy_project):
    result = toy_project.kedro("scanflow", "run")
    assert result.returncode == 0
    run = _only_run(toy_project)
    pids = [
        int(run.task_state(slug).handle) for slug in ("load-numbers", "double", "square", "total")
    ]
    assert not any(_pid_alive(pid) for pid in pids)
    server_log = Path(run.logs / "_fork-server.log")
    assert server_log.exists()


def test_a_failure_outside_the_node_function_still_names_the_node(toy_project):
    (toy_project.path / "data/01_raw/numbers.json").write_text("{not json")
    result = toy_project.kedro("scanflow", "run", "--nodes", "load_numbers")
    assert result.returncode == 1, result
    assert "node 'load_numbers' failed (exit code 1): DatasetError" in result.output
    assert _only_run(toy_project).task_failure("load-numbers").node == "load_numbers"


def test_a_conf_source_is_read_by_every_task_and_a_missing_one_is_named(toy_project, tmp_path):
    other = tmp_path / "other-conf"
    shutil.copytree(toy_project.path / "conf", other)
    parameters = other / "base/parameters.yml"
    parameters.write_text(parameters.read_text().replace("multiplier: 2", "multiplier: 5"))
    relative = os.path.relpath(other, toy_project.path)
    result = toy_project.kedro("scanflow", "run", "--conf-source", relative)
    assert result.returncode == 0, result
    summary = json.loads((toy_project.path / "data/08_reporting/summary.json").read_text())
    assert summary["doubled"] == 50, "the task processes read the --conf-source parameters"
    [run] = RunDirectory.list(toy_project.runs_root())
    assert run.record().request.conf_source == str(other)
    assert json.loads(run.spec_path("double").read_text())["conf_source"] == str(other)

    missing = toy_project.kedro("scanflow", "run", "--conf-source", "no-such-conf")
    assert missing.returncode == 2
    assert "Invalid value for '--conf-source': no-such-conf does not exist." in missing.output
    assert len(RunDirectory.list(toy_project.runs_root())) == 1, "nothing started"
