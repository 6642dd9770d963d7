"""Photometric corruptions: the digit keeps its place and shape, its intensities change.

Each corruption takes intensities ``(n, height, width)`` in ``[0, 1]`` and a NumPy random
generator, and returns corrupted intensities of the same shape.
"""

from __future__ import annotations

import numpy as np

from kedro_scanflow.corruptions.plasma_fractal import plasma_fractal
from kedro_scanflow.corruptions.reference_canvas import REFERENCE_SIZE, fit_to_images

BRIGHTNESS_SHIFT = 0.5
STRIPE_WIDTH = 7
FOG_DENSITY = 3.0
FOG_WIBBLE_DECAY = 1.4
FOG_MAP_SIZE = 256
_FOG_BATCH = 64


def brightness(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brighten every pixel by 0.5 in the HSV value channel.

    The reference implementation converts the gray image to RGB, adds 0.5 to the HSV
    value, and converts back to gray. A gray pixel has zero saturation and a value equal
    to its intensity, and the luminance weights sum to one, so this is exactly adding
    0.5 to the intensity and clipping at white. Deterministic; ``rng`` is unused.

    Args:
        images: Intensities ``(n, height, width)`` in ``[0, 1]``.
        rng: Unused.

    Returns:
        The brightened intensities.
    """
    return np.clip(images + BRIGHTNESS_SHIFT, 0.0, 1.0)


def stripe(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Invert two vertical bands: the left and right quarter of the image.

    On 28x28 images these are columns 0-6 and 21-27 as in the reference; other widths
    invert ``round(7 * width / 28)`` columns on each side. Deterministic; ``rng`` is unused.

    Args:
        images: Intensities ``(n, height, width)`` in ``[0, 1]``.
        rng: Unused.

    Returns:
        The striped intensities.
    """
    band = stripe_width(images.shape[2])
    right = images.shape[2] - band
    striped = images.copy()
    striped[:, :, :band] = 1.0 - images[:, :, :band]
    striped[:, :, right:] = 1.0 - images[:, :, right:]
    return striped


def stripe_width(image_width: int) -> int:
    """How many columns :func:`stripe` inverts on each side of an image this wide."""
    return round(STRIPE_WIDTH * image_width / REFERENCE_SIZE)


def fog(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lay a cloud of fog over the image and lower its contrast.

    Each image gets its own plasma fractal (a 256x256 map, wibble decay 1.4). As in the
    reference, the map's top-left 28x28 corner, weighted by 3, is added to the image and
    the sum is scaled by ``peak / (peak + 3)``, where ``peak`` is the image's brightest
    level: the background turns into cloudy gray, the strokes dim, and nothing gets
    brighter than the clean digit was. On other sizes that corner is resampled to the
    image.

    Args:
        images: Intensities ``(n, height, width)`` in ``[0, 1]``.
        rng: The source of randomness.

    Returns:
        The foggy intensities.
    """
    clouds = np.concatenate(
        [
            plasma_fractal(
                min(_FOG_BATCH, len(images) - start), rng, FOG_MAP_SIZE, FOG_WIBBLE_DECAY
            )[:, :REFERENCE_SIZE, :REFERENCE_SIZE]
            for start in range(0, len(images), _FOG_BATCH)
        ]
    )
    clouds = fit_to_images(clouds.astype(np.float64), images.shape[1:])
    peak = images.max(axis=(1, 2), keepdims=True)
    return (images + FOG_DENSITY * clouds) * peak / (peak + FOG_DENSITY)
