"""``ContainerPlan``: how one task runs as a container, before any engine is involved.

The Docker backend turns a plan into ``docker run`` arguments; the compose export turns
the same plan into a compose service. Keeping one description means the exported file
runs exactly what the backend runs.

Every task container runs as the image's unprivileged user, with all capabilities
dropped, no privilege escalation, a read-only root file system (``/tmp`` is a tmpfs) and
no Docker socket. It mounts the project's ``data/`` (the shared volume, read-write) and
``conf/`` (read-only: the current configuration, credentials included, never baked into
the image).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from kedro_scanflow.images.project_image import CONTAINER_PROJECT, CONTAINER_TRACKER
from kedro_scanflow.runs.run_request import is_local_conf_source
from kedro_scanflow.tracking.tracking_server import ServerOptions, server_command

if TYPE_CHECKING:
    from kedro_scanflow.config.node_settings import TaskSettings

TASK_HOME = "/tmp/home"
TRACKER_CLIENT_SETTINGS = {
    # The tracker is a container on this host: fail in seconds, not after MLflow's
    # default backoff of several minutes, when it is gone.
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
    # Run links would point at a tracker that is gone after the run, and cost a request.
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    # MLflow's usage telemetry, like Kedro's, stays off in containers: one report per
    # task would be noise, and a task's private network has no way out anyway.
    "MLFLOW_DISABLE_TELEMETRY": "true",
}
# Relative CPU weights (Docker's ``cpu_shares``; 1024 is the engine's default). On a busy
# machine the tracker and running tasks are on the critical path of a workflow, while a
# container warming up for a task that is not due yet is not: it gets the CPU they leave.
# Four containers warm up while the tracker starts: at 128 each they leave it 89% of a
# contended core (80% at 256), and runs start sooner (docs/benchmarks.md).
TRACKER_CPU_SHARES = 4096
RUNNING_TASK_CPU_SHARES = 1024
WAITING_TASK_CPU_SHARES = 128
TRACKER_SERVER_SETTINGS = {
    # MLflow 3 servers start a job runner with a pool of Huey consumers, each importing
    # MLflow, for GenAI jobs (scorers, trace roll-ups) that Scanflow never submits: about
    # 20 CPU-seconds and 1.3 GiB of memory per tracker, taken from the tasks.
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}


@dataclass(frozen=True)
class Mount:
    """A host folder (a ``Path``) or a named Docker volume (a ``str``) in a container."""

    source: Path | str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class ContainerPlan:
    """Image, command, mounts, environment, limits and labels of one container."""

    name: str
    image: str
    command: list[str]
    user: str
    labels: dict[str, str]
    mounts: list[Mount] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    cpus: float | None = None
    memory_bytes: int | None = None
    gpus: int = 0
    cpu_shares: int | None = None
    """Relative CPU weight against other containers (``None``: the engine's default)."""
    working_dir: str = CONTAINER_PROJECT
    read_only: bool = True
    tmpfs: tuple[str, ...] = ("/tmp",)


def task_command(
    spec_path: PurePosixPath,
    preload: list[str],
    await_spec: bool,
    success_marker: PurePosixPath | None = None,
    mlflow_on_demand: bool = False,
) -> list[str]:
    """The command of a task container (the same module a spawned local process runs);
    with ``success_marker``, the file it writes once its task succeeded; with
    ``mlflow_on_demand``, it loads MLflow only if its task uses it."""
    command = [
        "python",
        "-m",
        "kedro_scanflow.tasks",
        "--spec",
        str(spec_path),
        "--project-path",
        CONTAINER_PROJECT,
    ]
    if await_spec:
        command.append("--await-spec")
    if preload:
        command += ["--preload", ",".join(preload)]
    if success_marker is not None:
        command += ["--success-marker", str(success_marker)]
    if mlflow_on_demand:
        command.append("--mlflow-on-demand")
    return command


def project_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of containers that run the project's code (tasks, services)."""
    return {
        "HOME": TASK_HOME,
        "PYTHONUNBUFFERED": "1",
        "KEDRO_DISABLE_TELEMETRY": "true",
        "COLUMNS": "160",  # Rich wraps log lines at 80 columns when there is no terminal
        "GIT_PYTHON_REFRESH": "quiet",  # images have no git; MLflow would warn every task
        **TRACKER_CLIENT_SETTINGS,
        **(extra or {}),
    }


def shared_mounts(
    project_path: Path, run_directory: Path, conf_source: str | None = None
) -> list[Mount]:
    """The project's data (the shared volume) and configuration, plus the run directory
    when it lives outside ``data/``.

    Args:
        project_path: The project on this machine.
        run_directory: The run directory on this machine.
        conf_source: ``--conf-source``: a folder mounted as the containers' ``conf/``
            instead of the project's (see :func:`check_conf_source`).
    """
    conf = Path(conf_source) if is_local_conf_source(conf_source) else project_path / "conf"
    mounts = [
        Mount(project_path / "data", f"{CONTAINER_PROJECT}/data"),
        Mount(conf, f"{CONTAINER_PROJECT}/conf", read_only=True),
    ]
    try:
        run_directory.relative_to(project_path / "data")
    except ValueError:
        relative = run_directory.relative_to(project_path)
        mounts.append(Mount(run_directory, f"{CONTAINER_PROJECT}/{relative.as_posix()}"))
    return mounts


class ConfSourceError(ValueError):
    """A ``--conf-source`` that the tasks' containers or pods cannot be given."""


def check_conf_source(conf_source: str | None, where: str) -> None:
    """Refuse a ``--conf-source`` that containers cannot be given.

    Containers read the configuration from their ``conf/`` folder, which is mounted from
    the project, or from the ``--conf-source`` folder when there is one. An archive
    (``.zip``, ``.tar.gz``) is a file, not a folder to mount there.

    Raises:
        ConfSourceError: When ``conf_source`` is a local file; the message names it and
            ``where`` (e.g. "the docker backend").
    """
    if is_local_conf_source(conf_source) and not Path(conf_source).is_dir():  # type: ignore[arg-type]
        raise ConfSourceError(
            f"--conf-source {conf_source} is not a folder: {where} mounts the configuration "
            "folder as the containers' conf/. Extract the archive and pass its folder."
        )


def check_pod_conf_source(conf_source: str | None, where: str) -> None:
    """Refuse any ``--conf-source`` for pods: they read the ``conf/`` built into the
    image (``kedro scanflow build``) and ``conf/local`` from a Secret, never files of
    this machine.

    Raises:
        ConfSourceError: When ``conf_source`` is given.
    """
    if conf_source is not None:
        raise ConfSourceError(
            f"--conf-source {conf_source} cannot reach {where}: pods read the conf/ built "
            "into the image and conf/local from a Secret. Build the image from that "
            "configuration (kedro scanflow build) and run without --conf-source."
        )


def container_conf_source(conf_source: str | None) -> str | None:
    """``--conf-source`` as a task container sees it: a local folder is mounted as its
    ``conf/`` (Kedro's default, so ``None``); a remote URL is passed on unchanged."""
    return None if conf_source is None or is_local_conf_source(conf_source) else conf_source


def task_container_plan(
    *,
    name: str,
    image: str,
    user: str,
    labels: dict[str, str],
    spec_path: PurePosixPath,
    mounts: list[Mount],
    settings: TaskSettings,
    preload: list[str],
    await_spec: bool,
    environment: dict[str, str] | None = None,
    success_marker: PurePosixPath | None = None,
    mlflow_on_demand: bool = False,
) -> ContainerPlan:
    """The container of one task; with ``await_spec`` it starts at a low CPU weight
    (:data:`WAITING_TASK_CPU_SHARES`) that the backend raises when the task is due."""
    return ContainerPlan(
        name=name,
        image=image,
        command=task_command(spec_path, preload, await_spec, success_marker, mlflow_on_demand),
        user=user,
        labels=labels,
        mounts=mounts,
        environment=project_environment(environment),
        cpus=settings.resources.cpus,
        memory_bytes=settings.resources.memory_bytes,
        gpus=settings.resources.gpus,
        cpu_shares=WAITING_TASK_CPU_SHARES if await_spec else None,
    )


def tracker_container_plan(
    *, name: str, image: str, user: str, labels: dict[str, str], port: int, volume: str
) -> ContainerPlan:
    """The MLflow tracking server: sqlite store and proxied artifacts on ``volume``, served
    in one process (:mod:`kedro_scanflow.tracking.tracking_server`)."""
    allowed_hosts = ",".join(
        ["tracker", "tracker:*", "localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*"]
    )
    options = ServerOptions(
        backend_store_uri=f"sqlite:///{CONTAINER_TRACKER}/mlflow.db",
        artifacts_destination=f"{CONTAINER_TRACKER}/artifacts",
        host="0.0.0.0",  # noqa: S104 - inside the container; published on 127.0.0.1 only
        port=port,
        allowed_hosts=allowed_hosts,
    )
    return ContainerPlan(
        name=name,
        image=image,
        command=server_command(options),
        user=user,
        labels=labels,
        mounts=[Mount(volume, CONTAINER_TRACKER)],
        environment={"HOME": TASK_HOME, "PYTHONUNBUFFERED": "1", **TRACKER_SERVER_SETTINGS},
        cpu_shares=TRACKER_CPU_SHARES,
        read_only=True,
    )
