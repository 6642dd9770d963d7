"""``LocalBackend``: every task in its own operating-system process on this machine.

The default backend. Tasks are forked from a warm :class:`ForkServer` (POSIX), or
started as fresh interpreters with ``start_method: spawn``. Data between tasks goes
through the run directory on the local disk; MLflow runs go to the project's tracker.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, ClassVar

from kedro_scanflow.backends.base import AbstractBackend, BackendContext
from kedro_scanflow.backends.local.fork_server import ForkServer
from kedro_scanflow.backends.local.process_launcher import ProcessLauncher

if TYPE_CHECKING:
    from pathlib import Path

    from kedro_scanflow.pipeline.task_plan import Task


class LocalBackend(AbstractBackend):
    """Runs each task as a local process."""

    name: ClassVar[str] = "local"

    def __init__(self, context: BackendContext):
        """Create the backend for the run described by ``context``."""
        super().__init__(context)
        options = context.config.backends.local
        method = options.start_method or ("fork" if _can_fork() else "spawn")
        self.start_method = method
        if method == "fork":
            self._launcher: ForkServer | ProcessLauncher = ForkServer(
                context.project_path,
                self.exits,
                preload=options.preload,
                tracking_uri=context.tracking.uri,
                grace_period=options.terminate_grace_period,
                log_path=context.run_directory.logs / "_fork-server.log",
            )
        else:
            self._launcher = ProcessLauncher(
                context.project_path, self.exits, grace_period=options.terminate_grace_period
            )

    def start(self) -> None:
        self._launcher.start()

    def launch(self, task: Task, spec_path: Path) -> str:
        log_path = self.context.run_directory.log_path(task.slug)
        return str(self._launcher.launch(task.slug, spec_path, log_path))

    def terminate(self, slug: str, force: bool = False) -> None:
        self._launcher.terminate(slug, force=force)

    def stop(self) -> None:
        self._launcher.stop()


def _can_fork() -> bool:
    """Fork only where it is safe by default: Linux (macOS frameworks are not fork-safe)."""
    return hasattr(os, "fork") and sys.platform.startswith("linux")
