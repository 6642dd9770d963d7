"""``Scheduler``: starts each task as soon as its inputs are ready, on any backend.

The scheduler owns the run's task states and the task runs in MLflow; the backend only
starts and stops processes. When a task fails, nothing new starts, tasks already
running finish (their outputs are kept for ``--resume``), and every task that depended
on the failed one is recorded as cancelled. Ctrl-C stops running tasks gracefully.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Protocol

from kedro_scanflow.runs.run_directory import TaskFailure, TaskState, TaskStatus, utc_now
from kedro_scanflow.tracking.run_tags import TAG_BACKEND, TAG_RUN_ID

if TYPE_CHECKING:
    from collections.abc import Callable

    from kedro_scanflow.backends.base import AbstractBackend, TaskExit
    from kedro_scanflow.pipeline.task_plan import Task, TaskPlan
    from kedro_scanflow.runs.run_directory import RunDirectory
    from kedro_scanflow.tasks.task_spec import TaskSpec
    from kedro_scanflow.tracking.run_tags import WorkflowTracker

logger = logging.getLogger(__name__)

_POLL_S = 0.2


class SchedulerListener(Protocol):
    """Who wants to hear about task life events (progress display, log streaming)."""

    def task_started(self, task: Task, state: TaskState) -> None: ...

    def task_finished(self, task: Task, state: TaskState, failure: FailedTask | None) -> None: ...

    def tick(self, running: list[Task]) -> None: ...


@dataclass(frozen=True)
class FailedTask:
    """A task that failed, with what the user needs to understand why."""

    slug: str
    name: str
    node: str | None
    exit_code: int | None
    error: str
    log_tail: str

    def describe(self) -> str:
        """One paragraph naming the node, the error and the end of its log."""
        where = f"node '{self.node}'" if self.node else f"task '{self.name}'"
        code = f" (exit code {self.exit_code})" if self.exit_code is not None else ""
        text = f"{where} failed{code}: {self.error}"
        if self.log_tail:
            indented = "\n".join(f"    {line}" for line in self.log_tail.splitlines())
            text += f"\n  last lines of its log:\n{indented}"
        return text


@dataclass
class ScheduleOutcome:
    """How the tasks of one attempt ended."""

    succeeded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[FailedTask] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.cancelled and not self.interrupted


class Scheduler:
    """Runs a :class:`TaskPlan` on a backend, in parallel where the graph allows."""

    def __init__(
        self,
        plan: TaskPlan,
        backend: AbstractBackend,
        run_directory: RunDirectory,
        spec_for: Callable[[Task, str | None], TaskSpec],
        max_workers: int,
        tracker: WorkflowTracker | None = None,
        listener: SchedulerListener | None = None,
    ):
        """Create the scheduler.

        Args:
            plan: The tasks to run.
            backend: Starts and stops task processes.
            run_directory: Where states, specs and logs go.
            spec_for: Builds a task's spec given its MLflow run id.
            max_workers: At most this many tasks run at once.
            tracker: The MLflow side, if tracking is on.
            listener: Progress display and log streaming.
        """
        self._plan = plan
        self._backend = backend
        self._run = run_directory
        self._spec_for = spec_for
        self._max_workers = max_workers
        self._tracker = tracker
        self._listener = listener
        self._states: dict[str, TaskState] = {}
        self._running: dict[str, Task] = {}
        # MLflow writes about tasks that can wait until the tasks they unblock have
        # started: a finished task's books, a started task's handle tag.
        self._unrecorded: list[tuple[Task, Callable[[], object]]] = []

    def run(self, already_done: set[str] | None = None) -> ScheduleOutcome:
        """Run every task not in ``already_done``; return how they ended."""
        outcome = ScheduleOutcome(skipped=sorted(already_done or ()))
        done: set[str] = set(already_done or ())
        started: set[str] = set(done)
        try:
            self._schedule(done, started, outcome)
        finally:
            self._record_in_tracker()
        self._cancel_rest(done, outcome)
        return outcome

    def _schedule(self, done: set[str], started: set[str], outcome: ScheduleOutcome) -> None:
        """Launch ready tasks and await exits until nothing runs and nothing may start."""
        stopping = False
        while True:
            try:
                if not stopping:
                    for task in self._plan.ready(done, started):
                        if len(self._running) >= self._max_workers:
                            break
                        started.add(task.slug)
                        if not self._launch(task, outcome):
                            stopping = True
                            break
                    self._backend.anticipate(
                        [t for slug, t in self._plan.tasks.items() if slug not in started]
                    )
                self._record_in_tracker()
                if not self._running:
                    break
                self._await_exit(done, outcome)
                if outcome.failed:
                    stopping = True
            except KeyboardInterrupt:
                if outcome.interrupted:
                    self._stop_running(force=True)
                    continue
                logger.warning("Interrupted: stopping %d running task(s)...", len(self._running))
                outcome.interrupted = True
                stopping = True
                self._stop_running()

    def _launch(self, task: Task, outcome: ScheduleOutcome) -> bool:
        previous = self._run.task_state(task.slug)
        state = TaskState(
            slug=task.slug,
            name=task.name,
            nodes=list(task.nodes),
            status=TaskStatus.RUNNING,
            attempts=(previous.attempts if previous else 0) + 1,
            started_at=utc_now(),
        )
        self._states[task.slug] = state
        self._run.failure_path(task.slug).unlink(missing_ok=True)
        try:
            if self._tracker is not None:
                state.mlflow_run_id = self._tracker.start_task(
                    task, {TAG_RUN_ID: self._run.run_id, TAG_BACKEND: self._backend.name}
                )
            spec_path = self._run.spec_path(task.slug)
            self._spec_for(task, state.mlflow_run_id).save(spec_path)
            state.handle = self._backend.launch(task, spec_path)
            if self._tracker is not None and state.mlflow_run_id and self._backend.handle_tag:
                self._unrecorded.append(
                    (
                        task,
                        partial(
                            self._tracker.client.set_tag,
                            state.mlflow_run_id,
                            self._backend.handle_tag,
                            state.handle,
                        ),
                    )
                )
        except Exception as error:  # noqa: BLE001 - a task that cannot start is a failed task
            logger.error("Could not start task %s: %s", task.name, error)
            self._finish(
                task, state, exit_code=None, reason=f"could not start: {error}", outcome=outcome
            )
            return False
        self._run.save_task_state(state)
        self._running[task.slug] = task
        if self._listener is not None:
            self._listener.task_started(task, state)
        return True

    def _await_exit(self, done: set[str], outcome: ScheduleOutcome) -> None:
        exit_ = self._backend.wait(timeout=_POLL_S)
        if self._listener is not None:
            self._listener.tick(list(self._running.values()))
        if exit_ is None or exit_.slug not in self._running:
            return
        task = self._running.pop(exit_.slug)
        state = self._states[exit_.slug]
        self._finish(task, state, exit_.exit_code, exit_.reason, outcome, exit_)
        if exit_.succeeded:
            done.add(task.slug)

    def _finish(
        self,
        task: Task,
        state: TaskState,
        exit_code: int | None,
        reason: str | None,
        outcome: ScheduleOutcome,
        exit_: TaskExit | None = None,
    ) -> None:
        succeeded = exit_ is not None and exit_.succeeded
        state.status = TaskStatus.SUCCEEDED if succeeded else TaskStatus.FAILED
        state.exit_code = exit_code
        state.reason = reason
        state.ended_at = utc_now()
        state.duration_s = _seconds_between(state.started_at, state.ended_at)
        self._run.save_task_state(state)
        failure = None
        if succeeded:
            outcome.succeeded.append(task.slug)
        else:
            failure = self._describe_failure(task, state)
            outcome.failed.append(failure)
        if self._tracker is not None and state.mlflow_run_id is not None:
            self._unrecorded.append(
                (
                    task,
                    partial(
                        self._tracker.finish_task, task, state.mlflow_run_id, succeeded, reason
                    ),
                )
            )
        if self._listener is not None:
            self._listener.task_finished(task, state, failure)

    def _record_in_tracker(self) -> None:
        """Make the MLflow writes that waited for the next launches (see ``_unrecorded``)."""
        while self._unrecorded:
            task, write = self._unrecorded.pop(0)
            try:
                write()
            except Exception as error:  # noqa: BLE001 - tracking trouble must not lose the run
                logger.warning("Could not update the MLflow run of %s: %s", task.name, error)

    def _describe_failure(self, task: Task, state: TaskState) -> FailedTask:
        reported: TaskFailure | None = self._run.task_failure(task.slug)
        if reported is not None:
            error = f"{reported.error_type}: {reported.message}"
            node = reported.node
        else:
            error = state.reason or "the task process ended without reporting an error"
            node = task.nodes[0] if len(task.nodes) == 1 else None
        return FailedTask(
            slug=task.slug,
            name=task.name,
            node=node,
            exit_code=state.exit_code,
            error=error,
            log_tail=self._run.log_tail(task.slug),
        )

    def _stop_running(self, force: bool = False) -> None:
        for slug in list(self._running):
            self._backend.terminate(slug, force=force)

    def _cancel_rest(self, done: set[str], outcome: ScheduleOutcome) -> None:
        finished = done | {failure.slug for failure in outcome.failed}
        for slug, task in self._plan.tasks.items():
            if slug in finished:
                continue
            state = self._run.task_state(slug) or TaskState(
                slug=slug, name=task.name, nodes=list(task.nodes)
            )
            if state.status == TaskStatus.SUCCEEDED and slug in done:
                continue
            state.status = TaskStatus.CANCELLED
            state.ended_at = utc_now()
            self._run.save_task_state(state)
            outcome.cancelled.append(slug)


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)
