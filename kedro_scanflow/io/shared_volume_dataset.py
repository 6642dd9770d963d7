"""``SharedVolumeDataset``: an in-memory intermediate made durable on the run's volume.

When two Kedro nodes run as two tasks (two processes, containers or pods), a
``MemoryDataset`` between them cannot carry data. The task runner swaps such datasets
for this one, which pickles the object into the run directory that every task mounts:
the Scanflow "shared volume" edge. Writes are atomic, so a task that dies while saving
never leaves a half-written file that a resumed run would trust.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from kedro_scanflow.runs.run_directory import default_file_mode

_PROTOCOL = pickle.HIGHEST_PROTOCOL


class SharedVolumeDataset(AbstractDataset[Any, Any]):
    """Pickles any Python object to a file on the shared volume.

    Objects that the standard pickle cannot serialise (lambdas, local classes) fall back
    on ``cloudpickle`` when it is installed.
    """

    def __init__(self, filepath: str | os.PathLike[str], metadata: dict[str, Any] | None = None):
        """Create the dataset.

        Args:
            filepath: File on the shared volume that holds the pickled object.
            metadata: Free-form metadata, ignored by the dataset.
        """
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> Any:
        try:
            with self._filepath.open("rb") as stream:
                return pickle.load(stream)  # noqa: S301 - files written by this run's own tasks
        except FileNotFoundError as error:
            raise DatasetError(
                f"Intermediate data {self._filepath.name!r} is not on the shared volume "
                f"({self._filepath}); the task that produces it has not completed."
            ) from error

    def save(self, data: Any) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=self._filepath.parent, prefix=f".{self._filepath.name}.", suffix=".tmp"
        )
        os.chmod(temporary, default_file_mode())
        try:
            with os.fdopen(handle, "wb") as stream:
                _dump(data, stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self._filepath)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


def _dump(data: Any, stream: Any) -> None:
    try:
        pickle.dump(data, stream, protocol=_PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        try:
            import cloudpickle  # noqa: PLC0415 - optional dependency
        except ImportError:
            raise DatasetError(
                f"Cannot pickle {type(data).__name__} to the shared volume: {error}. "
                "Declare the dataset in the catalog with a persistent type instead."
            ) from error
        stream.seek(0)
        stream.truncate()
        cloudpickle.dump(data, stream, protocol=_PROTOCOL)
