"""``kedro scanflow run --backend docker`` against the real Docker engine.

The images are made for real, with no registry: the base image with debootstrap (cached
between sessions), the toy project's image with ``kedro scanflow build`` (no network in
the build). Every test checks what users rely on: one container per task, the tracker
container, the shared volume, cleanup, failures, security settings, the compose export.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from datetime import datetime, timedelta

import pytest
import yaml

from kedro_scanflow.backends.docker.container_plan import (
    RUNNING_TASK_CPU_SHARES,
    TRACKER_CPU_SHARES,
)
from kedro_scanflow.backends.docker.run_labels import LABEL_PROJECT, LABEL_RUN_ID, RunLabels
from kedro_scanflow.images import BaseImageBuilder
from kedro_scanflow.images.docker_engine import DockerEngineError
from kedro_scanflow.images.docker_engine import docker_client as connect_docker
from kedro_scanflow.runs.run_directory import RunDirectory, TaskStatus
from kedro_scanflow.tracking.tracker_query import TrackerQuery

from .conftest import FIXTURES, KedroProject, free_port

pytestmark = pytest.mark.docker

BASE_IMAGE = "scanflow-base:bookworm"
TOY_IMAGE = "scanflow/toy-project:latest"


@pytest.fixture(scope="session")
def docker_client():
    try:
        return connect_docker()
    except DockerEngineError as error:
        pytest.skip(f"Docker engine not reachable: {error}")


@pytest.fixture(scope="session")
def toy_image(docker_client, tmp_path_factory) -> str:
    """The toy project's image, built the way users build theirs."""
    BaseImageBuilder(BASE_IMAGE).build()
    project = KedroProject(tmp_path_factory.mktemp("image") / "toy_project")
    shutil.copytree(FIXTURES / "toy_project", project.path)
    result = project.kedro("scanflow", "build", timeout=1800)
    assert result.returncode == 0, result
    image = docker_client.images.get(TOY_IMAGE)
    assert image.labels["scanflow.uid"] != "0"
    assert image.attrs["Config"]["User"] == "kedro"
    return TOY_IMAGE


@pytest.fixture
def docker_project(toy_project, toy_image) -> KedroProject:
    return toy_project


def _project_containers(client, project: KedroProject) -> list:
    return [
        c
        for c in client.containers.list(all=True, filters={"label": f"{LABEL_PROJECT}=toy_project"})
        if c.labels.get("scanflow.project_path") == _project_key(project)
    ]


def _project_key(project: KedroProject) -> str:
    return RunLabels("toy_project", project.path, "x").project_key


def _only_run(project: KedroProject) -> RunDirectory:
    [run] = RunDirectory.list(project.runs_root())
    return run


def _serve_tracker(project: KedroProject, port: int) -> subprocess.Popen[str]:
    process = project.start_kedro("scanflow", "tracker", "--port", str(port))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            TrackerQuery(f"http://127.0.0.1:{port}").client.search_experiments(max_results=1)
            return process
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(1)
    process.terminate()
    raise AssertionError(f"kedro scanflow tracker did not serve: {process.communicate()[0]}")


def test_each_task_runs_in_its_own_container_and_the_tracker_container_holds_the_runs(
    docker_project, docker_client
):
    result = docker_project.kedro("scanflow", "run", "--backend", "docker")
    assert result.returncode == 0, result
    summary = json.loads((docker_project.path / "data/08_reporting/summary.json").read_text())
    assert summary["doubled"] == 20 and summary["squared"] == 30
    run = _only_run(docker_project)
    for dataset in ("numbers", "doubled", "squared"):
        assert (run.volume / f"{dataset}.pkl").is_file(), "intermediates cross the shared volume"
    assert not _project_containers(docker_client, docker_project), "no container may remain"
    assert not docker_client.networks.list(filters={"label": f"{LABEL_RUN_ID}={run.run_id}"})

    port = free_port()
    server = _serve_tracker(docker_project, port)
    try:
        query = TrackerQuery(f"http://127.0.0.1:{port}", experiment="toy")
        [parent] = query.workflow_runs(scanflow_run_id=run.run_id)
        assert parent.status == "FINISHED" and parent.tags["scanflow.backend"] == "docker"
        tasks = {task.name: task for task in query.task_runs(parent.run_id)}
        assert set(tasks) == {"load_numbers", "double", "square", "total"}
        containers = {task.tags["scanflow.container_id"] for task in tasks.values()}
        assert len(containers) == 4, "every task runs in its own container"
        for name, task in tasks.items():
            assert task.status == "FINISHED"
            assert (
                run.task_state(task.tags["scanflow.task"]).handle
                == task.tags["scanflow.container_id"]
            )
            assert task.tags["scanflow.host"] == task.tags["scanflow.container_id"][:12], name
        assert tasks["double"].metrics["doubled_sum"] == 20.0
        [ui] = _project_containers(docker_client, docker_project)
        commands = [process[-1] for process in ui.top()["Processes"]]
        assert not [c for c in commands if "huey" in c or "jobs._job_runner" in c], (
            "no idle MLflow job runner beside the tracker (it costs ~20 CPU-s and 1.3 GiB)"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)
    assert not _project_containers(docker_client, docker_project), "the tracker UI is removed too"


