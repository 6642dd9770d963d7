"""The edge corruption: the digit is replaced by the outline of its strokes.

Takes intensities ``(n, height, width)`` in ``[0, 1]`` and a NumPy random generator, and
returns corrupted intensities of the same shape.
"""

from __future__ import annotations

import numpy as np
from skimage.feature import canny

from kedro_scanflow.corruptions.reference_canvas import length_scale

CANNY_SIGMA = 1.0


def canny_edges(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Keep only the Canny edges of each image, in white on black.

    Uses scikit-image's Canny detector with its default thresholds, as the reference
    does, and a smoothing sigma of 1 pixel on 28x28 images (scaled with the image size).
    scikit-image's detector works on one 2-D image at a time, hence the loop over the
    batch. Deterministic; ``rng`` is unused.

    Args:
        images: Intensities ``(n, height, width)`` in ``[0, 1]``.
        rng: Unused.

    Returns:
        Binary intensities: 1 on edge pixels, 0 elsewhere.
    """
    sigma = CANNY_SIGMA * length_scale(images.shape[1:])
    edges = np.empty(images.shape, dtype=np.float64)
    for index, image in enumerate(images):
        edges[index] = canny(image, sigma=sigma)
    return edges
