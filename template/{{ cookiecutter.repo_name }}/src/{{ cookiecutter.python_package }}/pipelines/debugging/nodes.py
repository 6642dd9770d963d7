"""Nodes of the debugging pipeline: the Scanflow paper's MNIST-C scenarios.

Per seed: cut the clean digits into training, pool and test images, train the classifier,
fit the drift detector. Per seed and corruption: the new data (corrupted pool and test
images, the pool's drift scores). Per seed, corruption and scenario: one scenario over all
label budgets. At the end: the tables and plots. The algorithms live in
``kedro_scanflow.debugging``; these functions connect them to the catalog and the
parameters.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from kedro_scanflow.checkers import DriftDetectorChecker
from kedro_scanflow.debugging import (
    METRICS,
    DebuggingGrid,
    DebuggingSettings,
    MnistCPositions,
    NewDistribution,
    check_budgets,
    check_run_grid,
    corrupt_new_distribution,
    labelled_image_set,
    log_scenario_metrics,
    markdown_report,
    mnist_c_positions,
    plot_accuracy_by_corruption,
    plot_accuracy_vs_labels,
    results_frame,
    run_scenario,
    sample_new_distribution,
    split_clean_digits,
    summary_frame,
)
from kedro_scanflow.io import ImageSet

from ...classifier import build_classifier

logger = logging.getLogger(__name__)


def split_digits(
    digits: ImageSet,
    debugging: dict[str, Any],
    debugging_grid: dict[str, Any],
    *,
    grid: DebuggingGrid,
    seed: int,
) -> tuple[ImageSet, ImageSet, ImageSet, np.ndarray]:
    """Cut the clean digits into this seed's training, pool and test digits (stratified).

    Returns:
        The training, (still clean) pool and test digits, and the position among the
        training digits of every pool digit (-1 for pools of unseen digits).

    Raises:
        DebuggingGridError: When the run's parameters ask for another grid than the pipeline's.
        ValueError: When the digits are not labelled grayscale images, the sizes do not
            fit, or a label budget is larger than the pool.
    """
    check_run_grid(grid, debugging_grid)
    data = DebuggingSettings.from_parameters(debugging).data
    if data.train_size is None or data.test_size is None:
        raise ValueError(
            "debugging.data: train_size and test_size must be numbers when the digits are "
            "cut from debugging_digits (data_source: generated)."
        )
    check_budgets(grid.budgets, data.pool_size, f"seed {seed}")
    digits = labelled_image_set(digits, "clean digits (debugging_digits)")
    train, pool, test, origins = split_clean_digits(
        digits, data.train_size, data.pool_size, data.test_size, seed, data.pool_from
    )
    logger.info(
        "Seed %d: %d training, %d test digits; a pool of %d %s digits.",
        seed,
        len(train),
        len(test),
        len(pool),
        data.pool_from,
    )
    return train, pool, test, origins


def sample_digits(
    train_digits: ImageSet,
    test_digits: ImageSet,
    debugging: dict[str, Any],
    debugging_grid: dict[str, Any],
    *,
    grid: DebuggingGrid,
    seed: int,
) -> tuple[ImageSet, ImageSet, MnistCPositions]:
    """This seed's training and test digits, and which MNIST-C images make pool and test.

    Returns:
        The training digits, the clean test digits, and their positions (with the pool's)
        in the clean sets, which MNIST-C's ``train`` and ``test`` splits copy in order.
    """
    check_run_grid(grid, debugging_grid)
    data = DebuggingSettings.from_parameters(debugging).data
    check_budgets(grid.budgets, data.pool_size, f"seed {seed}")
    train_digits = labelled_image_set(
        train_digits, "clean training digits (debugging_train_digits)"
    )
    test_digits = labelled_image_set(test_digits, "clean test digits (debugging_test_digits)")
    positions = mnist_c_positions(
        train_digits.labels,
        test_digits.labels,
        data.train_size,
        data.pool_size,
        data.test_size,
        seed,
        data.pool_from,
    )
    logger.info(
        "Seed %d: %d training, %d test digits; a pool of %d %s MNIST-C digits.",
        seed,
        len(positions.train),
        len(positions.test),
        len(positions.pool),
        data.pool_from,
    )
    return train_digits.subset(positions.train), test_digits.subset(positions.test), positions


def train_classifier(train: ImageSet, debugging: dict[str, Any], *, seed: int) -> Any:
    """Train the deployed classifier (the project's small CNN) on this seed's training digits."""
    import keras  # noqa: PLC0415

    options = {"epochs": 8, "batch_size": 64, "learning_rate": 0.002}
    options.update(DebuggingSettings.from_parameters(debugging).classifier)
    keras.utils.set_random_seed(seed)
    model = build_classifier(
        train.image_shape, int(train.labels.max()) + 1, options["learning_rate"]
    )
    history = model.fit(
        train.as_float()[..., np.newaxis],
        train.labels,
        epochs=options["epochs"],
        batch_size=options["batch_size"],
        verbose=0,
    )
    logger.info(
        "Seed %d: classifier trained on %d digits, final training accuracy %.4f.",
        seed,
        len(train),
        history.history["accuracy"][-1],
    )
    return model


def fit_drift_detector(
    train: ImageSet, debugging: dict[str, Any], *, seed: int
) -> DriftDetectorChecker:
    """Fit the Drift Detector Checker on this seed's training digits, once for all corruptions."""
    options = DebuggingSettings.from_parameters(debugging).drift_detector
    return DriftDetectorChecker(
        epochs=options.epochs, batch_size=options.batch_size, seed=seed
    ).fit(train)


def corrupt_new_data(
    pool: ImageSet,
    test: ImageSet,
    train: ImageSet,
    pool_origins: np.ndarray,
    detector: DriftDetectorChecker,
    *,
    corruption: str,
    seed: int,
) -> NewDistribution:
    """Corrupt this seed's pool and test digits with ``corruption``; score the pool."""
    return corrupt_new_distribution(pool, test, corruption, seed, detector, train, pool_origins)


def sample_new_data(
    corrupted_train: ImageSet,
    corrupted_test: ImageSet,
    positions: MnistCPositions,
    test: ImageSet,
    train: ImageSet,
    detector: DriftDetectorChecker,
    *,
    corruption: str,
) -> NewDistribution:
    """Take this seed's pool and corrupted test digits from the MNIST-C files; score the pool."""
    corrupted_train = labelled_image_set(corrupted_train, f"MNIST-C {corruption} training images")
    corrupted_test = labelled_image_set(corrupted_test, f"MNIST-C {corruption} test images")
    return sample_new_distribution(
        corrupted_train, corrupted_test, positions, test, corruption, detector, train
    )


def run_scenario_node(
    classifier: Any,
    new_data: NewDistribution,
    debugging: dict[str, Any],
    train: ImageSet | None = None,
    *,
    scenario: str,
    seed: int,
    budgets: tuple[int, ...],
) -> list[dict[str, Any]]:
    """Run one scenario over every label budget; the rows of the results table."""
    settings = DebuggingSettings.from_parameters(debugging)
    results = run_scenario(
        scenario,
        classifier=classifier,
        new=new_data,
        budgets=budgets,
        settings=settings,
        seed=seed,
        train=train,
    )
    log_scenario_metrics(results)
    for result in results:
        logger.info(
            "Seed %d, %s, %s, budget %d (%d answers): clean %.4f, corrupted %.4f (%.1f s)",
            seed,
            result.corruption,
            scenario,
            result.budget,
            result.n_labels,
            result.clean_accuracy,
            result.corrupted_accuracy,
            result.seconds,
        )
    return [result.as_dict() for result in results]


def report_results(*scenario_results: list[dict[str, Any]]) -> tuple[Any, ...]:
    """The results table (every row), the summary over seeds, the Markdown tables and plots."""
    frame = results_frame(row for rows in scenario_results for row in rows)
    summary = summary_frame(frame)
    _log_summary(summary)
    return (
        frame,
        summary,
        markdown_report(frame, title="Debugging experiment: MNIST-C scenarios"),
        plot_accuracy_vs_labels(frame, "clean_accuracy"),
        plot_accuracy_vs_labels(frame, "corrupted_accuracy"),
        plot_accuracy_vs_labels(frame, "average_accuracy"),
        plot_accuracy_by_corruption(frame),
    )


def _log_summary(summary: Any) -> None:
    """The summary's means, as metrics of this node's MLflow run (when there is one)."""
    import mlflow  # noqa: PLC0415

    for row in summary.to_dict("records"):
        logger.info(
            "%-9s %4d labels: clean %.2f%%, corrupted %.2f%% (± %.2f), average %.2f%%",
            row["scenario_label"],
            row["budget"],
            100 * row["clean_accuracy_mean"],
            100 * row["corrupted_accuracy_mean"],
            100 * row["corrupted_accuracy_std"],
            100 * row["average_accuracy_mean"],
        )
    if mlflow.active_run() is None:
        return
    mlflow.log_metrics(
        {
            f"{row['scenario']}.b{row['budget']}.{metric}": float(row[f"{metric}_mean"])
            for row in summary.to_dict("records")
            for metric in METRICS
        }
    )
