"""Logging special-node settings and results to the node's MLflow run, when there is one.

In ``kedro scanflow run`` every node has an active MLflow run (its task's); in a plain
``kedro run`` kedro-mlflow's hook provides one. Without any, nothing is logged: special
nodes never require a tracker to work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kedro_scanflow.tracking.run_tags import flatten_params

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pydantic import BaseModel


def active_run_id() -> str | None:
    """The active MLflow run, if any."""
    import mlflow  # noqa: PLC0415

    run = mlflow.active_run()
    return run.info.run_id if run is not None else None


def log_params_if_tracking(options: BaseModel, prefix: str) -> None:
    """Log a special node's options as parameters ``<prefix>.<field>``."""
    run_id = active_run_id()
    if run_id is None:
        return
    import mlflow  # noqa: PLC0415

    values = flatten_params({prefix: options.model_dump(exclude={"kind"})})
    existing = mlflow.get_run(run_id).data.params
    mlflow.log_params({k: v for k, v in values.items() if k not in existing})


def log_metrics_if_tracking(metrics: Mapping[str, Any]) -> None:
    """Log the finite numeric values of ``metrics``."""
    if active_run_id() is None:
        return
    import math  # noqa: PLC0415

    import mlflow  # noqa: PLC0415

    numbers = {
        k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)
    }
    if numbers:
        mlflow.log_metrics(numbers)
