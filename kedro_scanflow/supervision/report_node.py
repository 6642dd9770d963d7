"""Node function of the Tracker special node: one report of what supervision found and did.

It gathers the checkers' statuses, the improvers' candidates and the planner's decision
into a JSON report, and logs the headline numbers (critical points, labels, accuracies
before and after, promoted or not) to its MLflow run: the tracker edge of the
supervision loop, queryable later with ``TrackerQuery``.
"""

from __future__ import annotations

from typing import Any

from kedro_scanflow.supervision.mlflow_logging import log_metrics_if_tracking


def supervision_report(*results: Any, names: list[str]) -> dict[str, Any]:
    """Summarise the special nodes' outputs, named by their dataset names."""
    report: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    for name, value in zip(names, results, strict=True):
        key = name.rsplit(".", 1)[-1]
        summary = _summary(value)
        report[key] = summary
        for field, number in summary.items():
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                metrics[f"{key}.{field}"] = number
            elif isinstance(number, bool):
                metrics[f"{key}.{field}"] = float(number)
    log_metrics_if_tracking(metrics)
    return report


def _summary(value: Any) -> dict[str, Any]:
    """A JSON-friendly summary of a special node's output."""
    if isinstance(value, dict):
        return {
            k: v for k, v in value.items() if isinstance(v, (str, int, float, bool, type(None)))
        }
    as_dict = getattr(value, "as_dict", None)
    if callable(as_dict):
        summary = as_dict()
        return {
            k: v for k, v in summary.items() if isinstance(v, (str, int, float, bool, type(None)))
        }
    return {"type": type(value).__name__}
