"""What a task reports outside its run directory, for orchestrators that cannot read it.

A task writes its failure into the run directory (``tasks/<slug>.failure.json``), on the
shared volume. An orchestrator outside a Kubernetes cluster cannot read that volume, but
it can read a pod's *termination message*: the task process writes the same failure
there (``--termination-log /dev/termination-log``), cut to the 4 KiB Kubernetes keeps.
An exported workflow, which has no orchestrator, orders its tasks with success markers
(``--success-marker``): files on the shared volume that downstream tasks wait for.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from kedro_scanflow.runs.run_directory import RunDirectory, TaskFailure

if TYPE_CHECKING:
    from pathlib import Path

    from kedro_scanflow.tasks.task_spec import TaskSpec

MAX_TERMINATION_MESSAGE = 4096
"""Bytes of a termination message Kubernetes keeps."""


def termination_message(failure: TaskFailure) -> str:
    """``failure`` as JSON that fits a termination message (the traceback's end, and the
    message, are shortened first)."""
    traceback = failure.traceback
    message = failure.message
    while True:
        text = TaskFailure(
            node=failure.node, error_type=failure.error_type, message=message, traceback=traceback
        ).model_dump_json()
        if len(text.encode("utf-8")) <= MAX_TERMINATION_MESSAGE:
            return text
        if traceback:
            traceback = traceback[len(traceback) // 2 :] if len(traceback) > 64 else ""
        else:
            message = message[: len(message) // 2] + "..."


def report_outcome(
    spec: TaskSpec,
    project_path: Path,
    exit_code: int,
    termination_log: Path | None = None,
    success_marker: Path | None = None,
) -> None:
    """After the task: its failure to ``termination_log``, or ``success_marker`` written."""
    if exit_code == 0:
        if success_marker is not None:
            marker = (
                success_marker if success_marker.is_absolute() else project_path / success_marker
            )
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(spec.slug + "\n", encoding="utf-8")
        return
    if termination_log is None:
        return
    failure = RunDirectory(project_path / spec.run_directory).task_failure(spec.slug)
    if failure is None:
        return
    try:
        with open(termination_log, "w", encoding="utf-8") as stream:
            stream.write(termination_message(failure))
    except OSError:  # not in a pod, or no such file: the failure.json is still there
        pass


def spec_from_environment(variable: str) -> TaskSpec:
    """The task spec an orchestrator put into the environment variable ``variable``.

    Raises:
        SystemExit: When the variable is not set.
    """
    from kedro_scanflow.tasks.task_spec import TaskSpec  # noqa: PLC0415

    text = os.environ.get(variable)
    if not text:
        raise SystemExit(f"The environment variable {variable} holds no task spec.")
    return TaskSpec.model_validate_json(text)
