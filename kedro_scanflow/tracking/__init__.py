"""The tracker edge: MLflow runs of workflows and tasks, and the query API.

Names load on first use: a tracker container runs
:mod:`kedro_scanflow.tracking.tracking_server`, which must import MLflow its own way.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kedro_scanflow.tracking.tracker_query import RunMetadata, TrackerQuery
    from kedro_scanflow.tracking.tracking_uri import TrackingTarget, resolve_tracking_target
    from kedro_scanflow.tracking.workflow_tracker import WorkflowTracker

_MODULES = {
    "RunMetadata": "tracker_query",
    "TrackerQuery": "tracker_query",
    "TrackingTarget": "tracking_uri",
    "WorkflowTracker": "workflow_tracker",
    "resolve_tracking_target": "tracking_uri",
}

__all__ = [
    "RunMetadata",
    "TrackerQuery",
    "TrackingTarget",
    "WorkflowTracker",
    "resolve_tracking_target",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
