"""``DriftDetectorDataset``: a fitted drift detector saved as a folder.

The folder holds the autoencoder (``.keras``), the training reconstruction errors and
the metadata the critical point selector needs, so inference tasks (in other processes,
containers or pods) reuse the detector without retraining it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.io.core import AbstractDataset, DatasetError

if TYPE_CHECKING:
    from kedro_scanflow.checkers import DriftDetectorChecker


class DriftDetectorDataset(AbstractDataset["DriftDetectorChecker", "DriftDetectorChecker"]):
    """Loads and saves a :class:`~kedro_scanflow.checkers.DriftDetectorChecker`.

    Example::

        supervision.drift_detector:
          type: kedro_scanflow.io.DriftDetectorDataset
          path: data/06_models/supervision/drift_detector
    """

    def __init__(self, path: str, metadata: dict[str, Any] | None = None):
        """Create the dataset for the folder ``path``."""
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> DriftDetectorChecker:
        from kedro_scanflow.checkers import DriftDetectorChecker  # noqa: PLC0415

        if not self._path.is_dir():
            raise DatasetError(f"No drift detector saved in {self._path}; fit one first.")
        return DriftDetectorChecker.load(self._path)

    def save(self, data: DriftDetectorChecker) -> None:
        data.save(self._path)

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}
