"""``CriticalPointSelector``: which new samples a human should label (paper, Algorithm 7).

The drift detector gives every new sample a reconstruction error. A sample is a
*candidate* critical point when its error falls outside a band of typical errors taken
from the **training** errors: above the ``upper`` quantile or below the ``lower`` one.
The band starts at the 0.80 / 0.20 quantiles; while fewer than ``n_critical`` new samples
fall outside it, both quantiles move 0.10 towards the median (0.70 / 0.30, then
0.60 / 0.40), at most 3 trials in all. The band thus narrows and the critical region
widens at each trial, which is the only direction in which more samples can qualify. (The
original Scanflow code, ``decide_threshold`` in the MNIST checker example of
``bsc-scanflow/scanflow``, does the same: ``quantile_high -= width`` and
``quantile_low = 1 - quantile_high`` until enough anomalies are found.)

Among the candidates, a Gaussian kernel density estimate (Scott's bandwidth) is fitted to
their errors and ``n_critical`` errors are drawn from it; each draw takes the candidate,
not taken yet, whose error is nearest. The selection therefore follows the distribution of
critical errors: where critical samples are most likely, most points are taken, without
piling every pick on one mode and without taking a sample twice. The original code also
draws from the KDE (``generate_rand_from_pdf``), but then uses the drawn values, paired with
the candidates by position, as sampling weights, which ties no draw to any sample; here
each draw takes the candidate nearest to it. Sampling is seeded, so the same errors give
the same selection.

:class:`RandomPointSelector` has the same interface and picks uniformly among all new
samples: the RND+HLC baseline of the paper.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CriticalPoints:
    """The samples chosen for labelling, and how they were chosen.

    Attributes:
        indices: Positions in the new data of the chosen samples, highest error first.
        losses: Their reconstruction errors.
        n_requested: How many were asked for; more than ``len(indices)`` only when fewer
            candidates existed even after the last trial.
        n_candidates: How many new samples fell outside the final band (all of them for
            random selection).
        lower_threshold: Errors below this were candidates when both tails count
            (``None`` for random selection).
        upper_threshold: Errors above this were candidates (``None`` for random selection).
        lower_quantile: Training-error quantile giving ``lower_threshold``.
        upper_quantile: Training-error quantile giving ``upper_threshold``.
        trials: Bands tried, 1 to ``max_trials`` (0 for random selection).
        method: ``"kde"`` or ``"random"``.
    """

    indices: np.ndarray
    losses: np.ndarray
    n_requested: int
    n_candidates: int
    lower_threshold: float | None
    upper_threshold: float | None
    lower_quantile: float | None
    upper_quantile: float | None
    trials: int
    method: str

    def __len__(self) -> int:
        return len(self.indices)

    def as_dict(self) -> dict[str, object]:
        """Plain values, e.g. for ``mlflow.log_dict`` or a JSON dataset."""
        return {
            "indices": self.indices.tolist(),
            "losses": self.losses.tolist(),
            "n_requested": self.n_requested,
            "n_candidates": self.n_candidates,
            "lower_threshold": self.lower_threshold,
            "upper_threshold": self.upper_threshold,
            "lower_quantile": self.lower_quantile,
            "upper_quantile": self.upper_quantile,
            "trials": self.trials,
            "method": self.method,
        }


def _losses(values: np.ndarray, what: str) -> np.ndarray:
    """``values`` as a flat float64 array, refusing empty input and NaN.

    Raises:
        ValueError: When ``values`` is empty, not one-dimensional or holds NaN/infinity.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{what} must be one loss per sample (1-D), got shape {array.shape}.")
    if len(array) == 0:
        raise ValueError(f"{what} are empty: there is nothing to select from.")
    bad = np.flatnonzero(~np.isfinite(array))
    if len(bad):
        raise ValueError(
            f"{what} hold {len(bad)} NaN or infinite value(s), first at index {bad[0]}; "
            f"score the samples again or drop them."
        )
    return array


def _check_budget(n_critical: int, n_samples: int) -> None:
    if n_critical > n_samples:
        raise ValueError(
            f"Cannot select {n_critical} critical points from {n_samples} new samples; "
            f"lower n_critical or wait for more data."
        )


