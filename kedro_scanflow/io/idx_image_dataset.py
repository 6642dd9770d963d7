"""``IdxImageDataset``: images and labels in the IDX format of MNIST and Fashion-MNIST.

IDX is the format the original MNIST files are published in
(``train-images-idx3-ubyte.gz`` and ``train-labels-idx1-ubyte.gz``): a magic number
giving the element type and the number of dimensions, the big-endian sizes, then the
raw data. Gzipped files are read and written transparently when the name ends in ``.gz``.
"""

from __future__ import annotations

import gzip
import io
import struct
from pathlib import PurePosixPath
from typing import Any

import fsspec
import numpy as np
from kedro.io.core import AbstractDataset, DatasetError, get_filepath_str, get_protocol_and_path

from kedro_scanflow.io.image_set import ImageSet

_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dtype: code for code, dtype in _IDX_TYPES.items()}


def read_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode one IDX file (already decompressed).

    Raises:
        DatasetError: When the bytes are not a valid IDX file; the message names ``source``.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DatasetError(f"{source} is not an IDX file (bad magic number).")
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_TYPES:
        raise DatasetError(f"{source}: unknown IDX element type 0x{type_code:02X}.")
    header_end = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", data[4:header_end])
    dtype = _IDX_TYPES[type_code]
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header_end != expected:
        raise DatasetError(
            f"{source}: IDX header announces shape {shape} ({expected} bytes) but the "
            f"file holds {len(data) - header_end} bytes of data; is it truncated?"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_end).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(array: np.ndarray) -> bytes:
    """Encode ``array`` as an IDX file (uncompressed)."""
    array = np.asarray(array)
    dtype = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if dtype not in _IDX_CODES:
        raise DatasetError(f"IDX cannot store arrays of dtype {array.dtype}.")
    header = bytes([0, 0, _IDX_CODES[dtype], array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.astype(dtype).tobytes()


class IdxImageDataset(AbstractDataset[ImageSet, ImageSet]):
    """Loads and saves an :class:`ImageSet` as a pair of IDX files (images, labels).

    Example of a catalog entry pointing at the full MNIST training set::

        mnist_raw:
          type: kedro_scanflow.io.IdxImageDataset
          filepath: data/01_raw/mnist/train-images-idx3-ubyte.gz
          labels_filepath: data/01_raw/mnist/train-labels-idx1-ubyte.gz
    """

    def __init__(
        self,
        filepath: str,
        labels_filepath: str | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Create the dataset.

        Args:
            filepath: The images file (``idx3``), optionally gzipped, local or any fsspec URL.
            labels_filepath: The labels file (``idx1``); without it images load unlabelled.
            credentials: fsspec credentials.
            fs_args: Extra arguments for the fsspec filesystem.
            metadata: Free-form metadata, ignored by the dataset (e.g. for kedro-viz).
        """
        protocol, path = get_protocol_and_path(filepath)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(credentials or {}), **(fs_args or {}))
        self._filepath = PurePosixPath(path)
        self._labels_filepath = (
            PurePosixPath(get_protocol_and_path(labels_filepath)[1]) if labels_filepath else None
        )
        self.metadata = metadata

    def _read(self, path: PurePosixPath) -> np.ndarray:
        location = get_filepath_str(path, self._protocol)
        try:
            with self._fs.open(location, "rb") as stream:
                raw = stream.read()
        except FileNotFoundError as error:
            raise DatasetError(f"IDX file not found: {location}") from error
        if path.suffix == ".gz":
            try:
                raw = gzip.decompress(raw)
            except OSError as error:
                raise DatasetError(f"{location} is not a valid gzip file: {error}") from error
        return read_idx(raw, source=location)

    def _write(self, path: PurePosixPath, array: np.ndarray) -> None:
        location = get_filepath_str(path, self._protocol)
        payload = write_idx(array)
        if path.suffix == ".gz":
            buffer = io.BytesIO()
            with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as archive:
                archive.write(payload)
            payload = buffer.getvalue()
        self._fs.makedirs(str(path.parent), exist_ok=True)
        with self._fs.open(location, "wb") as stream:
            stream.write(payload)

    def load(self) -> ImageSet:
        images = self._read(self._filepath)
        labels = self._read(self._labels_filepath) if self._labels_filepath else None
        try:
            return ImageSet(images, labels)
        except ValueError as error:
            raise DatasetError(f"{self._filepath}: {error}") from error

    def save(self, data: ImageSet) -> None:
        self._write(self._filepath, data.images)
        if self._labels_filepath is not None:
            if data.labels is None:
                raise DatasetError(
                    f"Cannot save labels to {self._labels_filepath}: the ImageSet has none."
                )
            label_dtype = np.uint8 if data.labels.max(initial=0) < 256 else np.int32
            self._write(self._labels_filepath, data.labels.astype(label_dtype))

    def _exists(self) -> bool:
        paths = [self._filepath] + ([self._labels_filepath] if self._labels_filepath else [])
        return all(self._fs.exists(get_filepath_str(p, self._protocol)) for p in paths)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "labels_filepath": str(self._labels_filepath)}