def test_runs_share_the_tracker_that_kedro_scanflow_tracker_serves(docker_project, docker_client):
    port = free_port()
    server = _serve_tracker(docker_project, port)
    try:
        [ui] = _project_containers(docker_client, docker_project)
        since = int(time.time())
        result = docker_project.kedro("scanflow", "run", "--backend", "docker")
        assert result.returncode == 0, result
        assert f"in the open UI at http://127.0.0.1:{port}" in " ".join(result.output.split())
        run = _only_run(docker_project)
        created = docker_client.events(
            since=since,
            until=int(time.time()) + 1,
            decode=True,
            filters={
                "type": "container",
                "event": "create",
                "label": f"{LABEL_RUN_ID}={run.run_id}",
            },
        )
        roles = [event["Actor"]["Attributes"].get("scanflow.role") for event in created]
        assert roles.count("task") == 4 and "tracker" not in roles, "no tracker of its own"
        ui.reload()
        assert ui.status == "running", "the run leaves the shared tracker serving"
        assert set(ui.attrs["NetworkSettings"]["Networks"]) == {"bridge"}, "and off its network"
        assert [c.id for c in _project_containers(docker_client, docker_project)] == [ui.id]
        query = TrackerQuery(f"http://127.0.0.1:{port}", experiment="toy")
        [parent] = query.workflow_runs(scanflow_run_id=run.run_id)
        assert parent.status == "FINISHED" and len(query.task_runs(parent.run_id)) == 4
    finally:
        server.kill()  # killed outright: its container becomes a leftover
        server.communicate(timeout=60)
        left = [c.id for c in _project_containers(docker_client, docker_project)]
        cleaned = docker_project.kedro("scanflow", "clean")
    assert left == [ui.id] and cleaned.returncode == 0, cleaned
    assert not _project_containers(docker_client, docker_project)


def test_a_failing_node_names_itself_keeps_outputs_and_leaves_nothing_running(
    docker_project, docker_client
):
    (docker_project.path / "data" / "FAIL_DOUBLE").write_text("x")
    result = docker_project.kedro("scanflow", "run", "--backend", "docker")
    assert result.returncode == 1, result
    assert "node 'double' failed (exit code 1)" in result.output
    assert "RuntimeError: double refuses to run while data/FAIL_DOUBLE exists" in result.output
    assert "last lines of its log" in result.output
    run = _only_run(docker_project)
    assert run.task_state("double").status == TaskStatus.FAILED
    assert run.task_state("total").status == TaskStatus.CANCELLED, "dependent nodes never start"
    assert run.task_state("total").mlflow_run_id is None
    assert run.task_state("square").status == TaskStatus.SUCCEEDED
    assert (run.volume / "squared.pkl").is_file() and (run.volume / "numbers.pkl").is_file()
    assert not _project_containers(docker_client, docker_project)
    assert f"kedro scanflow run --resume {run.run_id}" in result.output


def test_a_container_killed_from_outside_fails_the_run_cleanly(docker_project, docker_client):
    process = docker_project.start_kedro("scanflow", "run", "--backend", "docker", "-p", "slow")
    deadline = time.monotonic() + 300
    container_id = None
    while time.monotonic() < deadline and container_id is None:
        for run in RunDirectory.list(docker_project.runs_root()):
            state = run.task_state("wait")
            if state and state.status == TaskStatus.RUNNING and state.handle:
                container_id = state.handle
        time.sleep(0.5)
    assert container_id, "the wait task never started"
    time.sleep(3)  # let it reach the node
    docker_client.containers.get(container_id).kill()
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 1, output
    assert "node 'wait' failed (exit code 137): killed (SIGKILL)" in output
    assert not _project_containers(docker_client, docker_project)


