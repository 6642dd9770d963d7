"""Plasma fractals: the cloud-like height maps that the fog corruption lays over images.

The diamond-square algorithm starts from a single corner and repeatedly fills the
centres of squares, then the centres of diamonds, with the mean of their neighbours
plus a random "wibble" that shrinks by ``wibble_decay`` at every halving of the step.
A slow decay keeps more fine detail. The map wraps around at its edges.
"""

from __future__ import annotations

import numpy as np

_INITIAL_WIBBLE = 100.0


def plasma_fractal(
    count: int, rng: np.random.Generator, map_size: int = 256, wibble_decay: float = 3.0
) -> np.ndarray:
    """Draw ``count`` independent plasma fractals at once.

    Args:
        count: How many maps to draw.
        rng: The source of randomness.
        map_size: Side of each square map; a power of two.
        wibble_decay: How much the random displacement shrinks at each finer level.

    Returns:
        Float32 maps ``(count, map_size, map_size)``, each rescaled to span ``[0, 1]``.

    Raises:
        ValueError: When ``map_size`` is not a power of two.
    """
    if map_size < 2 or map_size & (map_size - 1):
        raise ValueError(f"plasma_fractal needs a power-of-two map_size, got {map_size}.")
    maps = np.zeros((count, map_size, map_size), dtype=np.float32)
    step, wibble = map_size, _INITIAL_WIBBLE
    while step >= 2:
        half = step // 2
        _fill_squares(maps, step, half, wibble, rng)
        _fill_diamonds(maps, step, half, wibble, rng)
        step //= 2
        wibble /= wibble_decay
    maps -= maps.min(axis=(1, 2), keepdims=True)
    maps /= np.maximum(maps.max(axis=(1, 2), keepdims=True), np.finfo(np.float32).tiny)
    return maps


def _wibbled_mean(sums: np.ndarray, wibble: float, rng: np.random.Generator) -> np.ndarray:
    uniform = rng.random(sums.shape, dtype=np.float32)
    return sums / 4 + wibble * wibble * (2 * uniform - 1)


def _fill_squares(
    maps: np.ndarray, step: int, half: int, wibble: float, rng: np.random.Generator
) -> None:
    corners = maps[:, ::step, ::step]
    sums = corners + np.roll(corners, -1, axis=1)
    sums += np.roll(sums, -1, axis=2)
    maps[:, half::step, half::step] = _wibbled_mean(sums, wibble, rng)


def _fill_diamonds(
    maps: np.ndarray, step: int, half: int, wibble: float, rng: np.random.Generator
) -> None:
    centres = maps[:, half::step, half::step]
    corners = maps[:, ::step, ::step]
    top_edges = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=2)
    left_edges = centres + np.roll(centres, 1, axis=2) + corners + np.roll(corners, -1, axis=1)
    maps[:, ::step, half::step] = _wibbled_mean(top_edges, wibble, rng)
    maps[:, half::step, ::step] = _wibbled_mean(left_edges, wibble, rng)
