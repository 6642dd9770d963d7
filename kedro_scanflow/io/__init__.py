"""Datasets of kedro-scanflow: image collections in standard formats and the shared volume."""

from __future__ import annotations

from kedro_scanflow.io.drift_detector_dataset import DriftDetectorDataset
from kedro_scanflow.io.idx_image_dataset import IdxImageDataset, read_idx, write_idx
from kedro_scanflow.io.image_set import ImageSet
from kedro_scanflow.io.keras_model_dataset import KerasModelDataset
from kedro_scanflow.io.mnist_c_dataset import MnistCDataset
from kedro_scanflow.io.npz_image_dataset import NpzImageDataset
from kedro_scanflow.io.shared_volume_dataset import SharedVolumeDataset

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