def test_a_task_lingering_at_exit_does_not_hold_up_the_tasks_after_it(
    docker_project, docker_client
):
    """A task's success counts when its process has written its success marker, not when
    the engine has torn its container down; a crash after that is reported, not fatal."""
    (docker_project.path / "data" / "LINGER").write_text("20 3")
    result = docker_project.kedro("scanflow", "run", "--backend", "docker", "--keep")
    try:
        assert result.returncode == 0, result
        assert "load-numbers exited with code 3 after its task had succeeded" in result.output
        run = _only_run(docker_project)
        loaded = run.task_state("load-numbers")
        assert loaded.status == TaskStatus.SUCCEEDED
        state = docker_client.containers.get(loaded.handle).attrs["State"]
        assert state["ExitCode"] == 3
        container_gone = datetime.fromisoformat(state["FinishedAt"][:26] + "+00:00")
        for successor in ("double", "square"):
            started = datetime.fromisoformat(run.task_state(successor).started_at)
            assert started < container_gone - timedelta(seconds=10), successor
        assert run.task_state("total").status == TaskStatus.SUCCEEDED
    finally:
        cleaned = docker_project.kedro("scanflow", "clean", "--all")
        assert cleaned.returncode == 0, cleaned
    assert not _project_containers(docker_client, docker_project)


def test_an_old_success_marker_does_not_pass_a_resumed_task(docker_project, docker_client):
    (docker_project.path / "data" / "FAIL").write_text("x")
    first = docker_project.kedro("scanflow", "run", "--backend", "docker")
    assert first.returncode == 1, first
    run = _only_run(docker_project)
    # As if an earlier attempt had succeeded and the orchestrator died before recording it.
    run.success_marker_path("total").write_text("total\n")
    resumed = docker_project.kedro("scanflow", "run", "--resume", run.run_id)
    assert resumed.returncode == 1, resumed
    assert "total refuses to run while data/FAIL exists" in resumed.output
    assert run.task_state("total").status == TaskStatus.FAILED
    assert not _project_containers(docker_client, docker_project)


def test_task_containers_are_unprivileged_limited_and_without_the_docker_socket(
    docker_project, docker_client
):
    config = docker_project.path / "conf" / "base" / "scanflow.yml"
    config.write_text(
        config.read_text()
        + "backends:\n  docker:\n    resources:\n      memory: 768m\n"
        + "nodes:\n  - select: {tags: [math]}\n    resources: {cpus: 0.5, memory: 512m}\n"
    )
    result = docker_project.kedro("scanflow", "run", "--backend", "docker", "--keep")
    assert result.returncode == 0, result
    try:
        containers = {
            c.labels.get("scanflow.task") or c.labels["scanflow.role"]: c
            for c in _project_containers(docker_client, docker_project)
        }
        assert {"load-numbers", "double", "square", "total", "tracker"} <= set(containers)
        for name, container in containers.items():
            host = container.attrs["HostConfig"]
            assert container.attrs["Config"]["User"] not in ("", "0", "root", "0:0"), name
            assert host["Privileged"] is False and host["CapDrop"] == ["ALL"], name
            assert "no-new-privileges:true" in host["SecurityOpt"], name
            assert host["ReadonlyRootfs"] is True, name
            sources = [mount["Source"] for mount in container.attrs["Mounts"]]
            assert not any("docker.sock" in source for source in sources), name
        for name in ("double", "square"):
            host = containers[name].attrs["HostConfig"]
            assert host["NanoCpus"] == 500_000_000 and host["Memory"] == 512 * 2**20
        assert containers["total"].attrs["HostConfig"]["Memory"] == 768 * 2**20
        assert containers["total"].attrs["HostConfig"]["NanoCpus"] == 0
        # The tracker outweighs tasks; a warm container got a running task's weight back.
        assert containers["tracker"].attrs["HostConfig"]["CpuShares"] == TRACKER_CPU_SHARES
        weights = [
            c.attrs["HostConfig"]["CpuShares"] for n, c in containers.items() if n != "tracker"
        ]
        assert set(weights) <= {0, RUNNING_TASK_CPU_SHARES} and RUNNING_TASK_CPU_SHARES in weights
        mounts = {m["Destination"]: m for m in containers["double"].attrs["Mounts"]}
        assert mounts["/home/kedro/project/conf"]["RW"] is False
        assert mounts["/home/kedro/project/data"]["RW"] is True
    finally:
        cleaned = docker_project.kedro("scanflow", "clean", "--all")
        assert cleaned.returncode == 0, cleaned
    assert not _project_containers(docker_client, docker_project)


def test_the_project_image_holds_the_compiled_modules_of_the_project(toy_image, docker_client):
    """Task containers have a read-only root file system: the project's modules must be
    compiled in the image, or every task compiles them again."""
    listing = (
        "import importlib.util, pathlib\n"
        "sources = sorted(pathlib.Path('src').rglob('*.py'))\n"
        "print(len(sources), [str(s) for s in sources\n"
        "    if not pathlib.Path(importlib.util.cache_from_source(str(s))).is_file()])\n"
    )
    output = docker_client.containers.run(
        toy_image, ["python", "-c", listing], remove=True, network_mode="none", read_only=True
    )
    count, missing = output.decode().strip().split(" ", 1)
    assert int(count) > 0 and missing == "[]", output


