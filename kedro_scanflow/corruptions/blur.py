"""Blur corruptions: strokes lose their sharp edges.

Each corruption takes intensities ``(n, height, width)`` in ``[0, 1]`` and a NumPy random
generator, and returns corrupted intensities of the same shape. Radii are those of the
reference implementation for 28x28 images and scale with the image size
(:mod:`kedro_scanflow.corruptions.reference_canvas`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter

from kedro_scanflow.corruptions.reference_canvas import axis_scales, length_scale

GLASS_BLUR_SIGMA = 0.7
GLASS_BLUR_MAX_DELTA = 1
GLASS_BLUR_ITERATIONS = 2
MOTION_BLUR_RADIUS = 10.0
MOTION_BLUR_SIGMA = 3.0
MOTION_BLUR_MAX_ANGLE = 45.0


def glass_blur(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Frosted glass: a light Gaussian blur, pixels swapped with their neighbours, blur again.

    As in the reference implementation (sigma 0.7, max delta 1, two iterations), two
    sweeps visit every inner pixel from the bottom-right corner to the top-left one;
    each visited pixel is swapped, with probability 1/2, with the pixel at a random
    offset in ``[-1, 0]`` on each axis (the reference draws in ``[-delta, delta)``). A
    pixel can therefore travel several steps up and left within one sweep. Sweeps run
    pixel by pixel (each swap sees the previous ones) but over the whole batch at once.
    On other image sizes sigma scales with the size and swaps reach at least one pixel.

    Args:
        images: Intensities ``(n, height, width)`` in ``[0, 1]``.
        rng: The source of randomness.

    Returns:
        The blurred intensities.
    """
    count, height, width = images.shape
    sigma_rows, sigma_cols = (GLASS_BLUR_SIGMA * scale for scale in axis_scales((height, width)))
    max_delta = max(
        GLASS_BLUR_MAX_DELTA, round(GLASS_BLUR_MAX_DELTA * length_scale((height, width)))
    )
    glass = gaussian_filter(images, sigma=(0, sigma_rows, sigma_cols), mode="nearest")
    rows = range(height - max_delta, max_delta, -1)
    cols = range(width - max_delta, max_delta, -1)
    batch = np.arange(count)
    for _ in range(GLASS_BLUR_ITERATIONS):
        swapping = rng.random((len(rows), len(cols), count)) < 0.5
        offsets = rng.integers(-max_delta, max_delta, size=(len(rows), len(cols), 2, count))
        offsets *= swapping[:, :, np.newaxis, :]
        for i, row in enumerate(rows):
            for j, col in enumerate(cols):
                other_rows = row + offsets[i, j, 0]
                other_cols = col + offsets[i, j, 1]
                visited = glass[:, row, col].copy()
                glass[:, row, col] = glass[batch, other_rows, other_cols]
                glass[batch, other_rows, other_cols] = visited
    return gaussian_filter(glass, sigma=(0, sigma_rows, sigma_cols), mode="nearest")


def motion_blur(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Camera shake: each image smeared along its own random direction.

    The kernel is ImageMagick's ``MotionBlurImage`` (radius 10, sigma 3) that the
    reference implementation calls: a one-sided Gaussian over ``2 * ceil(radius) + 1``
    pixels along a line at an angle drawn uniformly in ``[-45, 45]`` degrees, each tap
    rounded to the nearest pixel, with the border pixels repeated outside the image.

    Args:
        images: Intensities ``(n, height, width)`` in ``[0, 1]``.
        rng: The source of randomness.

    Returns:
        The blurred intensities.
    """
    count, height, width = images.shape
    scale = length_scale((height, width))
    radius, sigma = MOTION_BLUR_RADIUS * scale, MOTION_BLUR_SIGMA * scale
    taps = np.arange(2 * math.ceil(radius) + 1)
    weights = np.exp(-(taps**2) / (2.0 * sigma**2))
    weights /= weights.sum()
    angles = np.deg2rad(rng.uniform(-MOTION_BLUR_MAX_ANGLE, MOTION_BLUR_MAX_ANGLE, count))
    col_offsets = np.ceil(np.outer(np.cos(angles), taps) - 0.5).astype(np.intp)
    row_offsets = np.ceil(np.outer(np.sin(angles), taps) - 0.5).astype(np.intp)
    batch = np.arange(count)[:, np.newaxis, np.newaxis]
    rows = np.arange(height)[np.newaxis, :, np.newaxis]
    cols = np.arange(width)[np.newaxis, np.newaxis, :]
    blurred = np.zeros_like(images)
    for tap, weight in enumerate(weights):
        tap_rows = np.clip(rows + row_offsets[:, tap, np.newaxis, np.newaxis], 0, height - 1)
        tap_cols = np.clip(cols + col_offsets[:, tap, np.newaxis, np.newaxis], 0, width - 1)
        blurred += weight * images[batch, tap_rows, tap_cols]
    return blurred
