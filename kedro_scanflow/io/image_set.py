"""``ImageSet``: a batch of grayscale images with optional labels.

This is the value that image datasets load and save and that the MNIST nodes, the
checkers and the improvers pass around, so that images and their labels never drift
apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Grayscale images ``(n, height, width)`` and, when known, their integer labels ``(n,)``.

    Raises:
        ValueError: When images are not a 3-D array (colour images, a single image, a
            flat feature matrix) or when labels do not match the images one to one.
    """

    images: np.ndarray
    labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        images = np.asarray(self.images)
        if images.ndim == 4 and images.shape[-1] == 1:
            images = images[..., 0]
        if images.ndim != 3:
            hint = (
                " Colour images are not supported; convert them to grayscale first."
                if images.ndim == 4
                else ""
            )
            raise ValueError(
                f"ImageSet expects grayscale images shaped (n, height, width), "
                f"got shape {images.shape}.{hint}"
            )
        object.__setattr__(self, "images", images)
        if self.labels is not None:
            labels = np.asarray(self.labels)
            if labels.ndim != 1 or len(labels) != len(images):
                raise ValueError(
                    f"ImageSet labels must be one per image: {len(images)} images but "
                    f"labels shaped {labels.shape}."
                )
            if not np.issubdtype(labels.dtype, np.integer):
                if not np.all(np.equal(np.mod(labels, 1), 0)):
                    raise ValueError("ImageSet labels must be integers (class indices).")
                labels = labels.astype(np.int64)
            object.__setattr__(self, "labels", labels)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(height, width)`` of every image."""
        return self.images.shape[1], self.images.shape[2]

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageSet:
        """The images (and labels) at ``indices``, in that order."""
        index = np.asarray(indices)
        labels = None if self.labels is None else self.labels[index]
        return ImageSet(self.images[index], labels)

    def as_float(self) -> np.ndarray:
        """Images scaled to ``[0, 1]`` as float32, whatever their stored dtype."""
        if np.issubdtype(self.images.dtype, np.integer):
            return self.images.astype(np.float32) / 255.0
        return self.images.astype(np.float32, copy=False)