def _by_loss(indices: np.ndarray, losses: np.ndarray) -> np.ndarray:
    """``indices`` ordered by decreasing loss (ties by index), for stable output."""
    return indices[np.lexsort((indices, -losses[indices]))]


class CriticalPointSelector:
    """Picks the ``n_critical`` most likely critical points among new samples (Algorithm 7).

    Example::

        selector = CriticalPointSelector(n_critical=50, seed=0)
        critical = selector.select(detector.score(new_images), detector.training_losses)
        to_label = new_images.subset(critical.indices)
    """

    def __init__(
        self,
        n_critical: int,
        *,
        upper_quantile: float = 0.80,
        lower_quantile: float = 0.20,
        quantile_step: float = 0.10,
        max_trials: int = 3,
        tails: Literal["both", "upper"] = "both",
        seed: int = 42,
    ):
        """Configure the selection.

        Args:
            n_critical: How many samples to select (the labelling budget).
            upper_quantile: Training-error quantile of the first upper threshold.
            lower_quantile: Training-error quantile of the first lower threshold.
            quantile_step: How far both quantiles move towards each other per trial.
            max_trials: How many bands to try at most.
            tails: ``"both"`` (the paper): errors above the upper or below the lower
                threshold are critical. ``"upper"``: only errors above the upper one, for
                drift that can only make images harder to reconstruct, such as noise.
            seed: Seed of the sampling.

        Raises:
            ValueError: When ``n_critical`` or ``max_trials`` is below 1, the quantiles are
                outside ``[0, 1]``, the last band would be empty or inverted, or ``tails``
                is unknown.
        """
        if tails not in ("both", "upper"):
            raise ValueError(f"tails must be 'both' or 'upper', got {tails!r}.")
        if int(n_critical) < 1:
            raise ValueError(f"n_critical must be at least 1, got {n_critical}.")
        if int(max_trials) < 1:
            raise ValueError(f"max_trials must be at least 1, got {max_trials}.")
        if not 0.0 <= lower_quantile < upper_quantile <= 1.0:
            raise ValueError(
                f"Quantiles must satisfy 0 <= lower < upper <= 1, got lower={lower_quantile}, "
                f"upper={upper_quantile}."
            )
        if quantile_step < 0:
            raise ValueError(f"quantile_step must not be negative, got {quantile_step}.")
        last_upper, last_lower = self._band(
            upper_quantile, lower_quantile, quantile_step, max_trials
        )
        if last_upper <= last_lower:
            raise ValueError(
                f"After {max_trials} trials the band would be {last_lower:.2f}-{last_upper:.2f}: "
                f"use fewer trials or a smaller quantile_step."
            )
        self.n_critical = int(n_critical)
        self.upper_quantile = float(upper_quantile)
        self.lower_quantile = float(lower_quantile)
        self.quantile_step = float(quantile_step)
        self.max_trials = int(max_trials)
        self.tails = tails
        self.seed = seed

    @staticmethod
    def _band(upper: float, lower: float, step: float, trial: int) -> tuple[float, float]:
        """``(upper, lower)`` quantiles of trial ``trial`` (1-based), rounded to 1e-9."""
        moved = step * (trial - 1)
        return round(upper - moved, 9), round(lower + moved, 9)

    def select(self, losses: np.ndarray, training_losses: np.ndarray) -> CriticalPoints:
        """Choose the critical points among new samples.

        Args:
            losses: Reconstruction error of each new sample (``DriftDetectorChecker.score``).
            training_losses: Reconstruction errors of the training samples
                (``DriftDetectorChecker.training_losses``); thresholds are their quantiles.

        Returns:
            The chosen samples. When even the last band leaves fewer than ``n_critical``
            candidates, all candidates are returned and a warning is logged.

        Raises:
            ValueError: When either array is empty or holds NaN, or ``n_critical`` exceeds
                the number of new samples.
        """
        losses = _losses(losses, "New-sample losses")
        training_losses = _losses(training_losses, "Training losses")
        _check_budget(self.n_critical, len(losses))
        for trial in range(1, self.max_trials + 1):
            upper_quantile, lower_quantile = self._band(
                self.upper_quantile, self.lower_quantile, self.quantile_step, trial
            )
            upper, lower = np.quantile(training_losses, [upper_quantile, lower_quantile])
            outside = losses > upper
            if self.tails == "both":
                outside |= losses < lower
            candidates = np.flatnonzero(outside)
            logger.info(
                "Critical point trial %d: band %.2f-%.2f of the training losses "
                "[%.5g, %.5g] leaves %d of %d new samples outside (%d wanted).",
                trial,
                lower_quantile,
                upper_quantile,
                lower,
                upper,
                len(candidates),
                len(losses),
                self.n_critical,
            )
            if len(candidates) >= self.n_critical:
                break
        if len(candidates) <= self.n_critical:
            if len(candidates) < self.n_critical:
                logger.warning(
                    "Only %d new samples fall outside the training-loss band %.2f-%.2f after "
                    "%d trials; selecting all of them instead of %d.",
                    len(candidates),
                    lower_quantile,
                    upper_quantile,
                    trial,
                    self.n_critical,
                )
            chosen = candidates
        else:
            chosen = self._sample(losses[candidates], candidates)
        chosen = _by_loss(chosen, losses)
        return CriticalPoints(
            indices=chosen,
            losses=losses[chosen],
            n_requested=self.n_critical,
            n_candidates=len(candidates),
            lower_threshold=float(lower),
            upper_threshold=float(upper),
            lower_quantile=lower_quantile,
            upper_quantile=upper_quantile,
            trials=trial,
            method="kde",
        )

    def _sample(self, candidate_losses: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Draw ``n_critical`` losses from a KDE of the candidates' losses; take the nearest.

        Each drawn loss picks the not yet chosen candidate whose loss is closest, so the
        selection follows the distribution of critical losses without picking a sample
        twice.
        """
        from scipy.stats import gaussian_kde  # noqa: PLC0415 - keep importing the checkers cheap

        generator = np.random.default_rng(self.seed)
        if np.ptp(candidate_losses) == 0:
            return generator.choice(candidates, size=self.n_critical, replace=False)
        draws = gaussian_kde(candidate_losses).resample(self.n_critical, seed=generator)[0]
        distance_to = np.abs(candidate_losses[None, :] - draws[:, None])
        taken = np.zeros(len(candidates), dtype=bool)
        chosen = np.empty(self.n_critical, dtype=np.int64)
        for position, distances in enumerate(distance_to):
            nearest = int(np.argmin(np.where(taken, np.inf, distances)))
            taken[nearest] = True
            chosen[position] = candidates[nearest]
        return chosen


class RandomPointSelector:
    """Picks ``n_critical`` new samples uniformly at random: the paper's RND+HLC baseline.

    It has the interface of :class:`CriticalPointSelector`, so experiments swap one for
    the other.
    """

    def __init__(self, n_critical: int, *, seed: int = 42):
        """Configure the selection.

        Args:
            n_critical: How many samples to select.
            seed: Seed of the sampling.

        Raises:
            ValueError: When ``n_critical`` is below 1.
        """
        if int(n_critical) < 1:
            raise ValueError(f"n_critical must be at least 1, got {n_critical}.")
        self.n_critical = int(n_critical)
        self.seed = seed

    def select(
        self, losses: np.ndarray, training_losses: np.ndarray | None = None
    ) -> CriticalPoints:
        """Choose ``n_critical`` new samples uniformly, without replacement.

        Args:
            losses: Reconstruction error of each new sample (only their number and values
                for the report are used).
            training_losses: Ignored; accepted for interchangeability.

        Returns:
            The chosen samples.

        Raises:
            ValueError: When ``losses`` is empty or holds NaN, or ``n_critical`` exceeds
                the number of new samples.
        """
        losses = _losses(losses, "New-sample losses")
        _check_budget(self.n_critical, len(losses))
        generator = np.random.default_rng(self.seed)
        chosen = _by_loss(
            generator.choice(len(losses), size=self.n_critical, replace=False), losses
        )
        return CriticalPoints(
            indices=chosen,
            losses=losses[chosen],
            n_requested=self.n_critical,
            n_candidates=len(losses),
            lower_threshold=None,
            upper_threshold=None,
            lower_quantile=None,
            upper_quantile=None,
            trials=0,
            method="random",
        )
