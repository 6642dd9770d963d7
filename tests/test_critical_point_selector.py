"""The Critical Point Selector (paper, Algorithm 7), its random baseline, and the plots.

Training losses ``0.000, 0.001, ..., 1.000`` make every quantile equal to its level, so
the thresholds of each trial are known exactly: 0.20 / 0.80, then 0.30 / 0.70, then
0.40 / 0.60.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from kedro_scanflow.checkers import (
    CriticalPoints,
    CriticalPointSelector,
    RandomPointSelector,
    plot_critical_samples,
    plot_reconstruction_errors,
)
from kedro_scanflow.io import IdxImageDataset

TRAINING = np.linspace(0.0, 1.0, 1001)
MNIST = Path(__file__).resolve().parents[1] / "data" / "01_raw" / "mnist_5k"


def _layered_losses() -> np.ndarray:
    """5 new losses in each of the bands that open trial by trial, 10 in the middle.

    Above 0.8 and below 0.2: candidates from trial 1 (10). In (0.7, 0.8] and [0.2, 0.3):
    from trial 2 (20). In (0.6, 0.7] and [0.3, 0.4): from trial 3 (30).
    """
    return np.concatenate(
        [
            np.linspace(0.81, 0.95, 5),
            np.linspace(0.05, 0.19, 5),
            np.linspace(0.71, 0.79, 5),
            np.linspace(0.21, 0.29, 5),
            np.linspace(0.61, 0.69, 5),
            np.linspace(0.31, 0.39, 5),
            np.linspace(0.45, 0.55, 10),
        ]
    )


def test_the_first_band_is_the_080_and_020_quantiles_of_the_training_losses() -> None:
    losses = _layered_losses()
    critical = CriticalPointSelector(8).select(losses, TRAINING)

    assert critical.trials == 1
    assert (critical.lower_quantile, critical.upper_quantile) == (0.2, 0.8)
    assert critical.lower_threshold == pytest.approx(0.2)
    assert critical.upper_threshold == pytest.approx(0.8)
    assert critical.n_candidates == 10
    assert len(critical) == 8
    assert np.all((critical.losses > 0.8) | (critical.losses < 0.2))
    np.testing.assert_array_equal(critical.losses, losses[critical.indices])


@pytest.mark.parametrize(
    ("n_critical", "trials", "lower", "upper", "candidates"),
    [(10, 1, 0.2, 0.8, 10), (11, 2, 0.3, 0.7, 20), (20, 2, 0.3, 0.7, 20), (21, 3, 0.4, 0.6, 30)],
)
def test_the_band_narrows_by_010_per_trial_until_enough_samples_fall_outside(
    n_critical: int, trials: int, lower: float, upper: float, candidates: int
) -> None:
    critical = CriticalPointSelector(n_critical).select(_layered_losses(), TRAINING)

    assert critical.trials == trials
    assert (critical.lower_quantile, critical.upper_quantile) == (lower, upper)
    assert critical.lower_threshold == pytest.approx(lower)
    assert critical.upper_threshold == pytest.approx(upper)
    assert critical.n_candidates == candidates
    assert len(critical) == n_critical
    assert np.all((critical.losses > upper) | (critical.losses < lower))


def test_after_three_trials_every_candidate_is_taken_and_the_shortfall_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        critical = CriticalPointSelector(35).select(_layered_losses(), TRAINING)

    assert critical.trials == 3
    assert len(critical) == critical.n_candidates == 30
    assert critical.n_requested == 35
    assert "Only 30 new samples fall outside" in caplog.text


def test_upper_tail_only_ignores_unusually_low_losses() -> None:
    critical = CriticalPointSelector(5, tails="upper").select(_layered_losses(), TRAINING)

    assert critical.n_candidates == 5
    assert np.all(critical.losses > 0.8)


def test_the_selection_is_reproducible_with_a_seed() -> None:
    losses = np.random.default_rng(5).gamma(2.0, 0.25, size=2000)
    first = CriticalPointSelector(50, seed=11).select(losses, TRAINING)
    again = CriticalPointSelector(50, seed=11).select(losses, TRAINING)
    other = CriticalPointSelector(50, seed=12).select(losses, TRAINING)

    np.testing.assert_array_equal(first.indices, again.indices)
    assert not np.array_equal(np.sort(first.indices), np.sort(other.indices))


def test_selected_points_are_distinct_candidates_ordered_by_loss() -> None:
    losses = np.random.default_rng(6).gamma(2.0, 0.25, size=2000)
    critical = CriticalPointSelector(200, seed=1).select(losses, TRAINING)

    assert len(np.unique(critical.indices)) == 200
    assert np.all(
        (critical.losses > critical.upper_threshold) | (critical.losses < critical.lower_threshold)
    )
    assert np.all(np.diff(critical.losses) <= 0)


def test_selected_points_follow_where_critical_losses_are_most_likely() -> None:
    generator = np.random.default_rng(7)
    crowded = generator.normal(1.5, 0.02, size=400)  # most critical losses sit here
    scattered = generator.uniform(2.0, 10.0, size=100)
    losses = np.concatenate([crowded, scattered, np.full(500, 0.5)])
    critical = CriticalPointSelector(100, seed=3).select(losses, TRAINING)

    # 4 in 5 candidates are in the crowd; the kernel's smoothing lends a few picks to the
    # sparse losses next to it, never most of them.
    from_crowd = np.mean(critical.indices < 400)
    assert 0.6 <= from_crowd <= 0.9


def test_identical_candidate_losses_are_still_selected() -> None:
    losses = np.concatenate([np.full(30, 2.0), np.full(30, 0.5)])
    critical = CriticalPointSelector(10, seed=0).select(losses, TRAINING)

    assert len(np.unique(critical.indices)) == 10
    assert np.all(critical.indices < 30)


@pytest.mark.parametrize(
    ("losses", "training", "message"),
    [
        (np.ones(5), TRAINING, "Cannot select 10 critical points from 5 new samples"),
        (np.array([]), TRAINING, "New-sample losses are empty"),
        (np.array([0.1, np.nan] + [0.9] * 20), TRAINING, "1 NaN or infinite value"),
        (np.ones(20), np.array([0.2, np.nan]), "Training losses hold 1 NaN"),
        (np.ones(20), np.array([]), "Training losses are empty"),
        (np.ones((4, 5)), TRAINING, r"1-D\), got shape \(4, 5\)"),
    ],
)
def test_unusable_losses_are_refused(
    losses: np.ndarray, training: np.ndarray, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        CriticalPointSelector(10).select(losses, training)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"n_critical": 0}, "n_critical must be at least 1"),
        ({"n_critical": 5, "max_trials": 0}, "max_trials must be at least 1"),
        (
            {"n_critical": 5, "upper_quantile": 0.2, "lower_quantile": 0.8},
            "0 <= lower < upper <= 1",
        ),
        ({"n_critical": 5, "max_trials": 4}, "After 4 trials the band would be 0.50-0.50"),
        ({"n_critical": 5, "tails": "lower"}, "tails must be 'both' or 'upper'"),
    ],
)
def test_impossible_settings_are_refused(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CriticalPointSelector(**settings)


def test_the_random_baseline_has_the_same_interface_and_picks_uniformly() -> None:
    losses = np.random.default_rng(8).gamma(2.0, 0.25, size=1000)
    picks = [RandomPointSelector(100, seed=seed).select(losses, TRAINING) for seed in range(20)]

    assert all(isinstance(points, CriticalPoints) and points.method == "random" for points in picks)
    assert all(len(np.unique(points.indices)) == 100 for points in picks)
    np.testing.assert_array_equal(
        picks[0].indices, RandomPointSelector(100, seed=0).select(losses).indices
    )
    counts = np.bincount(np.concatenate([points.indices for points in picks]) // 100, minlength=10)
    assert counts.min() >= 150 and counts.max() <= 250  # 200 per tenth of the data expected
    with pytest.raises(ValueError, match="Cannot select 100 critical points from 50"):
        RandomPointSelector(100).select(losses[:50])
    with pytest.raises(ValueError, match="n_critical must be at least 1"):
        RandomPointSelector(0)


def _assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000


def test_the_error_histogram_draws_both_thresholds(tmp_path: Path) -> None:
    generator = np.random.default_rng(9)
    training = generator.normal(0.15, 0.02, size=2000)
    new = np.concatenate(
        [generator.normal(0.16, 0.02, size=900), generator.normal(0.4, 0.05, size=100)]
    )
    critical = CriticalPointSelector(50).select(new, training)
    figure = plot_reconstruction_errors(
        training, new, critical, path=tmp_path / "plots" / "errors.png"
    )

    _assert_png(tmp_path / "plots" / "errors.png")
    threshold_lines = [line for line in figure.axes[0].lines if "threshold" in line.get_label()]
    assert sorted(line.get_xdata()[0] for line in threshold_lines) == pytest.approx(
        [critical.lower_threshold, critical.upper_threshold]
    )


def test_the_critical_sample_grid_captions_index_loss_and_prediction(tmp_path: Path) -> None:
    digits = IdxImageDataset(
        str(MNIST / "images-idx3-ubyte.gz"), str(MNIST / "labels-idx1-ubyte.gz")
    ).load()
    losses = np.random.default_rng(10).gamma(2.0, 0.25, size=len(digits))
    critical = CriticalPointSelector(12).select(losses, TRAINING)
    figure = plot_critical_samples(
        digits, critical, predictions=digits.labels, columns=6, path=tmp_path / "critical.png"
    )

    _assert_png(tmp_path / "critical.png")
    captions = [axes.get_title() for axes in figure.axes if axes.get_title()]
    first = int(critical.indices[0])
    assert len(captions) == 12
    assert captions[0] == f"#{first}\nloss {losses[first]:.3f}\npred {digits.labels[first]}"


def test_plotting_nothing_or_missing_images_is_refused() -> None:
    losses = np.concatenate([np.full(5, 2.0), np.full(20, 0.5)])
    critical = CriticalPointSelector(3).select(losses, TRAINING)
    empty = CriticalPointSelector(3).select(np.full(5, 0.5), TRAINING)

    with pytest.raises(ValueError, match="no critical samples"):
        plot_critical_samples(np.zeros((5, 28, 28)), empty)
    with pytest.raises(ValueError, match="only 2 images were given"):
        plot_critical_samples(np.zeros((2, 28, 28)), critical)
    with pytest.raises(ValueError, match="Both training and new losses"):
        plot_reconstruction_errors([], losses)
