"""What the tests of the checkers and improvers share: the shipped digits, the reference
project's CNN (untrained), weight snapshots, and a throw-away MLflow store."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from kedro_scanflow.io import IdxImageDataset, ImageSet

MNIST = Path(__file__).resolve().parents[1] / "data" / "01_raw" / "mnist_5k"


def shuffled_mnist() -> ImageSet:
    """The shipped 5,000 digits in a seeded random order (the files are sorted by class)."""
    digits = IdxImageDataset(
        str(MNIST / "images-idx3-ubyte.gz"), str(MNIST / "labels-idx1-ubyte.gz")
    ).load()
    return digits.subset(np.random.default_rng(0).permutation(len(digits)))


def untrained_classifier(seed: int = 1) -> Any:
    """A small CNN like the reference project's digit classifier, untrained."""
    import keras  # noqa: PLC0415 - keeps collecting the fast tests free of TensorFlow

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.25),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="digit_classifier",
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def model_weights(model: Any) -> list[np.ndarray]:
    """A copy of ``model``'s weights, to check later that nothing changed them."""
    return [np.array(weight, copy=True) for weight in model.get_weights()]


def same_weights(first: list[np.ndarray], second: list[np.ndarray]) -> bool:
    return len(first) == len(second) and all(
        np.array_equal(a, b) for a, b in zip(first, second, strict=True)
    )


@contextlib.contextmanager
def sqlite_tracking(folder: Path, experiment: str) -> Iterator[str]:
    """A real MLflow sqlite store and artifact folder in ``folder``, set as the current
    tracking and registry URI; yields the id of a new experiment ``experiment``."""
    import mlflow  # noqa: PLC0415

    previous = mlflow.get_tracking_uri()
    uri = f"sqlite:///{folder}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield mlflow.create_experiment(
            experiment, artifact_location=(folder / "artifacts").as_uri()
        )
    finally:
        mlflow.set_tracking_uri(previous)
        mlflow.set_registry_uri(previous)
