"""Affine corruptions: the digit is sheared, shrunk, rotated or moved; its pixels stay intact.

Each corruption takes intensities ``(n, height, width)`` in ``[0, 1]`` and a NumPy random
generator, and returns corrupted intensities of the same shape. As in the reference
implementation, shear, scale and rotation keep the image centre fixed, sampling is
bilinear and whatever comes into view from outside the image is black. Images that draw
the same random direction are warped together, so each corruption costs a few
whole-batch warps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.ndimage import affine_transform

from kedro_scanflow.corruptions.reference_canvas import axis_scales

if TYPE_CHECKING:
    from collections.abc import Callable

SHEAR_ANGLE = 0.4
SCALE_FACTOR = 1 / 0.7
ROTATION_ANGLE = 0.4
TRANSLATION_PIXELS = 3


def shear(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Slant the digit by a shear angle of 0.4 radians, to the left or right at random.

    The shear is that of scikit-image's ``AffineTransform(shear=...)`` at the time
    MNIST-C was made, used as the map from output to input pixels: ``x' = x - sin(a) y``,
    ``y' = cos(a) y``.

    Args:
        images: Intensities ``(n, height, width)`` in ``[0, 1]``.
        rng: The source of randomness.

    Returns:
        The sheared intensities.
    """
    signs = rng.choice([-1.0, 1.0], size=len(images))
    return _warp_groups(
        images,
        signs,
        lambda sign: np.array(
            [[1.0, -np.sin(sign * SHEAR_ANGLE)], [0.0, np.cos(sign * SHEAR_ANGLE)]]
        ),
    )


def scale(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Zoom out by 1/0.7 about the centre, so the digit shrinks to 70% of its size.

    Deterministic; ``rng`` is accepted so that every corruption has the same signature.

    Args:
        images: Intensities ``(n, height, width)`` in ``[0, 1]``.
        rng: Unused.

    Returns:
        The scaled intensities.
    """
    return _warp(images, np.eye(2) * SCALE_FACTOR)


def rotate(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate the digit by 0.4 radians (about 23 degrees) about the centre, either way.

    Args:
        images: Intensities ``(n, height, width)`` in ``[0, 1]``.
        rng: The source of randomness.

    Returns:
        The rotated intensities.
    """
    signs = rng.choice([-1.0, 1.0], size=len(images))

    def rotation(sign: float) -> np.ndarray:
        cos, sin = np.cos(sign * ROTATION_ANGLE), np.sin(sign * ROTATION_ANGLE)
        return np.array([[cos, -sin], [sin, cos]])

    return _warp_groups(images, signs, rotation)


def translate(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Move the digit 3 pixels horizontally and 3 vertically, each direction at random.

    On images other than 28x28 the shift is ``3 * size / 28`` rounded to whole pixels
    (at least one), so the digit moves without being resampled.

    Args:
        images: Intensities ``(n, height, width)`` in ``[0, 1]``.
        rng: The source of randomness.

    Returns:
        The shifted intensities.
    """
    row_scale, col_scale = axis_scales(images.shape[1:])
    shift_rows = max(1, round(TRANSLATION_PIXELS * row_scale))
    shift_cols = max(1, round(TRANSLATION_PIXELS * col_scale))
    directions = rng.choice([-1, 1], size=(len(images), 2))
    shifted = np.empty_like(images)
    for direction in np.unique(directions, axis=0):
        members = np.all(directions == direction, axis=1)
        offset = np.array([direction[1] * shift_rows, direction[0] * shift_cols], dtype=float)
        shifted[members] = _warp(images[members], np.eye(2), offset)
    return shifted


def _warp_groups(
    images: np.ndarray, signs: np.ndarray, matrix_for: Callable[[float], np.ndarray]
) -> np.ndarray:
    warped = np.empty_like(images)
    for sign in np.unique(signs):
        members = signs == sign
        warped[members] = _warp(images[members], matrix_for(float(sign)))
    return warped


def _warp(
    images: np.ndarray, matrix_xy: np.ndarray, offset_rc: np.ndarray | None = None
) -> np.ndarray:
    """Sample every output pixel at ``centre + matrix @ (pixel - centre) + offset``.

    ``matrix_xy`` acts on (x=column, y=row) coordinates like scikit-image's transforms;
    ``offset_rc`` is in (row, column) order.
    """
    height, width = images.shape[1:]
    centre = np.array([(height - 1) / 2, (width - 1) / 2])
    matrix_rc = matrix_xy[::-1, ::-1]
    offset = centre - matrix_rc @ centre
    if offset_rc is not None:
        offset = offset + offset_rc
    return affine_transform(
        images,
        np.block([[np.eye(1), np.zeros((1, 2))], [np.zeros((2, 1)), matrix_rc]]),
        offset=np.concatenate([[0.0], offset]),
        order=1,
        mode="grid-constant",
        cval=0.0,
    )