def test_a_killed_orchestrator_leaves_containers_that_clean_removes(docker_project, docker_client):
    process = docker_project.start_kedro("scanflow", "run", "--backend", "docker", "-p", "slow")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        runs = RunDirectory.list(docker_project.runs_root())
        state = runs[0].task_state("wait") if runs else None
        if state and state.status == TaskStatus.RUNNING:
            break
        time.sleep(0.5)
    process.kill()  # SIGKILL: no cleanup can run
    process.communicate()
    assert _project_containers(docker_client, docker_project), (
        "a killed orchestrator leaves containers"
    )
    result = docker_project.kedro("scanflow", "clean")
    assert result.returncode == 0, result
    assert "Removed" in result.output
    assert not _project_containers(docker_client, docker_project)


def test_a_conf_source_folder_is_the_configuration_of_every_container(
    docker_project, docker_client, tmp_path
):
    other = tmp_path / "other-conf"
    shutil.copytree(docker_project.path / "conf", other)
    parameters = other / "base/parameters.yml"
    parameters.write_text(parameters.read_text().replace("multiplier: 2", "multiplier: 3"))
    relative = os.path.relpath(other, docker_project.path)
    result = docker_project.kedro(
        "scanflow", "run", "--backend", "docker", "--conf-source", relative
    )
    assert result.returncode == 0, result
    summary = json.loads((docker_project.path / "data/08_reporting/summary.json").read_text())
    assert summary["doubled"] == 30, "the containers read the --conf-source parameters"
    run = _only_run(docker_project)
    assert run.record().request.conf_source == str(other), "kept absolute, to resume from anywhere"
    spec = json.loads(run.spec_path("double").read_text())
    assert spec["conf_source"] is None, "mounted as the containers' conf/"

    shutil.copytree(other, tmp_path / "packed/conf")  # the layout of `kedro package`
    archive = shutil.make_archive(str(tmp_path / "conf"), "gztar", tmp_path / "packed", "conf")
    result = docker_project.kedro(
        "scanflow", "run", "--backend", "docker", "--conf-source", archive
    )
    assert result.returncode != 0
    assert f"--conf-source {archive} is not a folder" in " ".join(result.output.split()), result
    assert not _project_containers(docker_client, docker_project)

    target = docker_project.path / "docker-compose.scanflow.yml"
    result = docker_project.kedro("scanflow", "export", "--conf-source", relative)
    assert result.returncode == 0, result
    services = yaml.safe_load(target.read_text())["services"]
    assert f"{relative}:/home/kedro/project/conf:ro" in services["double"]["volumes"]
    result = docker_project.kedro(
        "scanflow", "export", "--target", "kubernetes", "--conf-source", relative
    )
    assert result.returncode != 0
    flat = " ".join(result.output.split())
    assert f"--conf-source {other} cannot reach exported manifests" in flat, result


def test_the_compose_export_is_valid_matches_the_graph_and_runs(docker_project, docker_client):
    target = docker_project.path / "docker-compose.scanflow.yml"
    result = docker_project.kedro("scanflow", "export", "--target", "compose")
    assert result.returncode == 0, result
    document = yaml.safe_load(target.read_text())
    services = document["services"]
    assert set(services) == {
        "tracker",
        "workflow-start",
        "workflow-finish",
        "load-numbers",
        "double",
        "square",
        "total",
    }
    assert set(services["total"]["depends_on"]) == {"workflow-start", "double", "square"}
    assert set(services["double"]["depends_on"]) == {"workflow-start", "load-numbers"}
    assert all(
        d["condition"] == "service_completed_successfully"
        for d in services["total"]["depends_on"].values()
    )
    assert services["tracker"]["ports"] == ["127.0.0.1:5000:5000"]
    assert "./data:/home/kedro/project/data" in services["double"]["volumes"]
    assert "./conf:/home/kedro/project/conf:ro" in services["double"]["volumes"]
    assert services["double"]["cap_drop"] == ["ALL"] and services["double"]["read_only"] is True

    validated = subprocess.run(
        ["docker-compose", "-f", str(target), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert validated.returncode == 0, validated.stderr
    up = subprocess.run(
        ["docker-compose", "-f", str(target), "up", "-d"],
        cwd=docker_project.path,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        finish = docker_client.containers.get(services["workflow-finish"]["container_name"])
        assert finish.wait(timeout=600)["StatusCode"] == 0, finish.logs(tail=30).decode()
        summary = json.loads((docker_project.path / "data/08_reporting/summary.json").read_text())
        assert summary["doubled"] == 20
    finally:
        subprocess.run(
            ["docker-compose", "-f", str(target), "down"], capture_output=True, check=False
        )
