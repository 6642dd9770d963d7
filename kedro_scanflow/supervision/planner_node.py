"""Node function of the Planner special node: promote the best accepted candidate.

The planner registers the best candidate that beat the deployed model (q' > q) as a new
version in the MLflow Model Registry, with both scores as tags, and moves the alias (the
``champion``) to it. The previous champion stays a registered version, recorded in the
model's champion history, so ``kedro scanflow rollback`` can give the alias back.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from kedro_scanflow.config.supervision_config import PlannerOptions
from kedro_scanflow.improvers import Improvement
from kedro_scanflow.tasks.task_process import RUN_ID_VARIABLE
from kedro_scanflow.tracking.model_registry import ModelRegistry
from kedro_scanflow.tracking.run_tags import TAG_RUN_ID

if TYPE_CHECKING:
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)


def plan_promotion(*candidates: Improvement, options: PlannerOptions) -> tuple[dict[str, Any], Any]:
    """Promote the best accepted candidate, if any; report the decision and plot it (a
    matplotlib ``Figure``)."""
    accepted = [c for c in candidates if c.accepted]
    decision: dict[str, Any] = {
        "model_name": options.model_name,
        "alias": options.alias,
        "candidates": [c.as_dict() for c in candidates],
        "promoted": False,
    }
    if not accepted:
        decision["reason"] = "no candidate beat the deployed model on the holdout"
        logger.info("Planner: nothing promoted (%s)", decision["reason"])
        return decision, _plot(candidates, None)
    best = max(accepted, key=lambda c: c.candidate_score)
    version = _register(best, options)
    previous = ModelRegistry().promote(options.model_name, version, options.alias)
    decision.update(
        promoted=True,
        improver=best.improver,
        version=version,
        previous_version=previous,
        baseline_score=best.baseline_score,
        candidate_score=best.candidate_score,
        reason=best.reason,
    )
    logger.info(
        "Planner: %s version %s is the new @%s (%s: %.4f -> %.4f on the holdout)",
        options.model_name,
        version,
        options.alias,
        best.improver,
        best.baseline_score,
        best.candidate_score,
    )
    return decision, _plot(candidates, best)


def _register(best: Improvement, options: PlannerOptions) -> str:
    """Log the candidate to this node's MLflow run and register it as a new version.

    Inside a Scanflow run the version is tagged with the run id, and a repeated planner
    (``--resume`` after the task or the agent was killed past the registration) reuses
    the version registered before instead of adding a duplicate.
    """
    registry = ModelRegistry()
    scanflow_run = os.environ.get(RUN_ID_VARIABLE)
    if scanflow_run:
        earlier = registry.version_tagged(options.model_name, TAG_RUN_ID, scanflow_run)
        if earlier is not None:
            logger.info(
                "Planner: run %s registered %s version %s already; reusing it",
                scanflow_run,
                options.model_name,
                earlier.version,
            )
            return str(earlier.version)
    logged = best.log_model(name="model")
    version = registry.register(
        logged.model_uri,
        options.model_name,
        {
            "holdout_accuracy": best.candidate_score,
            "baseline_holdout_accuracy": best.baseline_score,
        },
        tags={TAG_RUN_ID: scanflow_run} if scanflow_run else None,
    )
    return str(version.version)


def _plot(candidates: tuple[Improvement, ...], best: Improvement | None) -> Figure:
    """Before/after holdout accuracy of every candidate; the promoted one highlighted."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(1.8 + 1.6 * len(candidates), 3.4))
    axes = figure.subplots()
    positions = np.arange(len(candidates))
    before = [c.baseline_score for c in candidates]
    after = [
        np.nan if c.candidate_score is None else c.candidate_score for c in candidates
    ]  # no candidate built
    axes.bar(positions - 0.18, before, width=0.36, label="deployed model", color="#9e9e9e")
    bars = axes.bar(positions + 0.18, after, width=0.36, label="candidate", color="#4c72b0")
    for bar, candidate in zip(bars, candidates, strict=True):
        if best is not None and candidate is best:
            bar.set_color("#2e7d32")
    axes.set_xticks(positions, [c.improver for c in candidates])
    axes.set_ylabel("holdout accuracy")
    axes.set_ylim(max(0.0, float(np.nanmin(before + after)) - 0.1), 1.0)
    axes.legend(loc="lower right", fontsize="small")
    axes.set_title("Promoted" if best is not None else "Not promoted")
    figure.tight_layout()
    return figure
