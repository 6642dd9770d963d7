"""Nodes of the drift pipeline."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from kedro_scanflow.corruptions import corrupt_image_set
from kedro_scanflow.io import ImageSet

logger = logging.getLogger(__name__)


def simulate_drift(
    test_digits: ImageSet, drift: dict[str, Any]
) -> tuple[ImageSet, ImageSet, ImageSet]:
    """Corrupt held-out digits with an MNIST-C corruption, as if production data drifted.

    Returns:
        The drifted "new" batch the deployed model sees, a labelled drifted holdout on
        which an improved model must do better, and the clean originals of the new batch
        (only the simulated oracle of the human finder uses them).
    """
    indices = np.arange(len(test_digits))
    new, holdout = train_test_split(
        indices,
        test_size=drift["holdout_fraction"],
        stratify=test_digits.labels,
        random_state=drift["seed"],
    )
    corrupted = corrupt_image_set(test_digits, drift["corruption"], seed=drift["seed"])
    logger.info(
        "Drift: %s on %d new and %d holdout digits", drift["corruption"], len(new), len(holdout)
    )
    return corrupted.subset(new), corrupted.subset(holdout), test_digits.subset(new)
