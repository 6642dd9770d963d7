"""``TrainingWorkbench``: one compiled Keras model an improver trains again and again.

TensorFlow traces a model's training step the first time the model is fitted, and tracing
a small CNN costs more than fitting it on a few thousand images: about 0.9 s of a 1.6 s
fine-tune of the reference classifier. An improver that builds a candidate per call, as
the debugging experiment does for every label budget, pays that on every call. The
workbench keeps the compiled model between calls instead, and puts every variable (the
weights, the optimizer's slots and step counter, the seed generators' states) back to
what it was right after the model was built, so each training starts exactly like one on
a freshly built, equally seeded model and gives the same weights.

The model trained on the workbench is never handed out: :meth:`TrainingWorkbench.copy`
gives an independent copy, so a candidate returned by one call is not changed by the next.

Keras is imported only when a model is built, so importing this module stays cheap.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras


class TrainingWorkbench:
    """A compiled model kept for reuse, with the state it had when it was built.

    Example::

        workbench = TrainingWorkbench()
        model = workbench.model(("denoiser", shape), build)  # built once, reset afterwards
        model.fit(inputs, targets)
        trained = workbench.copy()
    """

    def __init__(self) -> None:
        self._key: object = None
        self._model: keras.Model | None = None
        self._initial_state: list[np.ndarray] = []

    def model(self, key: object, build: Callable[[], keras.Model]) -> keras.Model:
        """The workbench's model for ``key``, in the state it had right after ``build``.

        Args:
            key: What the model is built from, compared with ``==``: settings, or a
                weak reference to the model it copies. A new key builds a new model and
                drops the previous one.
            build: Makes the compiled model; called only for a new key.

        Returns:
            The compiled model, ready to be fitted.
        """
        if self._model is None or key != self._key:
            model = build()
            if getattr(model, "optimizer", None) is None:
                raise ValueError(
                    f"Model '{model.name}' must be compiled before it goes on a workbench."
                )
            model.optimizer.build(model.trainable_variables)
            self._key, self._model = key, model
            self._initial_state = [
                np.array(variable.numpy(), copy=True) for variable in _state_variables(model)
            ]
            return model
        for variable, value in zip(_state_variables(self._model), self._initial_state, strict=True):
            variable.assign(value)
        return self._model

    def copy(self) -> keras.Model:
        """An independent, uncompiled copy of the model with its current weights.

        Raises:
            RuntimeError: When no model was built yet.
        """
        if self._model is None:
            raise RuntimeError("The workbench has no model yet: call model() first.")
        return copy_model(self._model)


def copy_model(model: keras.Model, *, weights: bool = True) -> keras.Model:
    """A new model with ``model``'s architecture, sharing no variable with it.

    Args:
        model: A Keras model: functional and sequential models are cloned; others go
            through a temporary ``.keras`` file.
        weights: Copy the weights too; otherwise the copy keeps fresh initial weights.

    Returns:
        The copy, not compiled.

    Raises:
        ValueError: When ``weights`` is false and the model cannot be cloned.
    """
    import keras  # noqa: PLC0415

    try:
        copy = keras.models.clone_model(model)
    except (ValueError, TypeError, NotImplementedError) as error:
        if not weights:
            raise ValueError(
                f"Model '{model.name}' cannot be cloned ({error}), so it cannot be retrained "
                "from fresh weights; fine-tune it instead (warm_start=True)."
            ) from error
        with tempfile.TemporaryDirectory(prefix="scanflow-model-copy-") as scratch:
            path = Path(scratch) / "model.keras"
            keras.saving.save_model(model, path)
            return keras.saving.load_model(path, compile=False)
    if weights:
        copy.set_weights(model.get_weights())
    return copy


def _state_variables(model: keras.Model) -> list[keras.Variable]:
    """Every variable training changes: the model's (seed states too) and the optimizer's."""
    return [*model.variables, *model.optimizer.variables]
