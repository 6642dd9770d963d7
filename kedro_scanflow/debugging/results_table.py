"""The score tables of a debugging experiment, computed the way the Scanflow paper does.

For every seed, scenario and label budget, the accuracies of the per-corruption models
are averaged over the corruptions: the *clean* score (accuracy on the clean test images),
the *corrupted* score (mean accuracy over the corrupted test sets, the paper's "mean
MNIST-C accuracy") and their *average*. The seeds then give a mean and a spread
(standard deviation) per scenario and budget.

- :func:`results_frame`: every :class:`~kedro_scanflow.debugging.ScenarioResult` as a row;
- :func:`summary_frame`: per scenario and budget, the three scores over seeds;
- :func:`corruption_frame`: per scenario, budget and corruption, the corrupted accuracy;
- :func:`markdown_report`: all of it as Markdown tables, in percent like the paper.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kedro_scanflow.debugging.scenario_runner import SCENARIOS, ScenarioResult

if TYPE_CHECKING:
    import pandas as pd

METRICS = ("clean_accuracy", "corrupted_accuracy", "average_accuracy")
"""The paper's three scores, as columns of the tables."""

METRIC_NAMES: Mapping[str, str] = {
    "clean_accuracy": "clean",
    "corrupted_accuracy": "corrupted (mean over corruptions)",
    "average_accuracy": "average of clean and corrupted",
}

PAPER_TABLE_1: Mapping[str, float] = {
    "baseline": 88.78,
    "rnd_hlc": 91.33,
    "ddc_hlc": 91.97,
    "mdwi_hfc": 92.60,
}
"""Mean MNIST-C accuracy (%) in the Scanflow paper's Table 1 (Bravo-Rocca et al., 2022)."""

_COLUMNS = (
    "seed",
    "corruption",
    "scenario",
    "scenario_label",
    "budget",
    "n_selected",
    "n_labels",
    "clean_accuracy",
    "corrupted_accuracy",
    "average_accuracy",
    "seconds",
)


def results_frame(results: Iterable[ScenarioResult | Mapping[str, Any]]) -> pd.DataFrame:
    """Every result as one row, sorted by seed, corruption, scenario (paper order), budget.

    Args:
        results: Scenario results, or their ``as_dict()`` rows.

    Raises:
        ValueError: When there are no results.
    """
    import pandas as pd  # noqa: PLC0415 - keep importing the package cheap

    rows = [row.as_dict() if isinstance(row, ScenarioResult) else dict(row) for row in results]
    if not rows:
        raise ValueError("There are no scenario results to tabulate.")
    frame = pd.DataFrame(rows)
    missing = [column for column in _COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"Scenario results lack the column(s) {missing}.")
    order = {key: position for position, key in enumerate(SCENARIOS)}
    frame = frame.assign(_order=frame["scenario"].map(order))
    frame = frame.sort_values(["seed", "corruption", "_order", "budget"], kind="stable")
    return frame[list(_COLUMNS)].reset_index(drop=True)


def seed_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """Per seed, scenario and budget: the three scores averaged over the corruptions.

    Raises:
        ValueError: When a seed misses a corruption another one has for the same
            scenario and budget (the means would not be comparable).
    """
    groups = frame.groupby(["scenario", "budget", "seed"], sort=False)
    counts = groups["corruption"].nunique()
    if counts.nunique() > 1:
        raise ValueError(
            "Scenarios, budgets and seeds do not all cover the same corruptions: "
            f"{counts.to_dict()}."
        )
    return groups[list(METRICS)].mean().reset_index()


