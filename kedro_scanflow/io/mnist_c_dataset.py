"""``MnistCDataset``: one corruption and split of the published MNIST-C data set.

MNIST-C (Mu & Gilmer 2019, https://zenodo.org/record/3237938) is distributed as one
folder per corruption, each holding ``train_images.npy``, ``train_labels.npy``,
``test_images.npy`` and ``test_labels.npy``; images are ``uint8`` shaped
``(n, 28, 28, 1)``. The folder ``identity`` holds the clean images.
"""

from __future__ import annotations

import io
from pathlib import PurePosixPath
from typing import Any

import fsspec
import numpy as np
from kedro.io.core import AbstractDataset, DatasetError, get_filepath_str, get_protocol_and_path

from kedro_scanflow.io.image_set import ImageSet

SPLITS = ("train", "test")


class MnistCDataset(AbstractDataset[ImageSet, ImageSet]):
    """Loads the images and labels of one MNIST-C corruption and split as an :class:`ImageSet`.

    Read-only: the published files are the benchmark. To make corrupted images yourself,
    use :func:`kedro_scanflow.corruptions.corrupt_dataset` in a pipeline.

    Example of a catalog entry, for the unzipped ``mnist_c`` folder::

        mnist_c_fog:
          type: kedro_scanflow.io.MnistCDataset
          path: data/01_raw/mnist_c
          corruption: fog
          split: test
    """

    def __init__(
        self,
        path: str,
        corruption: str,
        split: str = "test",
        *,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Create the dataset.

        Args:
            path: The MNIST-C root folder (the one holding a folder per corruption),
                local or any fsspec URL.
            corruption: The corruption's folder name, e.g. ``fog`` or ``identity``.
            split: ``test`` (10,000 images) or ``train`` (60,000 images).
            credentials: fsspec credentials.
            fs_args: Extra arguments for the fsspec filesystem.
            metadata: Free-form metadata, ignored by the dataset (e.g. for kedro-viz).

        Raises:
            DatasetError: When ``split`` is neither ``train`` nor ``test``.
        """
        if split not in SPLITS:
            raise DatasetError(
                f"MnistCDataset split must be one of {', '.join(SPLITS)}, got {split!r}."
            )
        protocol, root = get_protocol_and_path(path)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(credentials or {}), **(fs_args or {}))
        self._root = PurePosixPath(root)
        self._corruption = corruption
        self._split = split
        self.metadata = metadata

    def _location(self, kind: str) -> str:
        path = self._root / self._corruption / f"{self._split}_{kind}.npy"
        return get_filepath_str(path, self._protocol)

    def _read(self, kind: str) -> np.ndarray:
        location = self._location(kind)
        try:
            with self._fs.open(location, "rb") as stream:
                raw = stream.read()
        except FileNotFoundError as error:
            raise DatasetError(f"MNIST-C file not found: {location}.{self._hint()}") from error
        try:
            return np.load(io.BytesIO(raw), allow_pickle=False)
        except ValueError as error:
            raise DatasetError(f"{location} is not a NumPy .npy file: {error}") from error

    def _hint(self) -> str:
        corruption_dir = get_filepath_str(self._root / self._corruption, self._protocol)
        if self._fs.isdir(corruption_dir):
            return ""
        root = get_filepath_str(self._root, self._protocol)
        if not self._fs.isdir(root):
            return f" The MNIST-C folder {root} does not exist."
        available = sorted(
            PurePosixPath(entry).name
            for entry in self._fs.ls(root, detail=False)
            if self._fs.isdir(entry)
        )
        return (
            f" {root} has no corruption folder {self._corruption!r}; it holds "
            f"{', '.join(available) or 'no folders'}."
        )

    def load(self) -> ImageSet:
        images = self._read("images")
        labels = self._read("labels")
        try:
            return ImageSet(images, labels)
        except ValueError as error:
            raise DatasetError(f"{self._location('images')}: {error}") from error

    def save(self, data: ImageSet) -> None:
        raise DatasetError(
            "MnistCDataset is read-only: the published MNIST-C files are not overwritten."
        )

    def _exists(self) -> bool:
        return all(self._fs.exists(self._location(kind)) for kind in ("images", "labels"))

    def _describe(self) -> dict[str, Any]:
        return {
            "path": str(self._root),
            "corruption": self._corruption,
            "split": self._split,
        }
