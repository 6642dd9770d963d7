"""The 28x28 canvas that MNIST-C's severities are defined on, and how they carry to other sizes.

Mu & Gilmer chose every length of MNIST-C (blur radii, shifts, stroke widths, the patch
of fog) for 28x28 MNIST digits. So that a corruption means the same thing on 8x8 or
32x32 digits, lengths are scaled by the image's size relative to that canvas, and the
random overlays (fog, spatter, lines) are drawn on the reference canvas and resampled to
the image. On 28x28 images nothing is scaled or resampled: the corruptions are exactly
those of the reference implementation.
"""

from __future__ import annotations

import numpy as np
from skimage.transform import resize

REFERENCE_SIZE = 28


def length_scale(image_shape: tuple[int, int]) -> float:
    """How many pixels of an image ``(height, width)`` one pixel of the 28x28 canvas spans.

    The geometric mean of both axes, for lengths without a direction (blur radii).
    """
    height, width = image_shape
    return float(np.sqrt(height * width)) / REFERENCE_SIZE


def axis_scales(image_shape: tuple[int, int]) -> tuple[float, float]:
    """The vertical and horizontal scale of an image ``(height, width)`` against the canvas."""
    height, width = image_shape
    return height / REFERENCE_SIZE, width / REFERENCE_SIZE


def fit_to_images(layers: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """Resample overlays drawn on the reference canvas to the size of the images.

    Args:
        layers: Overlays ``(n, 28, 28)`` with values in ``[0, 1]``.
        image_shape: ``(height, width)`` of the images they will cover.

    Returns:
        The overlays ``(n, height, width)``: unchanged for 28x28 images, otherwise
        bilinearly resampled (smoothed first when shrinking, so thin strokes fade
        rather than break up).
    """
    if tuple(image_shape) == (REFERENCE_SIZE, REFERENCE_SIZE):
        return layers
    return resize(
        layers,
        (len(layers), *image_shape),
        order=1,
        mode="edge",
        anti_aliasing=True,
        preserve_range=True,
    )
