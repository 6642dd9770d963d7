"""Scanflow in production, for real: ``kedro scanflow serve`` answers drifted digits and
records them, ``kedro scanflow agent`` checks them, gets them labelled, retrains and
promotes, and the server switches to the new champion without failing a request. Then
the agent is killed mid-cycle, twice, and must lose no label and register no model twice.

The project is rendered from the starter, trained, and given drifted production data
(impulse noise, the drift pipeline) once for the module.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from kedro_scanflow.human import LabelStore
from kedro_scanflow.io import NpzImageDataset
from kedro_scanflow.runs.run_directory import RunDirectory
from kedro_scanflow.serving.prediction_store import PredictionRecord, PredictionStore
from kedro_scanflow.tracking.tracker_query import TrackerQuery

from .conftest import KEDRO, KedroProject, cli_env, free_port, render_starter, run_pipelines

MODEL = "scanflow-mnist-classifier"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> KedroProject:
    """The starter, trained (champion version 1), with drifted production data."""
    workspace = tmp_path_factory.mktemp("agent")
    project = render_starter(workspace)
    return run_pipelines(project, "training", "drift")


def _drifted(project: KedroProject):
    return NpzImageDataset(str(project.path / "data/05_model_input/drifted_new_digits.npz")).load()


def _versions(project: KedroProject) -> list:
    return project.mlflow_client().search_model_versions(f"name = '{MODEL}'")


class Background:
    """A ``kedro`` command running in the project, its output in a file."""

    def __init__(self, project: KedroProject, log: Path, *args: str):
        self.log = log
        self._stream = log.open("w")
        self.process = subprocess.Popen(
            [KEDRO, *args],
            cwd=project.path,
            env=cli_env(),
            stdin=subprocess.DEVNULL,
            stdout=self._stream,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def output(self) -> str:
        return self.log.read_text()

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._stream.close()

    def stop(self, signum: int = signal.SIGINT, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.wait(30)


def _until(condition, timeout: float, what: str, background: Background | None = None) -> None:
    deadline = time.time() + timeout
    while not condition():
        if background is not None and background.process.poll() is not None:
            raise AssertionError(f"the command ended before {what}:\n{background.output()[-5000:]}")
        if time.time() > deadline:
            extra = f"\n{background.output()[-5000:]}" if background is not None else ""
            raise AssertionError(f"timed out waiting for {what}{extra}")
        time.sleep(0.25)


def _get(port: int, path: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return json.load(response)
    except OSError:
        return None


def test_the_agent_promotes_a_champion_that_serve_answers_without_a_failed_request(  # noqa: PLR0915
    production, tmp_path
):
    port = free_port()
    with (production.path / "conf/base/scanflow.yml").open("a") as config:
        config.write(
            f"\nserve:\n  port: {port}\n  poll_seconds: 0.5\n"
            "agent:\n  min_new_predictions: 300\n  poll_seconds: 0.5\n"
        )
    drifted = _drifted(production)
    server = Background(production, tmp_path / "serve.log", "scanflow", "serve")
    answers: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def client() -> None:
        position = 0
        while not stop.is_set():
            body = json.dumps(
                {"image": drifted.images[position].tolist(), "label": int(drifted.labels[position])}
            ).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/predict",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    answers.append((response.status, json.load(response)["model_version"]))
            except urllib.error.HTTPError as error:
                answers.append((error.code, None))
            except OSError:
                answers.append((-1, None))
            position = (position + 1) % len(drifted)
            time.sleep(0.01)

    sender = threading.Thread(target=client)
    try:
        _until(lambda: _get(port, "/health") is not None, 180, "the server to answer", server)
        sender.start()
        _until(lambda: len(answers) >= 320, 180, "300 recorded predictions", server)

        agent = production.kedro(
            "scanflow", "agent", "--env", "drift", "--max-cycles", "1", timeout=1200
        )
        assert agent.returncode == 0, agent
        assert f"promoted {MODEL} version 2 to @champion" in agent.output, agent

        _until(
            lambda: (_get(port, "/health") or {}).get("model_version") == "2",
            60,
            "serve to switch to version 2",
        )
        served_before = len(answers)
        _until(
            lambda: len(answers) >= served_before + 50, 60, "requests answered by the new champion"
        )
    finally:
        stop.set()
        if sender.is_alive():
            sender.join(timeout=60)
        metrics = _get(port, "/metrics")
        assert server.stop() == 0, server.output()[-3000:]

    statuses = {status for status, _ in answers}
    versions = [version for _, version in answers]
    assert statuses == {200}, f"every request was answered, during the switch too: {statuses}"
    assert versions[0] == "1" and versions[-1] == "2"
    switch = versions.index("2")
    assert set(versions[switch:]) == {"2"}, "once switched, the new champion answers every request"
    assert metrics["failures"] == 0 and metrics["model_reloads"] == 1
    store = PredictionStore(production.path / "data/scanflow/predictions.db")
    assert store.count() == len(answers), (
        "every prediction was recorded, none lost when the server stopped"
    )

    state = json.loads((production.path / "data/scanflow/agent/state.json").read_text())
    [cycle] = state["history"]
    assert cycle["critical"] == 100 and cycle["promoted_version"] == "2" and state["cycle"] is None
    assert state["cursor"] == cycle["until"] >= 300
    tracker = TrackerQuery(production.tracking_uri, experiment="scanflow-mnist")
    steps = tracker.workflow_runs(pipeline="inference.agent")
    assert {run.status for run in steps} == {"FINISHED"} and len(steps) == 2, (
        "check and improve: two tracked runs"
    )
    version = production.mlflow_client().get_model_version(MODEL, "2")
    assert version.tags["scanflow.run_id"] == cycle["improve_run"]


def test_killing_the_agent_mid_cycle_loses_no_label_and_registers_no_model_twice(
    production, tmp_path
):
    _human_environment(production)
    drifted = _drifted(production)
    store = PredictionStore(production.path / "data/scanflow/predictions-human.db")
    store.start()
    for image, label in zip(drifted.images[:300], drifted.labels[:300], strict=True):
        store.record(PredictionRecord(time.time(), "1", 0, 0.5, 1.0, image, int(label)))
    store.close()
    versions_before = len(_versions(production))
    agent_folder = production.path / "data/scanflow/agent-human"
    runs = production.runs_root()
    # The other agent of this project (the first test's) has had a first cycle too.
    earlier_checks = set(runs.glob("*-agent1-check"))

    def new_check_runs() -> list[Path]:
        return [path for path in runs.glob("*-agent1-check") if path not in earlier_checks]

    def check_task_running() -> bool:
        return any(
            '"running"' in path.read_text()
            for run in new_check_runs()
            for path in (run / "tasks").glob("*.json")
            if not path.name.endswith((".spec.json", ".failure.json"))
        )

    first = Background(production, tmp_path / "agent-1.log", "scanflow", "agent", "--env", "human")
    _until(check_task_running, 300, "the check step to run a task", first)
    first.stop(signal.SIGKILL)  # killed outright, mid-run
    [check_run] = [path.name for path in new_check_runs()]

    second = Background(production, tmp_path / "agent-2.log", "scanflow", "agent", "--env", "human")
    labels = LabelStore(production.path / "data/scanflow/labels-human")

    def waiting_for_labels() -> bool:
        state = json.loads((agent_folder / "state.json").read_text())
        return bool(state["cycle"] and state["cycle"]["waiting_for"])

    _until(waiting_for_labels, 600, "the agent to wait for labels", second)
    [task] = labels.tasks()
    pending = labels.pending(task)
    truth = {item.item_id: int(drifted.labels[item.sample_id]) for item in labels.task(task).items}
    for item_id in pending[: len(pending) // 2]:
        labels.answer(task, item_id, truth[item_id], annotator="test-human")
    second.stop(signal.SIGKILL)  # killed while waiting

    third = Background(
        production,
        tmp_path / "agent-3.log",
        "scanflow",
        "agent",
        "--env",
        "human",
        "--max-cycles",
        "1",
    )
    time.sleep(3)
    for item_id in labels.pending(task):
        labels.answer(task, item_id, truth[item_id], annotator="test-human")
    assert third.wait(timeout=900) == 0, third.output()[-5000:]

    state = json.loads((agent_folder / "state.json").read_text())
    [cycle] = state["history"]
    assert cycle["check_run"] == check_run, (
        "the restarted agent resumed the killed run instead of starting over"
    )
    assert state["cursor"] == 300 and state["cycle"] is None
    attempts = RunDirectory(runs / check_run).record().attempts
    assert [a.status for a in attempts] == ["abandoned", "succeeded"]
    killed = production.mlflow_client().get_run(attempts[0].mlflow_run_id)
    assert killed.info.status == "KILLED"

    progress = labels.progress(task)
    assert progress.answered == progress.total == 30, "no label lost"
    answered_events = [event for event in labels.history(task) if event.event == "answered"]
    assert len(answered_events) == 30 and {event.annotator for event in answered_events} == {
        "test-human"
    }
    assert {item_id: record.value for item_id, record in labels.answers(task).items()} == truth

    versions = _versions(production)
    promoted = cycle["promoted_version"] is not None
    assert len(versions) == versions_before + int(promoted), "no duplicate model version"
    by_run = [v for v in versions if v.tags.get("scanflow.run_id") == cycle["improve_run"]]
    assert len(by_run) == int(promoted)


def _human_environment(project: KedroProject) -> None:
    """``--env human``: drifted holdout, a human (no oracle) labels 30 critical points, and
    the agent has its own store, state and labels."""
    human = project.path / "conf/human"
    human.mkdir(exist_ok=True)
    (human / "catalog.yml").write_text((project.path / "conf/drift/catalog.yml").read_text())
    base = yaml.safe_load((project.path / "conf/base/scanflow.yml").read_text())
    supervision = base["supervision"]
    for checker in supervision["inference"]["checkers"]:
        if checker["kind"] == "drift_detector":
            checker["n_critical"] = 30
        if checker["kind"] == "human_labeler":
            checker.update(oracle=False, store="data/scanflow/labels-human")
    settings = {
        "supervision": supervision,
        "serve": {"store": "data/scanflow/predictions-human.db"},
        "agent": {
            "min_new_predictions": 300,
            "min_critical": 10,
            "poll_seconds": 0.5,
            "directory": "data/scanflow/agent-human",
        },
    }
    (human / "scanflow.yml").write_text(yaml.safe_dump(settings))
    assert os.environ.get("KEDRO_ENV") is None
