"""Plots of a debugging experiment, like the Scanflow paper's figures 20 to 22.

- :func:`plot_accuracy_vs_labels`: one score (clean, corrupted or average) against the
  number of labels, one line per scenario, error bars of one standard deviation over
  seeds;
- :func:`plot_accuracy_by_corruption`: the corrupted accuracy against the number of labels
  for every corruption, to see where each scenario helps.

Figures use matplotlib's object API with the Agg canvas (no pyplot state, no display),
like the checkers' plots, and are returned for Kedro's ``matplotlib.MatplotlibDataset``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from kedro_scanflow.debugging.results_table import METRIC_NAMES, corruption_frame, summary_frame
from kedro_scanflow.debugging.scenario_runner import SCENARIOS

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

_MARKERS = {"baseline": "s", "naive": "v", "ddc_hlc": "o", "rnd_hlc": "^", "mdwi_hfc": "D"}
_COLOURS = {
    "baseline": "#4d4d4d",
    "naive": "#d62728",
    "ddc_hlc": "#1f77b4",
    "rnd_hlc": "#ff7f0e",
    "mdwi_hfc": "#2ca02c",
}


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def plot_accuracy_vs_labels(frame: pd.DataFrame, metric: str = "corrupted_accuracy") -> Figure:
    """Mean accuracy against the number of labels, per scenario, over seeds.

    Args:
        frame: The results (:func:`~kedro_scanflow.debugging.results_frame`).
        metric: ``clean_accuracy``, ``corrupted_accuracy`` or ``average_accuracy``.

    Returns:
        The figure.

    Raises:
        ValueError: For an unknown metric.
    """
    if metric not in METRIC_NAMES:
        raise ValueError(f"metric must be one of {', '.join(METRIC_NAMES)}, got {metric!r}.")
    summary = summary_frame(frame)
    figure = _new_figure(6.4, 4.4)
    axes = figure.add_subplot()
    for scenario, rows in summary.groupby("scenario", sort=False):
        axes.errorbar(
            rows["budget"],
            100 * rows[f"{metric}_mean"],
            yerr=100 * rows[f"{metric}_std"],
            label=SCENARIOS[scenario].label if scenario in SCENARIOS else scenario,
            marker=_MARKERS.get(scenario, "o"),
            color=_COLOURS.get(scenario),
            linestyle="--" if scenario == "baseline" else "-",
            capsize=3,
            markersize=5,
        )
    seeds = int(summary["n_seeds"].max())
    corruptions = int(summary["n_corruptions"].max())
    axes.set_xscale("log")
    budgets = sorted(summary["budget"].unique())
    axes.set_xticks(budgets, [str(budget) for budget in budgets])
    axes.minorticks_off()
    axes.set_xlabel("labels per corruption (log scale)")
    axes.set_ylabel("accuracy (%)")
    axes.set_title(
        f"Accuracy, {METRIC_NAMES[metric]}\n"
        f"{corruptions} corruption(s), mean ± std over {seeds} seed(s)",
        fontsize=10,
    )
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return figure


def plot_accuracy_by_corruption(frame: pd.DataFrame) -> Figure:
    """Corrupted accuracy against the number of labels, one panel per corruption.

    Args:
        frame: The results (:func:`~kedro_scanflow.debugging.results_frame`).

    Returns:
        The figure; each panel shows the mean over seeds of every scenario.
    """
    table = corruption_frame(frame)
    corruptions = [
        column
        for column in table.columns
        if column not in ("scenario", "scenario_label", "budget", "mean")
    ]
    columns = min(5, len(corruptions))
    rows = math.ceil(len(corruptions) / columns)
    figure = _new_figure(2.9 * columns, 2.4 * rows + 0.6)
    budgets = sorted(table["budget"].unique())
    for position, corruption in enumerate(corruptions):
        axes = figure.add_subplot(rows, columns, position + 1)
        for scenario, lines in table.groupby("scenario", sort=False):
            axes.plot(
                lines["budget"],
                100 * lines[corruption],
                label=SCENARIOS[scenario].label if scenario in SCENARIOS else scenario,
                marker=_MARKERS.get(scenario, "o"),
                color=_COLOURS.get(scenario),
                linestyle="--" if scenario == "baseline" else "-",
                markersize=3,
            )
        axes.set_xscale("log")
        axes.set_xticks(budgets, [str(budget) for budget in budgets], fontsize=6)
        axes.minorticks_off()
        axes.tick_params(axis="y", labelsize=7)
        axes.set_title(corruption, fontsize=9)
        axes.grid(alpha=0.3)
    handles, labels = figure.axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=8)
    figure.suptitle("Corrupted accuracy (%) against labels per corruption", fontsize=10)
    return figure
