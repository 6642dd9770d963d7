"""Noise corruptions: every pixel is disturbed independently of its neighbours.

Each corruption takes intensities ``(n, height, width)`` in ``[0, 1]`` and a NumPy random
generator, and returns corrupted intensities of the same shape.
"""

from __future__ import annotations

import numpy as np

SHOT_NOISE_PHOTONS = 3.0
IMPULSE_NOISE_AMOUNT = 0.17


def shot_noise(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Photon (Poisson) noise, as from a sensor that caught very little light.

    Each pixel counts ``Poisson(3 * intensity)`` photons and shows ``count / 3``, so a
    white stroke flickers between a few grey levels and the background stays black.

    Args:
        images: Intensities ``(n, height, width)`` in ``[0, 1]``.
        rng: The source of randomness.

    Returns:
        The noisy intensities, clipped to ``[0, 1]``.
    """
    counts = rng.poisson(images * SHOT_NOISE_PHOTONS)
    return np.clip(counts / SHOT_NOISE_PHOTONS, 0.0, 1.0)


def impulse_noise(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Salt-and-pepper noise: 17% of the pixels become black or white, with even odds.

    Args:
        images: Intensities ``(n, height, width)`` in ``[0, 1]``.
        rng: The source of randomness.

    Returns:
        The noisy intensities.
    """
    flipped = rng.random(images.shape) < IMPULSE_NOISE_AMOUNT
    salt = rng.random(images.shape) < 0.5
    noisy = images.copy()
    noisy[flipped & salt] = 1.0
    noisy[flipped & ~salt] = 0.0
    return noisy
