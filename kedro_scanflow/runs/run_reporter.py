"""``RunReporter``: what the user sees while a workflow runs.

A Rich progress bar of finished tasks, and every task's log lines streamed live with
the task name as a coloured prefix (as ``docker compose up`` does), read from the
per-task log files in the run directory, so that what is shown is also what is kept.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

if TYPE_CHECKING:
    from types import TracebackType

    from rich.console import Console

    from kedro_scanflow.pipeline.task_plan import Task, TaskPlan
    from kedro_scanflow.runs.run_directory import RunDirectory, TaskState
    from kedro_scanflow.runs.scheduler import FailedTask

_PALETTE = ("cyan", "magenta", "green", "yellow", "blue", "bright_cyan", "bright_magenta")


class _LogFollower:
    """Reads the lines a task appends to its log file since the last read."""

    def __init__(self, path: object):
        self._path = path
        self._offset = 0
        self._partial = b""

    def read_lines(self, final: bool = False) -> list[str]:
        try:
            with open(self._path, "rb") as stream:  # type: ignore[call-overload]
                stream.seek(self._offset)
                chunk = stream.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        if final and self._partial:
            lines.append(self._partial)
            self._partial = b""
        return [line.decode("utf-8", errors="replace").rstrip("\r") for line in lines]


class RunReporter:
    """Progress bar and prefixed live logs of a workflow run."""

    def __init__(
        self,
        console: Console,
        plan: TaskPlan,
        run_directory: RunDirectory,
        stream_logs: bool = True,
        already_done: int = 0,
    ):
        self._console = console
        self._run = run_directory
        self._stream_logs = stream_logs
        self._followers: dict[str, _LogFollower] = {}
        colours = itertools.cycle(_PALETTE)
        width = max(len(task.name) for task in plan.tasks.values())
        self._prefix = {
            slug: (f"{task.name[:40]:<{min(width, 40)}} | ", next(colours))
            for slug, task in plan.tasks.items()
        }
        self._progress = Progress(
            TextColumn("[bold]scanflow[/bold] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._bar = self._progress.add_task("tasks", total=len(plan.tasks), completed=already_done)

    def __enter__(self) -> RunReporter:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for slug in list(self._followers):
            self._flush(slug, final=True)
        self._progress.stop()

    def task_started(self, task: Task, state: TaskState) -> None:
        self._followers[task.slug] = _LogFollower(self._run.log_path(task.slug))
        self._say(task.slug, f"started (attempt {state.attempts}, {state.handle})", "dim")

    def task_finished(self, task: Task, state: TaskState, failure: FailedTask | None) -> None:
        self._flush(task.slug, final=True)
        self._followers.pop(task.slug, None)
        self._progress.advance(self._bar)
        seconds = f"{state.duration_s:.1f} s" if state.duration_s is not None else ""
        if failure is None:
            self._say(task.slug, f"completed in {seconds}", "bold green")
        else:
            self._say(task.slug, f"FAILED after {seconds}: {failure.error}", "bold red")

    def tick(self, running: list[Task]) -> None:
        names = ", ".join(task.name for task in running[:3])
        more = f" +{len(running) - 3}" if len(running) > 3 else ""
        self._progress.update(self._bar, description=f"running: {names}{more}" if running else "")
        for task in running:
            self._flush(task.slug)

    def _flush(self, slug: str, final: bool = False) -> None:
        follower = self._followers.get(slug)
        if follower is None or not self._stream_logs:
            return
        for line in follower.read_lines(final=final):
            self._say(slug, line)

    def _say(self, slug: str, message: str, style: str = "") -> None:
        prefix, colour = self._prefix[slug]
        self._console.print(Text.assemble((prefix, colour), (message, style)), soft_wrap=True)
