"""Reading Jobs and pods: finished or not, why they failed, what keeps them from starting.

Pure functions of the client's typed objects, so that the rules can be read in one place
and checked against recorded API responses:

- a Job is finished when it has a ``Complete`` (or ``SuccessCriteriaMet``) or a
  ``Failed`` condition; ``Failed`` carries ``BackoffLimitExceeded`` or
  ``DeadlineExceeded``;
- a pod says more: ``Evicted`` (``status.reason``), ``OOMKilled`` (the container's
  terminated reason), its exit code, and the termination message the task process wrote;
- a pod that cannot start (``ErrImagePull``, ``ImagePullBackOff``, a Secret it references
  missing...) never fails by itself: the backend fails its task after a grace period.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubernetes.client import V1ContainerStateTerminated, V1Job, V1Pod

CANNOT_START = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)
"""Waiting reasons of a container that will not start without someone fixing something."""

EXIT_NEVER_STARTED = -1
"""Exit code reported for a task whose container never ran (or whose Job vanished)."""

_EXPLAINED = {
    "OOMKilled": "the pod ran out of memory (raise its memory limit in scanflow.yml)",
    "Evicted": "the cluster node evicted the pod",
    "DeadlineExceeded": "the task ran longer than its timeout (nodes: timeout in scanflow.yml)",
    "BackoffLimitExceeded": "the pod failed and no retry is left (nodes: retries in scanflow.yml)",
    "ErrImagePull": "the image cannot be pulled",
    "ImagePullBackOff": "the image cannot be pulled",
    "InvalidImageName": "the image name is invalid",
    "CreateContainerConfigError": "the container cannot be configured (a missing Secret?)",
}


@dataclass(frozen=True)
class PodFailure:
    """Why a task's pod failed, as far as Kubernetes knows."""

    exit_code: int
    reason: str
    termination_message: str | None = None


def job_outcome(job: V1Job) -> bool | None:
    """``True`` when the Job completed, ``False`` when it failed, ``None`` while running."""
    for condition in (job.status.conditions if job.status else None) or []:
        if condition.status != "True":
            continue
        if condition.type in ("Complete", "SuccessCriteriaMet"):
            return True
        if condition.type in ("Failed", "FailureTarget"):
            return False
    return None


def job_failure(job: V1Job) -> str | None:
    """``"DeadlineExceeded: ..."`` from the Job's failure condition."""
    for condition in (job.status.conditions if job.status else None) or []:
        if condition.type in ("Failed", "FailureTarget") and condition.status == "True":
            return explain(condition.reason or "Failed", condition.message)
    return None


def explain(reason: str, message: str | None = None) -> str:
    """``reason``, what it means when that helps, and Kubernetes' own message."""
    text = reason
    if reason in _EXPLAINED:
        text += f": {_EXPLAINED[reason]}"
    if message:
        text += f" ({message.strip()})"
    return text


def task_terminated(pod: V1Pod, container: str) -> V1ContainerStateTerminated | None:
    """How the task container of ``pod`` ended, if it did."""
    for status in (pod.status.container_statuses if pod.status else None) or []:
        if status.name == container and status.state and status.state.terminated:
            return status.state.terminated
    return None


def has_started(pod: V1Pod, container: str) -> bool:
    """Whether the task container ran (so that it has a log to read)."""
    for status in (pod.status.container_statuses if pod.status else None) or []:
        if status.name == container and status.state:
            if status.state.running or status.state.terminated:
                return True
    return False


def cannot_start(pod: V1Pod) -> str | None:
    """``"ImagePullBackOff: ..."`` when a container of ``pod`` waits for something that
    will not happen by itself."""
    statuses = []
    if pod.status is not None:
        statuses = (pod.status.init_container_statuses or []) + (
            pod.status.container_statuses or []
        )
    for status in statuses:
        waiting = status.state.waiting if status.state else None
        if waiting is not None and waiting.reason in CANNOT_START:
            return explain(waiting.reason, waiting.message)
    return None


def unschedulable(pod: V1Pod) -> str | None:
    """The scheduler's message when no cluster node fits the pod (yet)."""
    for condition in (pod.status.conditions if pod.status else None) or []:
        if condition.type == "PodScheduled" and condition.status == "False":
            return condition.message or condition.reason
    return None


def pod_failure(pod: V1Pod | None, job: V1Job | None, container: str) -> PodFailure:
    """Exit code and reason of a failed task from its last pod and its Job.

    The most specific reason wins: the pod's (``Evicted``), then the container's
    (``OOMKilled``), then the Job's (``DeadlineExceeded``, ``BackoffLimitExceeded``).
    """
    job_reason = job_failure(job) if job is not None else None
    if pod is None:
        return PodFailure(EXIT_NEVER_STARTED, job_reason or "the task's pod never ran")
    terminated = task_terminated(pod, container)
    exit_code = terminated.exit_code if terminated is not None else EXIT_NEVER_STARTED
    reason = None
    if pod.status is not None and pod.status.reason:
        reason = explain(pod.status.reason, pod.status.message)
    elif terminated is not None and terminated.reason not in (None, "Error", "Completed"):
        reason = explain(terminated.reason, None)
    if reason is None:
        reason = job_reason or (
            f"exit code {exit_code}" if terminated is not None else "the task's pod never ran"
        )
    elif job_reason and not job_reason.startswith("BackoffLimitExceeded"):
        reason = f"{reason}; {job_reason}"
    message = terminated.message if terminated is not None else None
    return PodFailure(exit_code, reason, message or None)
