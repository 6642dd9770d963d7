"""``KerasModelDataset``: a Keras 3 model in the native ``.keras`` format.

Keras is imported only when a model is loaded or saved, so a catalog that lists models
costs nothing to build (planning a run or drawing its graph never imports TensorFlow).
Saving is atomic: a reader never sees a half-written model file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from kedro_scanflow.runs.run_directory import default_file_mode


class KerasModelDataset(AbstractDataset[Any, Any]):
    """Loads and saves a Keras model (``.keras`` file) on the local file system.

    Example::

        classifier:
          type: kedro_scanflow.io.KerasModelDataset
          filepath: data/06_models/classifier.keras
    """

    def __init__(
        self,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        """Create the dataset.

        Args:
            filepath: The ``.keras`` file.
            load_args: Extra arguments of ``keras.saving.load_model`` (e.g. ``compile``).
            save_args: Extra arguments of ``keras.saving.save_model``.
            metadata: Free-form metadata, ignored by the dataset.
        """
        self._filepath = Path(filepath)
        if self._filepath.suffix != ".keras":
            raise DatasetError(f"KerasModelDataset needs a '.keras' file, got {filepath}.")
        self._load_args = dict(load_args or {})
        self._save_args = dict(save_args or {})
        self.metadata = metadata

    def load(self) -> Any:
        import keras  # noqa: PLC0415 - keep catalog construction cheap

        if not self._filepath.is_file():
            raise DatasetError(f"Keras model not found: {self._filepath}")
        return keras.saving.load_model(self._filepath, **self._load_args)

    def save(self, data: Any) -> None:
        import keras  # noqa: PLC0415

        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=self._filepath.parent, prefix=f".{self._filepath.stem}.", suffix=".keras"
        )
        os.close(handle)
        os.chmod(temporary, default_file_mode())
        try:
            keras.saving.save_model(data, temporary, **self._save_args)
            os.replace(temporary, self._filepath)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "load_args": self._load_args}
