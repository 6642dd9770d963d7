"""``RunWatcher``: follows the Jobs and pods of one run and reports every task's exit.

Two watches (Jobs and pods of the run, selected by label) feed one state per task:

- when a task's container runs, its log is streamed into the run directory;
- when its Job completes, the task exits 0; when the Job fails (``BackoffLimitExceeded``,
  ``DeadlineExceeded``), the task exits with its last pod's exit code and the most
  specific reason (``Evicted``, ``OOMKilled``...). The failure the task process wrote
  into its termination message is saved as the task's ``failure.json`` on the host,
  where the scheduler reads it (the claim is not visible from the host), and the pod's
  events are added to the task's log;
- a pod that cannot start (image pull error, missing Secret) and a Job that cannot make
  its pod (quota, admission) fail the task after ``image_pull_timeout`` seconds, since
  Kubernetes would wait forever;
- a Job deleted from outside fails its task.

Each watch lists first, then watches from the listed resource version, and starts over
when the watch ends or breaks, so that no event is lost for long.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kubernetes.watch import Watch
from pydantic import ValidationError

from kedro_scanflow.backends.base import TaskExit
from kedro_scanflow.backends.kubernetes.pod_status import (
    EXIT_NEVER_STARTED,
    cannot_start,
    has_started,
    job_outcome,
    pod_failure,
    unschedulable,
)
from kedro_scanflow.backends.kubernetes.task_job import TASK_CONTAINER
from kedro_scanflow.backends.kubernetes.task_log import TaskLog
from kedro_scanflow.runs.run_directory import TaskFailure
from kedro_scanflow.tasks.task_process import EXIT_TERMINATED

if TYPE_CHECKING:
    import queue
    from collections.abc import Callable

    from kubernetes.client import V1Job, V1Pod

    from kedro_scanflow.backends.kubernetes.cluster_api import ClusterApi
    from kedro_scanflow.runs.run_directory import RunDirectory

logger = logging.getLogger(__name__)

JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
"""Labels the Job controller puts on a Job's pods (the second one in every version)."""
_EVENTS_CHECK_S = 10.0
_RETRY_S = 1.0


@dataclass
class _WatchedTask:
    slug: str
    job: str
    log: TaskLog
    created: float
    pods: dict[str, V1Pod] = field(default_factory=dict)
    followers: dict[str, threading.Thread] = field(default_factory=dict)
    stalled_since: dict[str, tuple[float, str]] = field(default_factory=dict)
    notes: set[str] = field(default_factory=set)
    finished: bool = False
    terminating: bool = False
    events_checked: float = 0.0


