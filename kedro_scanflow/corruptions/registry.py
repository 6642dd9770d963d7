"""The fifteen MNIST-C corruptions by name, and :func:`corrupt`, which applies one to a batch.

The names and their order are those of the MNIST-C benchmark (Mu & Gilmer 2019) and of
the folders of its published data set. Every corruption in :data:`CORRUPTIONS` has the
signature of :data:`Corruption`; :func:`corrupt` adds what users need around it:
checking the batch, converting its dtype, seeding, clipping.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np

from kedro_scanflow.corruptions.affine import rotate, scale, shear, translate
from kedro_scanflow.corruptions.blur import glass_blur, motion_blur
from kedro_scanflow.corruptions.edges import canny_edges
from kedro_scanflow.corruptions.image_batch import from_intensities, to_intensities
from kedro_scanflow.corruptions.noise import impulse_noise, shot_noise
from kedro_scanflow.corruptions.overlays import dotted_line, spatter, zigzag
from kedro_scanflow.corruptions.photometric import brightness, fog, stripe

Corruption = Callable[[np.ndarray, np.random.Generator], np.ndarray]
"""A corruption: intensities ``(n, height, width)`` in ``[0, 1]`` and a random generator
in, corrupted intensities of the same shape out."""

CORRUPTIONS: Mapping[str, Corruption] = MappingProxyType(
    {
        "shot_noise": shot_noise,
        "impulse_noise": impulse_noise,
        "glass_blur": glass_blur,
        "motion_blur": motion_blur,
        "shear": shear,
        "scale": scale,
        "rotate": rotate,
        "brightness": brightness,
        "translate": translate,
        "stripe": stripe,
        "fog": fog,
        "spatter": spatter,
        "dotted_line": dotted_line,
        "zigzag": zigzag,
        "canny_edges": canny_edges,
    }
)
"""The MNIST-C corruptions, by name, in the benchmark's order (read-only)."""


def corruption_named(name: str) -> Corruption:
    """Look a corruption up by its MNIST-C name.

    Raises:
        ValueError: When no corruption has that name; the message suggests the closest
            names and lists all valid ones.
    """
    try:
        return CORRUPTIONS[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), CORRUPTIONS, n=2, cutoff=0.6)
        suggestion = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"Unknown corruption {name!r}.{suggestion} "
            f"Valid corruptions are: {', '.join(CORRUPTIONS)}."
        ) from None


def corrupt(images: np.ndarray, name: str, seed: int = 0) -> np.ndarray:
    """Apply the MNIST-C corruption ``name`` to a batch of grayscale images.

    Every image gets its own random draw (direction, noise, fog...); the same images,
    name and seed always give the same result.

    Args:
        images: ``(n, height, width)`` or ``(n, height, width, 1)`` grayscale images of
            any size, either integers on the ``0..255`` scale (typically ``uint8``) or
            floats in ``[0, 1]``.
        name: One of :data:`CORRUPTIONS`, e.g. ``"fog"``.
        seed: Seed of the random generator.

    Returns:
        The corrupted images, with the shape and dtype of ``images`` and values in the
        same range (integers rounded, everything clipped).

    Raises:
        ValueError: When ``name`` is not a corruption, or ``images`` is not a batch of
            grayscale images with finite values in range.
    """
    corruption = corruption_named(name)
    intensities = to_intensities(images)
    if len(intensities) == 0:
        return np.array(images, copy=True)
    corrupted = corruption(intensities, np.random.default_rng(seed))
    return from_intensities(corrupted, like=images)
