"""``AbstractBackend``: how a workflow's tasks are started, watched and stopped.

The scheduler (``kedro_scanflow.runs.scheduler``) decides *which* task starts *when*,
writes its spec and tracks its state; a backend only knows *how* to start a task from
its spec file, how to stop it, and reports each task's exit on :attr:`exits`. A new
backend states just that, the way a Kedro runner states only its executor.
"""

from __future__ import annotations

import queue
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from pathlib import Path

    from kedro_scanflow.config import ScanflowConfig
    from kedro_scanflow.pipeline.task_plan import Task
    from kedro_scanflow.runs.run_directory import RunDirectory
    from kedro_scanflow.tracking.tracking_uri import TrackingTarget


class BackendError(RuntimeError):
    """A backend cannot prepare or run the workflow for a reason the user can fix (engine
    down, image missing, tracker not starting); the CLI shows the message plainly."""


@dataclass(frozen=True)
class TaskExit:
    """A task that stopped running.

    Attributes:
        slug: The task.
        exit_code: The process exit code; negative when killed by that signal.
        reason: Why, when the backend knows more than the code (``OOMKilled``, ``Evicted``).
    """

    slug: str
    exit_code: int
    reason: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class BackendContext:
    """What every backend gets to know about the run it serves."""

    project_path: Path
    run_directory: RunDirectory
    config: ScanflowConfig
    env: str | None
    package_name: str
    tracking: TrackingTarget
    keep: bool = False
    """Keep containers, networks and pods after the run (``--keep``), to inspect them."""
    conf_source: str | None = None
    """``--conf-source``: the configuration the run reads instead of the project's
    ``conf/`` (an absolute path, or a remote URL)."""
    mlflow_on_demand: bool = False
    """Whether task processes may leave MLflow unloaded until their task uses it: the
    project does not use kedro-mlflow and supervises nothing
    (:func:`~kedro_scanflow.tasks.mlflow_on_demand.tasks_may_defer_mlflow`)."""


class AbstractBackend(ABC):
    """Starts tasks from their spec files and reports their exits."""

    name: ClassVar[str]
    handle_tag: ClassVar[str | None] = None
    """MLflow tag under which the orchestrator records a task's handle (container id,
    pod name); ``None`` when the task process records its identity itself."""
    shares_host_volume: ClassVar[bool] = True
    """Whether the workflow's shared volume (catalog files, the run's persisted
    intermediates) is this machine's project folder. When it is not (a cluster's volume
    claim), the orchestration skips host-side checks of inputs and persisted outputs."""

    def __init__(self, context: BackendContext):
        self.context = context
        self.exits: queue.Queue[TaskExit] = queue.Queue()

    def start(self) -> None:  # noqa: B027 - optional: most backends need no preparation
        """Prepare the backend before the first task (networks, servers, fork server).

        Called before the orchestrator starts any thread, so a backend may fork here.
        """

    def tracking_uri(self, host_uri: str) -> str:
        """The tracking URI that tasks of this backend use to reach the tracker."""
        return host_uri

    def tracker_target(self, target: TrackingTarget) -> TrackingTarget:
        """The tracker the orchestrator logs to, once :meth:`start` has run (a backend may
        bring its own tracking server)."""
        return target

    def tracker_note(self) -> str | None:
        """Where to look at this backend's runs afterwards, when not at the tracking URI."""
        return None

    def task_conf_source(self, conf_source: str | None) -> str | None:
        """``--conf-source`` as this backend's task processes see it (by default the
        same path: they share this machine's files)."""
        return conf_source

    def anticipate(self, upcoming: list[Task]) -> None:  # noqa: B027 - optional
        """Tasks that will be launched later, soonest first. A backend may prepare them
        (e.g. start their containers ahead, warm), never run them."""

    @abstractmethod
    def launch(self, task: Task, spec_path: Path) -> str:
        """Start ``task`` from its spec file; return a handle (pid, container id...)."""

    @abstractmethod
    def terminate(self, slug: str, force: bool = False) -> None:
        """Stop the running task ``slug``: gracefully (then forcibly after a grace period),
        or at once when ``force``. Its exit still arrives on :attr:`exits`."""

    def wait(self, timeout: float) -> TaskExit | None:
        """The next task exit, or ``None`` after ``timeout`` seconds."""
        try:
            return self.exits.get(timeout=timeout)
        except queue.Empty:
            return None

    def stop(self) -> None:  # noqa: B027 - optional: nothing to release by default
        """Release everything the backend created for the run (always called)."""