class RunWatcher:
    """Watches a run's Jobs and pods; puts a :class:`TaskExit` on ``exits`` per task."""

    def __init__(
        self,
        cluster: ClusterApi,
        selector: str,
        run_directory: RunDirectory,
        exits: queue.Queue[TaskExit],
        start_timeout: float,
        watch_timeout: int = 60,
        log_wait: float = 15.0,
    ):
        """Create the watcher.

        Args:
            cluster: The namespace's API.
            selector: Label selector of the run's Jobs and pods.
            run_directory: Where task logs and reported failures go.
            exits: Where task exits are reported.
            start_timeout: Seconds a task may be unable to start before it fails.
            watch_timeout: Seconds of one watch request before it is renewed.
            log_wait: Seconds to wait, once a task ended, for the rest of its log.
        """
        self._cluster = cluster
        self._selector = selector
        self._run = run_directory
        self._exits = exits
        self._start_timeout = start_timeout
        self._watch_timeout = watch_timeout
        self._log_wait = log_wait
        self._tasks: dict[str, _WatchedTask] = {}
        self._lock = threading.RLock()
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._watches: list[Watch] = []

    def start(self) -> None:
        """Start following the run's Jobs and pods."""
        follows: list[tuple[str, Callable[..., object], Callable[[str, object], None]]] = [
            ("jobs", self._cluster.batch.list_namespaced_job, self._on_job),  # type: ignore[list-item]
            ("pods", self._cluster.core.list_namespaced_pod, self._on_pod),  # type: ignore[list-item]
        ]
        for kind, list_function, handle in follows:
            thread = threading.Thread(
                target=self._follow,
                args=(list_function, handle),
                name=f"scanflow-watch-{kind}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def expect(self, slug: str, job: str) -> None:
        """Watch for the Job ``job`` of task ``slug`` (call before creating it)."""
        with self._lock:
            self._tasks[job] = _WatchedTask(
                slug, job, TaskLog(self._run.log_path(slug)), time.monotonic()
            )

    def forget(self, job: str) -> None:
        """Stop watching a Job that could not be created."""
        with self._lock:
            self._tasks.pop(job, None)

    def mark_terminating(self, job: str) -> None:
        """The run is deleting this Job: its disappearance is a stop, not a failure."""
        with self._lock:
            task = self._tasks.get(job)
            if task is not None:
                task.terminating = True

    def check_stalled(self) -> None:
        """Fail the tasks that cannot start and would wait forever (called often)."""
        now = time.monotonic()
        with self._lock:
            waiting = [
                (task, list(task.stalled_since.items()), bool(task.pods))
                for task in self._tasks.values()
                if not task.finished and not task.terminating
            ]
        for task, stalled, has_pods in waiting:
            for pod, (since, problem) in stalled:
                if now - since >= self._start_timeout:
                    self._fail_stalled(task, pod, f"the pod never started: {problem}")
                    break
            else:
                if not has_pods and now - task.created >= self._start_timeout:
                    self._check_job_events(task, now)

    def stop(self) -> None:
        """Stop watching and wait briefly for the log streams to end."""
        self._stopped.set()
        for watch in list(self._watches):
            watch.stop()
        with self._lock:
            followers = [t for task in self._tasks.values() for t in task.followers.values()]
        for thread in followers:
            thread.join(timeout=2)

    def _follow(
        self, list_function: Callable[..., object], handle: Callable[[str, object], None]
    ) -> None:
        namespace = self._cluster.namespace
        while not self._stopped.is_set():
            try:
                listing = list_function(namespace, label_selector=self._selector)
                for item in listing.items:  # type: ignore[attr-defined]
                    handle("SYNC", item)
                watch = Watch()
                self._watches.append(watch)
                try:
                    for event in watch.stream(
                        list_function,
                        namespace,
                        label_selector=self._selector,
                        resource_version=listing.metadata.resource_version,  # type: ignore[attr-defined]
                        timeout_seconds=self._watch_timeout,
                    ):
                        if self._stopped.is_set():
                            break
                        if isinstance(event, dict) and event.get("type") != "BOOKMARK":
                            handle(event["type"], event["object"])
                finally:
                    self._watches.remove(watch)
            except Exception as error:  # noqa: BLE001 - a broken watch is renewed, never fatal
                if self._stopped.is_set():
                    return
                logger.debug("Watch interrupted (%s); renewing it.", error)
                self._stopped.wait(_RETRY_S)

    def _on_job(self, event_type: str, job: object) -> None:
        job_: V1Job = job  # type: ignore[assignment]
        with self._lock:
            task = self._tasks.get(job_.metadata.name)
            if task is None or task.finished:
                return
            if event_type == "DELETED":
                task.finished = True
                if task.terminating:
                    exit_ = TaskExit(task.slug, EXIT_TERMINATED, "stopped: its Job was deleted")
                else:
                    exit_ = TaskExit(
                        task.slug, EXIT_NEVER_STARTED, "its Job was deleted outside the run"
                    )
                self._report(task, lambda: exit_)
                return
            outcome = job_outcome(job_)
            if outcome is None:
                return
            task.finished = True
        if outcome:
            self._report(task, lambda: TaskExit(task.slug, 0))
        else:
            self._report(task, lambda: self._failed(task, job_))

    def _on_pod(self, event_type: str, pod: object) -> None:
        pod_: V1Pod = pod  # type: ignore[assignment]
        labels = pod_.metadata.labels or {}
        job = next((labels[key] for key in JOB_NAME_LABELS if key in labels), None)
        name = pod_.metadata.name
        with self._lock:
            task = self._tasks.get(job) if job else None
            if task is None or task.finished:
                return
            if event_type == "DELETED":
                task.stalled_since.pop(name, None)
                return
            if name not in task.pods and task.pods:
                task.log.note(f"retry {len(task.pods) + 1}: pod {name}")
            task.pods[name] = pod_
            if name not in task.followers and has_started(pod_, TASK_CONTAINER):
                follower = threading.Thread(
                    target=self._stream_log,
                    args=(task, name),
                    name=f"scanflow-log-{name}",
                    daemon=True,
                )
                task.followers[name] = follower
                follower.start()
            problem = cannot_start(pod_)
            if problem is None:
                task.stalled_since.pop(name, None)
            elif name not in task.stalled_since:
                task.stalled_since[name] = (time.monotonic(), problem)
                task.log.note(f"pod {name} cannot start: {problem}")
            waiting = unschedulable(pod_)
            if waiting and f"unschedulable:{name}" not in task.notes:
                task.notes.add(f"unschedulable:{name}")
                task.log.note(f"pod {name} waits for a cluster node: {waiting}")

    def _stream_log(self, task: _WatchedTask, pod: str) -> None:
        try:
            task.log.copy(self._cluster.pod_log(pod, TASK_CONTAINER))
        except Exception as error:  # noqa: BLE001 - a lost log must not stop the run
            logger.debug("Log stream of pod %s ended: %s", pod, error)

    def _report(self, task: _WatchedTask, exit_of: Callable[[], TaskExit]) -> None:
        """Wait for the rest of the task's log, then report its exit (off the watch thread)."""

        def report() -> None:
            deadline = time.monotonic() + self._log_wait
            for follower in list(task.followers.values()):
                follower.join(timeout=max(0.0, deadline - time.monotonic()))
            try:
                exit_ = exit_of()
            except Exception as error:  # noqa: BLE001 - the exit must be reported anyway
                exit_ = TaskExit(task.slug, EXIT_NEVER_STARTED, f"failed ({error})")
            self._exits.put(exit_)

        threading.Thread(target=report, name=f"scanflow-exit-{task.slug}", daemon=True).start()

    def _failed(self, task: _WatchedTask, job: V1Job) -> TaskExit:
        """The exit of a failed Job: its last pod's code and reason, its failure record."""
        pods = sorted(
            self._cluster.pods(f"{JOB_NAME_LABELS[1]}={task.job}") or task.pods.values(),
            key=lambda p: str(p.metadata.creation_timestamp or ""),
        )
        last = pods[-1] if pods else None
        failure = pod_failure(last, job, TASK_CONTAINER)
        if failure.termination_message:
            with contextlib.suppress(ValidationError, ValueError):
                self._run.save_task_failure(
                    task.slug, TaskFailure.model_validate_json(failure.termination_message)
                )
        self._note_events(task, [task.job, *(p.metadata.name for p in pods)])
        task.log.note(f"task failed: {failure.reason}")
        return TaskExit(task.slug, failure.exit_code, failure.reason)

    def _fail_stalled(self, task: _WatchedTask, pod: str, reason: str) -> None:
        with self._lock:
            if task.finished:
                return
            task.finished = True
        self._note_events(task, [pod])
        task.log.note(f"task failed: {reason}")
        with contextlib.suppress(Exception):
            self._cluster.delete_job(task.job, grace_seconds=0)
        self._exits.put(TaskExit(task.slug, EXIT_NEVER_STARTED, reason))

    def _check_job_events(self, task: _WatchedTask, now: float) -> None:
        """A Job without pods: fail it when Kubernetes refuses to create them."""
        if now - task.events_checked < _EVENTS_CHECK_S:
            return
        task.events_checked = now
        try:
            events = self._cluster.events(task.job)
        except Exception:  # noqa: BLE001 - try again at the next check
            return
        refused = [e for e in events if e.type == "Warning" and e.reason == "FailedCreate"]
        if refused:
            self._fail_stalled(task, task.job, f"its pod cannot be created: {refused[-1].message}")

    def _note_events(self, task: _WatchedTask, objects: list[str]) -> None:
        """Add the warnings Kubernetes recorded about ``objects`` to the task's log."""
        for name in objects:
            try:
                events = self._cluster.events(name)
            except Exception:  # noqa: BLE001 - events help, but are not essential
                continue
            for event in events:
                if event.type == "Warning":
                    task.log.note(f"event {event.reason} on {name}: {event.message}")