def summary_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and budget: mean and standard deviation over seeds of the three scores.

    Returns:
        Columns ``scenario``, ``scenario_label``, ``budget``, ``n_seeds``,
        ``n_corruptions``, then ``<metric>_mean`` and ``<metric>_std`` (0 for one seed),
        scenarios in the paper's order.
    """
    per_seed = seed_scores(frame)
    grouped = per_seed.groupby(["scenario", "budget"], sort=False)
    summary = grouped[list(METRICS)].agg(["mean", "std"])
    summary.columns = [f"{metric}_{statistic}" for metric, statistic in summary.columns]
    summary = summary.fillna({f"{metric}_std": 0.0 for metric in METRICS}).reset_index()
    summary.insert(2, "n_seeds", grouped["seed"].nunique().to_numpy())
    corruptions = frame.groupby(["scenario", "budget"], sort=False)["corruption"].nunique()
    summary.insert(3, "n_corruptions", corruptions.to_numpy())
    summary.insert(1, "scenario_label", summary["scenario"].map(_label))
    return _paper_order(summary)


def corruption_frame(frame: pd.DataFrame, metric: str = "corrupted_accuracy") -> pd.DataFrame:
    """Per scenario, budget and corruption: ``metric`` averaged over the seeds.

    Returns:
        One row per scenario and budget, one column per corruption (in the order they
        first appear) and ``mean``, the mean over corruptions.
    """
    corruptions = list(dict.fromkeys(frame["corruption"]))
    table = frame.pivot_table(
        index=["scenario", "budget"], columns="corruption", values=metric, aggfunc="mean"
    )[corruptions]
    table["mean"] = table.mean(axis=1)
    table = table.reset_index()
    table.columns.name = None
    table.insert(1, "scenario_label", table["scenario"].map(_label))
    return _paper_order(table)


def markdown_report(frame: pd.DataFrame, *, title: str = "Debugging experiment") -> str:
    """The experiment's tables in Markdown, accuracies in percent.

    The first table gives, per scenario and budget, the three scores as mean ± standard
    deviation over seeds; the second the corrupted accuracy of every corruption (mean
    over seeds). Baseline does not depend on the budget and appears once.
    """
    summary = summary_frame(frame)
    corruptions = corruption_frame(frame)
    seeds = sorted(frame["seed"].unique().tolist())
    lines = [
        f"# {title}",
        "",
        f"Seeds {', '.join(map(str, seeds))}; {frame['corruption'].nunique()} corruptions; "
        f"label budgets {', '.join(map(str, sorted(frame['budget'].unique().tolist())))}. "
        "Accuracy in percent: the mean over corruptions, averaged over seeds (± their "
        "standard deviation when there are several).",
        "",
        "| scenario | labels | clean | corrupted | average |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in _budget_rows(summary):
        cells = [
            f"{100 * row[f'{metric}_mean']:.2f}"
            + (f" ± {100 * row[f'{metric}_std']:.2f}" if row["n_seeds"] > 1 else "")
            for metric in METRICS
        ]
        budget = "-" if row["scenario"] == "baseline" else str(row["budget"])
        lines.append(f"| {row['scenario_label']} | {budget} | {' | '.join(cells)} |")
    names = [
        column
        for column in corruptions.columns
        if column not in ("scenario", "scenario_label", "budget")
    ]
    lines += [
        "",
        "Corrupted accuracy per corruption (percent, mean over seeds):",
        "",
        "| scenario | labels | " + " | ".join(names) + " |",
        "|---|---:|" + "---:|" * len(names),
    ]
    for row in _budget_rows(corruptions):
        budget = "-" if row["scenario"] == "baseline" else str(row["budget"])
        cells = [f"{100 * row[name]:.2f}" for name in names]
        lines.append(f"| {row['scenario_label']} | {budget} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def _budget_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows to print: Baseline once (its scores do not depend on the budget)."""
    rows = table.to_dict("records")
    seen_baseline = False
    kept = []
    for row in rows:
        if row["scenario"] == "baseline":
            if seen_baseline:
                continue
            seen_baseline = True
        kept.append(row)
    return kept


def _label(key: str) -> str:
    return SCENARIOS[key].label if key in SCENARIOS else key


def _paper_order(table: pd.DataFrame) -> pd.DataFrame:
    order = {key: position for position, key in enumerate(SCENARIOS)}
    table = table.assign(_order=table["scenario"].map(order).fillna(len(order)))
    return (
        table.sort_values(["_order", "budget"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )
