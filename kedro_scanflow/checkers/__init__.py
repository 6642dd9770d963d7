"""Checker special nodes: the Drift Detector Checker, the Critical Point Selector, their
plots, and the Symbolic (rule-based) Checker.

Importing this package is cheap: TensorFlow, Keras, MLflow, SciPy and matplotlib load only
when a detector is built, trained, scored, saved or loaded, a selection is sampled, or a
plot is drawn.
"""

from __future__ import annotations

from kedro_scanflow.checkers.checker_plots import plot_critical_samples, plot_reconstruction_errors
from kedro_scanflow.checkers.critical_point_selector import (
    CriticalPoints,
    CriticalPointSelector,
    RandomPointSelector,
)
from kedro_scanflow.checkers.drift_detector import DriftDetectorChecker
from kedro_scanflow.checkers.symbolic_checker import (
    SymbolicChecker,
    SymbolicCheckerConfig,
    SymbolicRuleError,
)

__all__ = [
    "CriticalPointSelector",
    "CriticalPoints",
    "DriftDetectorChecker",
    "RandomPointSelector",
    "SymbolicChecker",
    "SymbolicCheckerConfig",
    "SymbolicRuleError",
    "plot_critical_samples",
    "plot_reconstruction_errors",
]
