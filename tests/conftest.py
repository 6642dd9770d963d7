"""Shared fixtures: real Kedro projects in temporary folders, run through the real CLI."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
KEDRO = str(Path(sys.executable).with_name("kedro"))


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI run: no telemetry, no inherited MLflow settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MLFLOW_", "KEDRO_ENV", "PYTEST_"))
    }
    env.update({"KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1", "COLUMNS": "200"})
    env.update(extra)
    return env


@dataclass
class CliResult:
    """What a ``kedro`` command printed and how it exited."""

    returncode: int
    output: str

    def __str__(self) -> str:
        return f"exit code {self.returncode}\n{self.output}"


@dataclass
class KedroProject:
    """A Kedro project on disk that tests run commands in."""

    path: Path

    def kedro(self, *args: str, timeout: float = 600, **env: str) -> CliResult:
        """Run ``kedro <args>`` in the project, like a user would."""
        completed = subprocess.run(
            [KEDRO, *args],
            cwd=self.path,
            env=cli_env(**env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        return CliResult(completed.returncode, completed.stdout)

    def start_kedro(self, *args: str, **env: str) -> subprocess.Popen[str]:
        """Start ``kedro <args>`` without waiting (for interrupt tests)."""
        return subprocess.Popen(
            [KEDRO, *args],
            cwd=self.path,
            env=cli_env(**env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.path / 'mlflow.db'}"

    def mlflow_client(self) -> Any:
        """A client of the project's tracking store and model registry (both named, so
        that no registry URI set elsewhere in the process is used instead)."""
        from mlflow.tracking import MlflowClient  # noqa: PLC0415

        return MlflowClient(self.tracking_uri, registry_uri=self.tracking_uri)

    def runs_root(self) -> Path:
        return self.path / "data" / "scanflow" / "runs"


def render_starter(workspace: Path) -> KedroProject:
    """``kedro new --starter=scanflow`` in ``workspace``, non-interactively, with the
    reference project's name."""
    completed = subprocess.run(
        [KEDRO, "new", "--starter=scanflow", "--name", "Scanflow MNIST", "--telemetry", "no"],
        cwd=workspace,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return KedroProject(workspace / "scanflow-mnist")


def run_pipelines(project: KedroProject, *pipelines: str, **env: str) -> KedroProject:
    """``kedro scanflow run --pipeline <p>`` for each pipeline in turn; each must succeed."""
    for pipeline in pipelines:
        result = project.kedro("scanflow", "run", "--pipeline", pipeline, **env)
        assert result.returncode == 0, result
    return project


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tracking_server_command(folder: Path, port: int) -> list[str]:
    """The tracker Scanflow runs (one process), on loopback, its store in ``folder``."""
    return [
        sys.executable,
        "-m",
        "kedro_scanflow.tracking.tracking_server",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{folder / 'server.db'}",
        "--artifacts-destination",
        str(folder / "artifacts"),
    ]


def wait_for_tracker(uri: str, server: subprocess.Popen[Any], timeout: float = 120) -> None:
    """Return once the MLflow server at ``uri`` answers; fail if ``server`` exits first."""
    import time  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{uri}/health", timeout=2).close()  # noqa: S310
            return
        except OSError:
            assert server.poll() is None, f"the MLflow server exited ({server.returncode})"
            assert time.monotonic() < deadline, "the MLflow server did not answer in time"
            time.sleep(0.1)


@pytest.fixture
def tracking_server(tmp_path: Path) -> Iterator[str]:
    """A real MLflow tracking server on loopback, as Scanflow's trackers run it (sqlite
    store, proxied artifacts, one process)."""
    port = free_port()
    server = subprocess.Popen(  # noqa: S603
        tracking_server_command(tmp_path, port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_for_tracker(uri, server)
        yield uri
    finally:
        server.terminate()
        server.wait(timeout=30)


_MLFLOW_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@pytest.fixture(autouse=True)
def _mlflow_uris_do_not_leak() -> Iterator[None]:
    """Give every test MLflow's URIs as they were before it.

    ``mlflow.set_tracking_uri`` and ``set_registry_uri`` set process-wide state and
    environment variables; a test that points them at its own database would otherwise
    send a later test's ``MlflowClient(uri)`` registry calls there."""
    before = {key: os.environ.get(key) for key in _MLFLOW_URI_VARIABLES}
    yield
    if "mlflow" not in sys.modules:
        return
    from mlflow.tracking._model_registry import utils as registry_utils  # noqa: PLC0415
    from mlflow.tracking._tracking_service import utils as tracking_utils  # noqa: PLC0415

    tracking_utils._tracking_uri = None
    registry_utils._registry_uri = None
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def toy_project(tmp_path: Path) -> KedroProject:
    """A fresh copy of the toy project: four tiny nodes, memory and file edges."""
    path = tmp_path / "toy_project"
    shutil.copytree(FIXTURES / "toy_project", path)
    return KedroProject(path)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under ``CI=true`` a skipped test means a component is missing: fail the run.

    Only tests marked ``kubernetes`` may skip (no cluster can run on the CI machine); they
    are reported as skipped, never as passed.
    """
    if os.environ.get("CI", "").lower() != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    skipped = [
        report
        for report in reporter.stats.get("skipped", [])
        if "kubernetes" not in getattr(report, "keywords", {})
    ]
    if skipped:
        reporter.write_line(
            f"CI: {len(skipped)} test(s) skipped because a component is missing; failing the run:",
            red=True,
        )
        for report in skipped:
            reporter.write_line(
                f"  {report.nodeid}: {report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr}"
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
