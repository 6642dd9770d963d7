"""The tracker edge: MLflow runs of workflows and tasks, and the query API."""

from __future__ import annotations

from kedro_scanflow.tracking.tracker_query import RunMetadata, TrackerQuery
from kedro_scanflow.tracking.tracking_uri import TrackingTarget, resolve_tracking_target
from kedro_scanflow.tracking.workflow_tracker import WorkflowTracker

__all__ = [
    "RunMetadata",
    "TrackerQuery",
    "TrackingTarget",
    "WorkflowTracker",
    "resolve_tracking_target",
]
