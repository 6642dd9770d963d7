"""``logged_fit``: how the drift detector and the improvers train their Keras models.

Each of them trains for a few epochs with shuffled batches, logs a line per epoch (so a
task's log shows progress on long fits), and records how long the fit took and the loss
of every epoch in its tracked training summary. One function does that for all three.

Keras is imported only when a model is fitted, so importing this module stays cheap.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras
    import numpy as np

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitRecord:
    """What a fit leaves for the training summary."""

    seconds: float
    loss_history: list[float]


def logged_fit(
    model: keras.Model,
    inputs: np.ndarray,
    targets: np.ndarray,
    *,
    what: str,
    epochs: int,
    batch_size: int,
) -> FitRecord:
    """Fit ``model`` on shuffled batches, logging each epoch's metrics as ``what``.

    Args:
        model: A compiled Keras model.
        inputs: The training inputs.
        targets: The training targets.
        what: Names the model in the log lines, e.g. ``"Drift detector"``.
        epochs: Passes over the data.
        batch_size: Images per batch.
    """
    import keras  # noqa: PLC0415 - keep importing this module cheap

    def log_epoch(epoch: int, logs: dict[str, float]) -> None:
        metrics = ", ".join(f"{name} {value:.5f}" for name, value in logs.items())
        logger.info("%s epoch %d/%d: %s", what, epoch + 1, epochs, metrics)

    started = time.perf_counter()
    history = model.fit(
        inputs,
        targets,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=0,
        callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=log_epoch)],
    )
    return FitRecord(
        seconds=time.perf_counter() - started,
        loss_history=[float(value) for value in history.history["loss"]],
    )
