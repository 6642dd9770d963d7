"""``NpzImageDataset``: an :class:`ImageSet` stored as a NumPy ``.npz`` archive.

``.npz`` is how many image collections are distributed (Keras' ``mnist.npz`` holds
``x_train``, ``y_train``, ``x_test`` and ``y_test``); the keys to read are parameters so
that the same class opens either split of such a file.
"""

from __future__ import annotations

import io
from pathlib import PurePosixPath
from typing import Any

import fsspec
import numpy as np
from kedro.io.core import AbstractDataset, DatasetError, get_filepath_str, get_protocol_and_path

from kedro_scanflow.io.image_set import ImageSet


class NpzImageDataset(AbstractDataset[ImageSet, ImageSet]):
    """Loads and saves an :class:`ImageSet` from/to a compressed ``.npz`` file.

    Example of a catalog entry for the test split of Keras' ``mnist.npz``::

        mnist_test:
          type: kedro_scanflow.io.NpzImageDataset
          filepath: data/01_raw/mnist.npz
          images_key: x_test
          labels_key: y_test
    """

    def __init__(
        self,
        filepath: str,
        images_key: str = "images",
        labels_key: str | None = "labels",
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Create the dataset.

        Args:
            filepath: The ``.npz`` file, local or any fsspec URL.
            images_key: Array holding the images ``(n, height, width)``.
            labels_key: Array holding the labels; ``None`` for unlabelled images.
            credentials: fsspec credentials.
            fs_args: Extra arguments for the fsspec filesystem.
            metadata: Free-form metadata, ignored by the dataset (e.g. for kedro-viz).
        """
        protocol, path = get_protocol_and_path(filepath)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(credentials or {}), **(fs_args or {}))
        self._filepath = PurePosixPath(path)
        self._images_key = images_key
        self._labels_key = labels_key
        self.metadata = metadata

    @property
    def _location(self) -> str:
        return get_filepath_str(self._filepath, self._protocol)

    def load(self) -> ImageSet:
        try:
            with self._fs.open(self._location, "rb") as stream:
                archive = np.load(io.BytesIO(stream.read()), allow_pickle=False)
        except FileNotFoundError as error:
            raise DatasetError(f"NPZ file not found: {self._location}") from error
        with archive:
            missing = [
                key for key in (self._images_key, self._labels_key) if key and key not in archive
            ]
            if missing:
                raise DatasetError(
                    f"{self._location} has no array named {missing}; it holds {sorted(archive.files)}."
                )
            images = archive[self._images_key]
            labels = archive[self._labels_key] if self._labels_key else None
        try:
            return ImageSet(images, labels)
        except ValueError as error:
            raise DatasetError(f"{self._location}: {error}") from error

    def save(self, data: ImageSet) -> None:
        arrays = {self._images_key: data.images}
        if self._labels_key and data.labels is not None:
            arrays[self._labels_key] = data.labels
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        self._fs.makedirs(str(self._filepath.parent), exist_ok=True)
        with self._fs.open(self._location, "wb") as stream:
            stream.write(buffer.getvalue())

    def _exists(self) -> bool:
        return bool(self._fs.exists(self._location))

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": str(self._filepath),
            "images_key": self._images_key,
            "labels_key": self._labels_key,
        }
