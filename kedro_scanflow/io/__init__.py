"""Datasets of kedro-scanflow: image collections in standard formats and the shared volume.

The datasets load with their module, on first use (``kedro_scanflow.io.ImageSet``, a
catalog ``type``): every task process imports the shared volume's dataset, and most of
them need neither NumPy nor the image formats.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kedro_scanflow.io.drift_detector_dataset import DriftDetectorDataset
    from kedro_scanflow.io.idx_image_dataset import IdxImageDataset, read_idx, write_idx
    from kedro_scanflow.io.image_set import ImageSet
    from kedro_scanflow.io.keras_model_dataset import KerasModelDataset
    from kedro_scanflow.io.mnist_c_dataset import MnistCDataset
    from kedro_scanflow.io.npz_image_dataset import NpzImageDataset
    from kedro_scanflow.io.shared_volume_dataset import SharedVolumeDataset

_MODULES = {
    "DriftDetectorDataset": "drift_detector_dataset",
    "IdxImageDataset": "idx_image_dataset",
    "ImageSet": "image_set",
    "KerasModelDataset": "keras_model_dataset",
    "MnistCDataset": "mnist_c_dataset",
    "NpzImageDataset": "npz_image_dataset",
    "SharedVolumeDataset": "shared_volume_dataset",
    "read_idx": "idx_image_dataset",
    "write_idx": "idx_image_dataset",
}

__all__ = [
    "DriftDetectorDataset",
    "IdxImageDataset",
    "ImageSet",
    "KerasModelDataset",
    "MnistCDataset",
    "NpzImageDataset",
    "SharedVolumeDataset",
    "read_idx",
    "write_idx",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
