"""The training workbench: a compiled model trained again and again, starting afresh each time.

What the improvers rely on: the model comes back in the state it was built in (weights and
optimizer), a different key builds a different model, the copies it hands out are not
changed by later trainings, and an uncompiled model is refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from kedro_scanflow.improvers import TrainingWorkbench

from .digit_models import model_weights, same_weights


def _tiny_model(units: int = 3, *, compiled: bool = True) -> Any:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units)])
    if compiled:
        model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    return model


def _train(model: Any) -> None:
    rng = np.random.default_rng(0)
    model.fit(rng.random((32, 4)), rng.random((32, model.output_shape[-1])), epochs=2, verbose=0)


def test_the_model_comes_back_as_built_and_copies_stay_as_they_were() -> None:
    workbench = TrainingWorkbench()
    builds: list[int] = []

    def build() -> Any:
        builds.append(1)
        return _tiny_model()

    model = workbench.model("tiny", build)
    built = model_weights(model)
    _train(model)
    trained = workbench.copy()
    trained_weights = model_weights(trained)
    assert not same_weights(trained_weights, built)

    again = workbench.model("tiny", build)
    assert again is model and len(builds) == 1
    assert same_weights(model_weights(again), built)
    assert int(again.optimizer.iterations.numpy()) == 0, "the optimizer starts afresh"
    _train(again)
    assert same_weights(model_weights(again), trained_weights), "same start, same result"
    assert same_weights(model_weights(trained), trained_weights), "the copy is not the model"
    assert trained is not again


def test_another_key_builds_another_model() -> None:
    workbench = TrainingWorkbench()
    first = workbench.model(("dense", 3), _tiny_model)
    second = workbench.model(("dense", 5), lambda: _tiny_model(5))
    assert second is not first
    assert second.output_shape == (None, 5)


def test_an_uncompiled_model_is_refused_and_copy_needs_a_model() -> None:
    workbench = TrainingWorkbench()
    with pytest.raises(RuntimeError, match="no model yet"):
        workbench.copy()
    with pytest.raises(ValueError, match="must be compiled"):
        workbench.model("raw", lambda: _tiny_model(compiled=False))
