"""The Scanflow paper's debugging experiment: scenarios, label budgets, scores and plots.

A deployed classifier meets corrupted data (MNIST-C). Each scenario spends a label
budget differently, with the special nodes of :mod:`kedro_scanflow.checkers`,
:mod:`kedro_scanflow.human` and :mod:`kedro_scanflow.improvers`: Baseline (nothing),
Naive (self-labelled critical points), DDC+HLC (critical points labelled by a human),
RND+HLC (random points labelled by a human) and MDWI+HFC (a denoiser learnt from the
clean training images a human matched with the critical points). The reference project's
``debugging`` pipeline runs them as one Kedro node per seed, corruption and scenario.

Importing this package is cheap: TensorFlow, pandas and matplotlib load only when a
scenario runs, a table is built or a figure is drawn.
"""

from __future__ import annotations

from kedro_scanflow.debugging.debugging_grid import (
    GRID_KEY,
    DebuggingGrid,
    DebuggingGridError,
    check_run_grid,
    load_debugging_grid,
)
from kedro_scanflow.debugging.debugging_settings import SETTINGS_KEY, DebuggingSettings
from kedro_scanflow.debugging.new_distribution import (
    MnistCPositions,
    NewDistribution,
    check_budgets,
    corrupt_new_distribution,
    labelled_image_set,
    mnist_c_positions,
    sample_new_distribution,
    split_clean_digits,
    stratified_parts,
)
from kedro_scanflow.debugging.results_plots import (
    plot_accuracy_by_corruption,
    plot_accuracy_vs_labels,
)
from kedro_scanflow.debugging.results_table import (
    METRICS,
    PAPER_TABLE_1,
    corruption_frame,
    markdown_report,
    results_frame,
    seed_scores,
    summary_frame,
)
from kedro_scanflow.debugging.scenario_runner import (
    SCENARIOS,
    Scenario,
    ScenarioResult,
    log_scenario_metrics,
    run_scenario,
    scenario_named,
)

__all__ = [
    "GRID_KEY",
    "METRICS",
    "PAPER_TABLE_1",
    "SCENARIOS",
    "SETTINGS_KEY",
    "DebuggingGrid",
    "DebuggingGridError",
    "DebuggingSettings",
    "MnistCPositions",
    "NewDistribution",
    "Scenario",
    "ScenarioResult",
    "check_budgets",
    "check_run_grid",
    "corrupt_new_distribution",
    "corruption_frame",
    "labelled_image_set",
    "load_debugging_grid",
    "log_scenario_metrics",
    "markdown_report",
    "mnist_c_positions",
    "plot_accuracy_by_corruption",
    "plot_accuracy_vs_labels",
    "results_frame",
    "run_scenario",
    "sample_new_distribution",
    "scenario_named",
    "seed_scores",
    "split_clean_digits",
    "stratified_parts",
    "summary_frame",
]
