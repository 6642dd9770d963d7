"""The tracker Scanflow's containers and pods run: MLflow's server in one process.

Each test starts the real server on loopback with a sqlite store and logs to it with
MLflow's client, as tasks do.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from .conftest import free_port, tracking_server_command, wait_for_tracker


def _children(process: subprocess.Popen[bytes]) -> list[str]:
    """The ids of ``process``'s child processes (Linux)."""
    return Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()


def _log_a_run(uri: str) -> str:
    """Log a run with a parameter and a proxied artifact; return its id."""
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("checks"))
    client.log_param(run.info.run_id, "nodes", "10")
    client.log_text(run.info.run_id, "the model", "model/summary.txt")
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def _status_with_host(uri: str, host: str) -> int:
    request = urllib.request.Request(f"{uri}/api/2.0/mlflow/experiments/search?max_results=1")
    request.add_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _stop(server: subprocess.Popen[bytes]) -> int:
    server.send_signal(signal.SIGTERM)
    return server.wait(timeout=30)


@pytest.fixture
def server_folder(tmp_path: Path) -> Path:
    return tmp_path / "tracker"


def test_the_tracker_serves_runs_and_artifacts_from_one_process(server_folder: Path):
    server_folder.mkdir()
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(tracking_server_command(server_folder, port))  # noqa: S603
    try:
        wait_for_tracker(uri, server)
        assert _children(server) == [], "the server started a second process"
        run_id = _log_a_run(uri)
        stored = server_folder / "artifacts"
        assert [path.read_text() for path in stored.rglob("summary.txt")] == ["the model"]
        assert _status_with_host(uri, f"127.0.0.1:{port}") == 200
        assert _status_with_host(uri, "attacker.example") == 403  # allowed hosts enforced
    finally:
        returncode = _stop(server)
    assert returncode in (0, -signal.SIGTERM)  # uvicorn shuts down, then re-raises the signal

    # The store outlives the server: a new one serves the same runs.
    server = subprocess.Popen(tracking_server_command(server_folder, port))  # noqa: S603
    try:
        wait_for_tracker(uri, server)
        run = MlflowClient(uri).get_run(run_id)
        assert run.data.params == {"nodes": "10"} and run.info.status == "FINISHED"
    finally:
        _stop(server)


def test_an_mlflow_without_the_server_settings_runs_mlflow_server_instead(server_folder: Path):
    """If an MLflow version renames what its server reads, the tracker still serves."""
    server_folder.mkdir()
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    renamed = (
        "import sys, uvicorn, mlflow.server.constants as constants\n"
        "del constants.SERVE_ARTIFACTS_ENV_VAR\n"
        "from kedro_scanflow.tracking.tracking_server import main\n"
        "main(sys.argv[1:])\n"
    )
    command = [sys.executable, "-c", renamed, *tracking_server_command(server_folder, port)[3:]]
    venv_bin = str(Path(sys.executable).parent)
    environment = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}"}
    server = subprocess.Popen(  # noqa: S603
        command, env=environment, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for_tracker(uri, server)
        assert _children(server), "expected mlflow server's uvicorn process"
        _log_a_run(uri)
        assert list((server_folder / "artifacts").rglob("summary.txt"))
    finally:
        _stop(server)
        log = server.stderr.read()
    assert "MLflow's server settings changed" in log
    assert "running `mlflow server` instead" in log
