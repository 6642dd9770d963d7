"""The digit classifier shared by the pipelines: features and a small CNN.

TensorFlow is imported inside the functions that need it, so that listing, planning or
drawing the pipelines stays fast; a fork-server preload (``scanflow.yml``) imports it
once for all tasks of a run.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from kedro_scanflow.io import ImageSet

logger = logging.getLogger(__name__)


def prepare_features(digits: ImageSet) -> ImageSet:
    """Scale pixels to ``[0, 1]`` float32, the classifier's input."""
    return ImageSet(digits.as_float(), digits.labels)


def build_classifier(image_shape: tuple[int, int], n_classes: int, learning_rate: float) -> Any:
    """A small convolutional network: two conv/pool blocks, dropout, two dense layers."""
    import keras  # noqa: PLC0415

    model = keras.Sequential(
        [
            keras.Input(shape=(*image_shape, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.25),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(n_classes, activation="softmax"),
        ],
        name="digit_classifier",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def predict_probabilities(model: Any, features: ImageSet, batch_size: int = 512) -> np.ndarray:
    """Class probabilities ``(n, n_classes)`` for every image."""
    images = features.images[..., np.newaxis]
    return np.asarray(model.predict(images, batch_size=batch_size, verbose=0))
