"""Corrupting :class:`ImageSet` values, and the node functions that do it in a Kedro pipeline.

A pipeline that builds its own MNIST-C from clean images (for example when the published
files are not at hand, or for digits of another size) wires these functions as nodes::

    from kedro.pipeline import node

    node(
        corrupt_dataset,
        inputs=["mnist_test", "params:corruption", "params:corruption_seed"],
        outputs="mnist_test_corrupted",
    )

    node(
        corrupt_datasets,
        inputs=["mnist_test", "params:corruptions", "params:corruption_seed"],
        outputs={"fog": "mnist_c_fog", "zigzag": "mnist_c_zigzag"},
    )
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kedro_scanflow.corruptions.registry import CORRUPTIONS, corrupt, corruption_named
from kedro_scanflow.io.image_set import ImageSet

if TYPE_CHECKING:
    from collections.abc import Sequence

logger = logging.getLogger(__name__)


def corrupt_image_set(image_set: ImageSet, name: str, seed: int = 0) -> ImageSet:
    """Apply the MNIST-C corruption ``name`` to every image of ``image_set``.

    Args:
        image_set: The clean images.
        name: One of :data:`~kedro_scanflow.corruptions.CORRUPTIONS`.
        seed: Seed of the random generator.

    Returns:
        The corrupted images, same dtype and size, with the labels of ``image_set``.

    Raises:
        ValueError: When ``name`` is not a corruption or the images cannot be corrupted
            (see :func:`~kedro_scanflow.corruptions.corrupt`).
    """
    return ImageSet(corrupt(image_set.images, name, seed), image_set.labels)


def corrupt_dataset(clean: ImageSet, corruption: str, seed: int) -> ImageSet:
    """Kedro node: the corrupted copy of a clean image set, labels kept.

    Args:
        clean: The clean images, e.g. the MNIST test set.
        corruption: The corruption's MNIST-C name, typically from ``params:``.
        seed: Seed of the random generator, so that reruns give the same data.

    Returns:
        The corrupted image set.

    Raises:
        ValueError: When ``corruption`` is not an MNIST-C corruption.
    """
    corrupted = corrupt_image_set(clean, corruption, seed)
    logger.info("Corrupted %d images with %r (seed %d).", len(clean), corruption, seed)
    return corrupted


def corrupt_datasets(
    clean: ImageSet, corruptions: Sequence[str] | None = None, seed: int = 0
) -> dict[str, ImageSet]:
    """Kedro node: one corrupted copy of a clean image set per corruption.

    Every corruption uses the same ``seed``; returning a dictionary lets a node map each
    corruption to its own catalog entry (``outputs={"fog": "mnist_c_fog", ...}``).

    Args:
        clean: The clean images.
        corruptions: MNIST-C names; all fifteen, in the benchmark's order, when ``None``.
        seed: Seed of the random generator.

    Returns:
        The corrupted image sets by corruption name, in the order asked for.

    Raises:
        ValueError: When a name is not an MNIST-C corruption (checked before any work).
    """
    names = list(CORRUPTIONS) if corruptions is None else list(corruptions)
    for name in names:
        corruption_named(name)
    return {name: corrupt_dataset(clean, name, seed) for name in names}
