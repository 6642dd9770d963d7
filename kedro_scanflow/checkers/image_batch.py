"""The images a drift detector takes: checked and brought to one array form.

:meth:`DriftDetectorChecker.fit`, :meth:`~DriftDetectorChecker.score` and
:meth:`~DriftDetectorChecker.embed` accept an ``ImageSet`` or an array of grayscale
images, as uint8 pixels (0-255) or floats in ``[0, 1]``. :func:`as_image_batch` refuses
anything else with a message that says what is wrong, and hands the scorer a contiguous
``(n, h, w)`` array that keeps uint8 pixels as they are (4 times less data than floats).
"""

from __future__ import annotations

import numpy as np

from kedro_scanflow.io.image_set import ImageSet


def as_image_batch(
    images: ImageSet | np.ndarray, image_shape: tuple[int, int] | None
) -> np.ndarray:
    """Images as a contiguous ``(n, h, w)`` array: ``uint8``, or ``float32`` in ``[0, 1]``.

    Args:
        images: ``ImageSet`` or array ``(n, h, w)`` (or ``(n, h, w, 1)``) of uint8, other
            integer or boolean pixels 0-255, or float pixels in ``[0, 1]``.
        image_shape: ``(height, width)`` the images must have; any size when ``None``.

    Returns:
        The images, uint8 when their pixels are integers, otherwise float32.

    Raises:
        ValueError: When there are no images, when they are not ``(n, h, w)`` (or
            ``(n, h, w, 1)``), when their size is not ``image_shape``, when integer pixels
            fall outside 0-255, or when float pixels are NaN or outside ``[0, 1]``.
    """
    array = images.images if isinstance(images, ImageSet) else np.asarray(images)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise ValueError(
            f"DriftDetectorChecker expects grayscale images shaped (n, height, width), "
            f"got shape {array.shape}."
        )
    if len(array) == 0:
        raise ValueError("DriftDetectorChecker got no images (an empty batch).")
    if image_shape is not None and tuple(array.shape[1:]) != tuple(image_shape):
        raise ValueError(
            f"This drift detector works on {image_shape[0]}x{image_shape[1]} images, "
            f"got {array.shape[1]}x{array.shape[2]}."
        )
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise ValueError(
                f"Integer images must hold pixel values 0-255, got values from {low} to {high}."
            )
        return array.astype(np.uint8)
    array = np.ascontiguousarray(array, dtype=np.float32)
    low, high = float(array.min()), float(array.max())
    if not (low >= 0.0 and high <= 1.0):  # also false for NaN
        raise ValueError(
            f"Float images must be scaled to [0, 1] and hold no NaN, got values from "
            f"{low} to {high}; pass uint8 images (0-255) or divide by 255."
        )
    return array


def as_unit_float(batch: np.ndarray) -> np.ndarray:
    """Pixels of a batch as float32 in ``[0, 1]``, scaled like ``ImageSet.as_float``.

    Args:
        batch: ``(n, h, w)`` images from :func:`as_image_batch`.

    Returns:
        ``batch`` itself when it is float32 already, otherwise its uint8 pixels divided by 255.
    """
    if batch.dtype == np.uint8:
        return batch.astype(np.float32) / 255.0
    return batch
