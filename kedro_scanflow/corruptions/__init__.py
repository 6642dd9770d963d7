"""The MNIST-C corruptions (Mu & Gilmer 2019), written with NumPy, SciPy and scikit-image.

Fifteen ways to corrupt grayscale digits that a robust classifier should shrug off, at
the severities of the MNIST-C benchmark: noise (``shot_noise``, ``impulse_noise``), blur
(``glass_blur``, ``motion_blur``), affine transforms (``shear``, ``scale``, ``rotate``,
``translate``), photometric changes (``brightness``, ``stripe``, ``fog``), overlays
(``spatter``, ``dotted_line``, ``zigzag``) and ``canny_edges``. They work on whole
batches of any image size, and are seeded::

    corrupted = corrupt(images, "fog", seed=0)
"""

from __future__ import annotations

from kedro_scanflow.corruptions.nodes import corrupt_dataset, corrupt_datasets, corrupt_image_set
from kedro_scanflow.corruptions.registry import CORRUPTIONS, Corruption, corrupt, corruption_named

__all__ = [
    "CORRUPTIONS",
    "Corruption",
    "corrupt",
    "corrupt_dataset",
    "corrupt_datasets",
    "corrupt_image_set",
    "corruption_named",
]
