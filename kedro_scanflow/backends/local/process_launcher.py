"""``ProcessLauncher``: one fresh interpreter per task (``python -m kedro_scanflow.tasks``).

The portable, cold way to start a task: each task pays for importing Kedro, MLflow and
the project. It is the local backend's fallback where ``fork`` is unavailable or
unwanted (``start_method: spawn``), and it runs exactly the command a container runs.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
from typing import TYPE_CHECKING

from kedro_scanflow.backends.base import TaskExit

if TYPE_CHECKING:
    from pathlib import Path


def task_command(spec_path: Path | str, project_path: Path | str) -> list[str]:
    """The command line that runs the task described by ``spec_path``."""
    return [
        sys.executable,
        "-m",
        "kedro_scanflow.tasks",
        "--spec",
        str(spec_path),
        "--project-path",
        str(project_path),
    ]


class ProcessLauncher:
    """Starts each task as a new interpreter in its own process group."""

    def __init__(
        self, project_path: Path, exits: queue.Queue[TaskExit], grace_period: float = 10.0
    ):
        self._project_path = project_path
        self._exits = exits
        self._grace_period = grace_period
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        """Nothing to prepare: every task starts from scratch."""

    def launch(self, slug: str, spec_path: Path, log_path: Path) -> int:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                task_command(spec_path, self._project_path),
                cwd=self._project_path,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self._processes[slug] = process
        threading.Thread(
            target=self._watch, args=(slug, process), name=f"scanflow-wait-{slug}", daemon=True
        ).start()
        return process.pid

    def _watch(self, slug: str, process: subprocess.Popen[bytes]) -> None:
        code = process.wait()
        reason = f"killed by signal {-code}" if code < 0 else None
        self._exits.put(TaskExit(slug, code, reason))

    def terminate(self, slug: str, force: bool = False) -> None:
        process = self._processes.get(slug)
        if process is None or process.poll() is not None:
            return
        if force:
            self._kill(process)
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        threading.Timer(self._grace_period, self._kill, args=(process,)).start()

    @staticmethod
    def _kill(process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def stop(self) -> None:
        for process in self._processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
