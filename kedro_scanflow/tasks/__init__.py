"""Task processes: the spec a task runs from, and the runner inside the task."""

from __future__ import annotations

from kedro_scanflow.tasks.task_spec import TaskSpec, TrackingSpec

__all__ = ["TaskSpec", "TrackingSpec"]
