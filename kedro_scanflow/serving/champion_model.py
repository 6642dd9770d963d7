"""``ChampionModel``: the model a registry alias points to, kept current while serving.

A watcher thread asks the registry every few seconds which version the alias (the
``champion``) points to. When the planner (or ``kedro scanflow rollback``) moves it, the
new version is loaded and warmed up in that thread, then swapped in with one reference
assignment: requests in flight finish on the model they started with, new ones get the
new model, and no request waits for or fails because of the reload.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A loaded version of the registered model, compiled for serving.

    ``call`` is the model's forward pass traced once as a TensorFlow graph with a fixed
    signature: a single image then costs milliseconds, where an eager Keras call (or
    ``model.predict``) costs tens of them.
    """

    version: str
    model: Any
    image_shape: tuple[int, int]
    n_classes: int
    call: Any

    @classmethod
    def compile(cls, version: str, model: Any) -> LoadedModel:
        import tensorflow as tf  # noqa: PLC0415

        height, width = (int(d) for d in model.input_shape[1:3])
        signature = [tf.TensorSpec([None, height, width, 1], tf.float32)]
        call = tf.function(lambda x: model(x, training=False), input_signature=signature)
        loaded = cls(version, model, (height, width), int(model.output_shape[-1]), call)
        loaded.predict(np.zeros((1, height, width), dtype=np.float32))  # trace before serving
        return loaded

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Class probabilities of ``(n, h, w)`` float32 images in ``[0, 1]``."""
        return np.asarray(self.call(pixels[..., np.newaxis]))


class ChampionModel:
    """Loads ``models:/<name>@<alias>`` and follows the alias."""

    def __init__(
        self, tracking_uri: str, model_name: str, alias: str = "champion", poll_seconds: float = 5.0
    ):
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.alias = alias
        self.poll_seconds = poll_seconds
        self.reloads = 0
        self._current: LoadedModel | None = None
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def current(self) -> LoadedModel:
        """The model to answer the next request with.

        Raises:
            RuntimeError: Before :meth:`load`.
        """
        if self._current is None:
            raise RuntimeError("No model loaded yet.")
        return self._current

    def load(self) -> LoadedModel:
        """Load the version the alias points to now.

        Raises:
            LookupError: When the model or its alias does not exist (say which and how
                to create it).
        """
        version = self._alias_version()
        if version is None:
            raise LookupError(
                f"The registry at {self.tracking_uri} has no {self.model_name}@{self.alias}: "
                "train and register a model first (e.g. `kedro scanflow run --pipeline training`)."
            )
        self._current = self._load_version(version)
        return self._current

    def start_watching(self) -> None:
        """Follow the alias from now on (a daemon thread)."""
        self._watcher = threading.Thread(
            target=self._watch, name="scanflow-champion-watcher", daemon=True
        )
        self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=self.poll_seconds + 5)

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                version = self._alias_version()
                if version is not None and (
                    self._current is None or version != self._current.version
                ):
                    loaded = self._load_version(version)
                    previous = self._current.version if self._current else None
                    self._current = loaded
                    self.reloads += 1
                    logger.info(
                        "%s@%s moved: now serving version %s (was %s)",
                        self.model_name,
                        self.alias,
                        version,
                        previous,
                    )
            except Exception as error:  # noqa: BLE001 - keep serving the current model
                logger.warning(
                    "Could not check or load %s@%s: %s", self.model_name, self.alias, error
                )

    def _alias_version(self) -> str | None:
        from mlflow.exceptions import MlflowException  # noqa: PLC0415
        from mlflow.tracking import MlflowClient  # noqa: PLC0415

        try:
            return str(
                MlflowClient(self.tracking_uri)
                .get_model_version_by_alias(self.model_name, self.alias)
                .version
            )
        except MlflowException:
            return None

    def _load_version(self, version: str) -> LoadedModel:
        import mlflow  # noqa: PLC0415

        mlflow.set_tracking_uri(self.tracking_uri)
        model = mlflow.keras.load_model(f"models:/{self.model_name}/{version}")
        return LoadedModel.compile(version, model)
