"""Overlay corruptions: something lies on top of the digit (mud, a dotted line, a zigzag).

Each corruption takes intensities ``(n, height, width)`` in ``[0, 1]`` and a NumPy random
generator, and returns corrupted intensities of the same shape. Overlays are drawn on
the 28x28 reference canvas with the reference implementation's geometry and resampled
to other image sizes (:mod:`kedro_scanflow.corruptions.reference_canvas`).

Strokes are drawn like the reference's ``line_from_points``: a pixel at vertical
distance ``d`` from the line gets ``1 + ln(1 - d / 2.3)`` (clipped at 0), so a stroke is
white on the line and fades out within about 1.45 pixels above and below it; it covers
the columns from ``floor(start)`` to ``ceil(end)``, ``end`` excluded.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from kedro_scanflow.corruptions.reference_canvas import REFERENCE_SIZE, fit_to_images

SPATTER_MEAN = 0.65
SPATTER_SPREAD = 0.3
SPATTER_GRAIN = 1.0
SPATTER_THRESHOLD = 0.65
SPATTER_BLOB_SMOOTHING = 1.5
SPATTER_BLOB_THRESHOLD = 0.8
SPATTER_MUD_LEVEL = 63 / 255
DASH_LENGTH = 2
ZIGZAG_TOOTH_LENGTH = 2.0
ZIGZAG_TOOTH_HEIGHT = 2.0
ZIGZAG_START_COLUMN = 2
ZIGZAG_END_COLUMN = 25
ZIGZAG_MAX_RISE = 5
_STROKE_REACH = 2.3
_LAST_ROW = REFERENCE_SIZE - 1


def spatter(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Splash blobs of dark gray mud over the image, hiding what lies under them.

    As in the reference (its severity 4): Gaussian noise (mean 0.65, standard deviation
    0.3) is smoothed with sigma 1 and thresholded at 0.65; the resulting mask is smoothed
    with sigma 1.5 and kept where it reaches 0.8. Under the mask ``m`` a pixel becomes
    ``(1 - m) * pixel + m * 63 / 255``.

    Args:
        images: Intensities ``(n, height, width)`` in ``[0, 1]``.
        rng: The source of randomness.

    Returns:
        The spattered intensities.
    """
    canvas = (len(images), REFERENCE_SIZE, REFERENCE_SIZE)
    liquid = rng.normal(SPATTER_MEAN, SPATTER_SPREAD, size=canvas)
    liquid = gaussian_filter(liquid, sigma=(0, SPATTER_GRAIN, SPATTER_GRAIN), mode="nearest")
    wet = (liquid > SPATTER_THRESHOLD).astype(np.float64)
    mud = gaussian_filter(
        wet, sigma=(0, SPATTER_BLOB_SMOOTHING, SPATTER_BLOB_SMOOTHING), mode="nearest"
    )
    mud[mud < SPATTER_BLOB_THRESHOLD] = 0.0
    mud = fit_to_images(mud, images.shape[1:])
    return images * (1.0 - mud) + SPATTER_MUD_LEVEL * mud


def dotted_line(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw a dashed line across the whole image, from a random row on the left edge to a
    random row on the right edge.

    The rows are drawn in ``0..26``; dashes and gaps are two columns long, the first
    gap at columns 0-1, as in the reference.

    Args:
        images: Intensities ``(n, height, width)`` in ``[0, 1]``.
        rng: The source of randomness.

    Returns:
        The intensities with the line added (clipped at white).
    """
    start_rows, end_rows = rng.integers(0, _LAST_ROW, size=(2, len(images)))
    lines = _strokes(
        np.zeros(len(images)), start_rows, np.full(len(images), float(_LAST_ROW)), end_rows
    )
    gaps = (np.arange(REFERENCE_SIZE) // DASH_LENGTH) % 2 == 0
    lines[:, :, gaps] = 0.0
    return np.clip(images + fit_to_images(lines, images.shape[1:]), 0.0, 1.0)


def zigzag(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw a zigzag line from column 2 to column 25 at a random height and slope.

    As in the reference: the zigzag starts at a random row ``r0`` in ``0..26`` and runs
    towards row ``r0 + k`` (``k`` in ``-5..4``); its teeth are 2 pixels long and reach
    2 pixels to either side of that axis, and the last, shorter, tooth ends close to
    the axis.

    Args:
        images: Intensities ``(n, height, width)`` in ``[0, 1]``.
        rng: The source of randomness.

    Returns:
        The intensities with the zigzag added (clipped at white).
    """
    start_rows = rng.integers(0, _LAST_ROW, size=len(images)).astype(np.float64)
    rises = rng.integers(-ZIGZAG_MAX_RISE, ZIGZAG_MAX_RISE, size=len(images))
    lines = np.zeros((len(images), REFERENCE_SIZE, REFERENCE_SIZE))
    for rise in np.unique(rises):
        members = np.flatnonzero(rises == rise)
        cols, rows = _zigzag_vertices(float(rise))
        for segment in range(len(cols) - 1):
            lines[members] += _strokes(
                np.full(len(members), cols[segment]),
                start_rows[members] + rows[segment],
                np.full(len(members), cols[segment + 1]),
                start_rows[members] + rows[segment + 1],
            )
    return np.clip(images + fit_to_images(np.clip(lines, 0.0, 1.0), images.shape[1:]), 0.0, 1.0)


def _zigzag_vertices(rise: float) -> tuple[np.ndarray, np.ndarray]:
    """Columns and rows (relative to the start row) of the zigzag rising by ``rise``."""
    run = ZIGZAG_END_COLUMN - ZIGZAG_START_COLUMN
    angle = np.arctan(rise / run)
    length = run / np.cos(angle)
    tooth, height = ZIGZAG_TOOTH_LENGTH, ZIGZAG_TOOTH_HEIGHT
    vertices = [(0.0, 0.0)]
    for i in range(int((length - tooth) // (2 * tooth)) + 1):
        vertices.append(((2 * i + 1) * tooth, (-1) ** i * height))
    whole_teeth = 2 * tooth * (length // (2 * tooth))
    if length != whole_teeth:
        vertices.append((length, vertices[-1][1] / (2 * (length - whole_teeth))))
    along, across = np.array(vertices).T
    cols = along * np.cos(angle) - across * np.sin(angle) + ZIGZAG_START_COLUMN
    rows = along * np.sin(angle) + across * np.cos(angle)
    return cols, rows


def _strokes(
    start_cols: np.ndarray, start_rows: np.ndarray, end_cols: np.ndarray, end_rows: np.ndarray
) -> np.ndarray:
    """Draw one straight stroke per image on the reference canvas, shaped ``(n, 28, 28)``."""
    start_cols, end_cols = start_cols[:, None, None], end_cols[:, None, None]
    start_rows, end_rows = start_rows[:, None, None], end_rows[:, None, None]
    cols = np.arange(REFERENCE_SIZE, dtype=np.float64)[None, None, :]
    rows = np.arange(REFERENCE_SIZE, dtype=np.float64)[None, :, None]
    vertical = end_cols == start_cols
    slope = (end_rows - start_rows) / np.where(vertical, 1.0, end_cols - start_cols)
    distance = np.clip(
        np.abs(rows - (slope * (cols - start_cols) + start_rows)), 0.0, _STROKE_REACH - 1e-10
    )
    strokes = np.clip(np.log(1.0 - distance / _STROKE_REACH) + 1.0, 0.0, 1.0)
    outside = (cols < np.floor(start_cols)) | (cols >= np.ceil(end_cols)) | vertical
    return np.where(outside, 0.0, strokes)
