"""The image batches that corruptions accept, and the intensity scale they compute on.

Users pass grayscale batches as they store them: ``uint8`` (or any integer type) on the
``0..255`` scale, or floats already scaled to ``[0, 1]``. Every corruption computes on
float intensities in ``[0, 1]`` shaped ``(n, height, width)``; :func:`to_intensities`
checks a batch and converts it, :func:`from_intensities` clips the corrupted intensities
and gives them back in the caller's dtype, scale and shape.
"""

from __future__ import annotations

import numpy as np

_MAX_LEVEL = 255.0
_COLOUR_CHANNELS = (3, 4)
_FLOAT_TOLERANCE = 1e-6


def to_intensities(images: np.ndarray) -> np.ndarray:
    """Check a batch of grayscale images and return its intensities in ``[0, 1]``.

    Args:
        images: ``(n, height, width)`` or ``(n, height, width, 1)`` (the layout of the
            published MNIST-C files); integers on the ``0..255`` scale or floats in ``[0, 1]``.

    Returns:
        A new float64 array ``(n, height, width)`` with values in ``[0, 1]``.

    Raises:
        ValueError: When the batch is not a stack of grayscale images (a single image,
            colour images, a flat feature matrix), is not numeric, holds NaN or infinite
            values, or holds values outside the range of its dtype's scale.
    """
    array = np.asarray(images)
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise ValueError(
            f"Images must be integers on the 0..255 scale or floats in [0, 1], "
            f"got dtype {array.dtype}."
        )
    grayscale = _grayscale_view(array)
    if np.issubdtype(array.dtype, np.floating):
        return _float_intensities(grayscale)
    low, high = (int(grayscale.min()), int(grayscale.max())) if grayscale.size else (0, 0)
    if low < 0 or high > _MAX_LEVEL:
        raise ValueError(
            f"Integer images must hold levels in 0..255, got values in [{low}, {high}]."
        )
    return grayscale.astype(np.float64) / _MAX_LEVEL


def from_intensities(intensities: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Express corrupted intensities in the dtype, scale and shape of the original batch.

    Args:
        intensities: Corrupted intensities ``(n, height, width)``; values outside
            ``[0, 1]`` are clipped.
        like: The batch the caller passed in.

    Returns:
        An array with the shape and dtype of ``like``: integer levels rounded to the
        nearest of ``0..255``, or floats in ``[0, 1]``.
    """
    like = np.asarray(like)
    clipped = np.clip(intensities, 0.0, 1.0)
    if np.issubdtype(like.dtype, np.integer):
        clipped = np.rint(clipped * _MAX_LEVEL)
    return clipped.astype(like.dtype, copy=False).reshape(like.shape)


def _grayscale_view(array: np.ndarray) -> np.ndarray:
    if array.ndim == 4 and array.shape[-1] == 1:
        return array[..., 0]
    if array.ndim == 4 and array.shape[-1] in _COLOUR_CHANNELS:
        raise ValueError(
            f"Corruptions work on grayscale images shaped (n, height, width), got colour "
            f"images shaped {array.shape}; convert them to grayscale first "
            f"(e.g. skimage.color.rgb2gray)."
        )
    if array.ndim == 2:
        raise ValueError(
            f"Corruptions work on a batch of images shaped (n, height, width), got one "
            f"array shaped {array.shape}; pass a single image as images[np.newaxis]."
        )
    if array.ndim != 3:
        raise ValueError(
            f"Corruptions work on grayscale images shaped (n, height, width), got an "
            f"array shaped {array.shape}."
        )
    if array.shape[1] == 0 or array.shape[2] == 0:
        raise ValueError(f"Images must have at least one pixel, got shape {array.shape}.")
    return array


def _float_intensities(array: np.ndarray) -> np.ndarray:
    not_finite = ~np.isfinite(array)
    if not_finite.any():
        nan_count = int(np.isnan(array).sum())
        raise ValueError(
            f"Images contain {nan_count} NaN and {int(not_finite.sum()) - nan_count} "
            f"infinite values; corruptions need finite intensities in [0, 1]."
        )
    intensities = array.astype(np.float64)
    if intensities.size and (
        intensities.min() < -_FLOAT_TOLERANCE or intensities.max() > 1 + _FLOAT_TOLERANCE
    ):
        raise ValueError(
            f"Float images must hold intensities in [0, 1], got values in "
            f"[{intensities.min():g}, {intensities.max():g}]; divide 0..255 images by 255 "
            f"or pass them as uint8."
        )
    return np.clip(intensities, 0.0, 1.0)
