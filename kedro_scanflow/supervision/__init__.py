"""Supervision: the special nodes (checkers, improvers, planner, tracker) of Scanflow,
added to the pipelines ``scanflow.yml`` names."""

from __future__ import annotations

from kedro_scanflow.supervision.checker_nodes import LabelsPending
from kedro_scanflow.supervision.special_nodes import SpecialNodes
from kedro_scanflow.supervision.supervised_pipelines import (
    SupervisionError,
    is_supervised,
    supervise_pipelines,
    supervise_project_pipelines,
)

__all__ = [
    "LabelsPending",
    "SpecialNodes",
    "SupervisionError",
    "is_supervised",
    "supervise_pipelines",
    "supervise_project_pipelines",
]
