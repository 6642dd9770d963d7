"""Workflow runs: the request, the run directory, the scheduler and the orchestration.

The orchestration (``run_workflow``) is imported on first use: task processes import
this package for the run directory and must not pull in the orchestrator.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from kedro_scanflow.runs.run_directory import RunDirectory, TaskState, TaskStatus
from kedro_scanflow.runs.run_request import RunRequest

_LAZY = {
    "WorkflowError": "kedro_scanflow.runs.workflow_run",
    "WorkflowResult": "kedro_scanflow.runs.workflow_run",
    "run_workflow": "kedro_scanflow.runs.workflow_run",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "RunDirectory",
    "RunRequest",
    "TaskState",
    "TaskStatus",
    "WorkflowError",
    "WorkflowResult",
    "run_workflow",
]
