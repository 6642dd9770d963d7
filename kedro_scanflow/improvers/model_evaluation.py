"""How good a classifier is on a labelled ``ImageSet``: the ``q`` that improvers compare.

Both improvers score the current model and their candidate with :func:`evaluate_model`
on the same held-out images of the new distribution, and the planner scores champions
with it too, so every accuracy in a run means the same thing. The classifiers are Keras
models of grayscale images, ``(n, height, width, 1)`` floats in ``[0, 1]`` in, one
probability per class out (softmax), like the reference project's digit classifier.

Keras is imported only when a model is asked for predictions, so importing this module
stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from kedro_scanflow.io.image_set import ImageSet

if TYPE_CHECKING:
    import keras


@dataclass(frozen=True)
class ModelEvaluation:
    """A classifier's accuracy on one labelled image set.

    Attributes:
        accuracy: Share of images whose most probable class is their label.
        n_images: How many images were scored.
        n_correct: How many of them were classified correctly.
        per_class_accuracy: Accuracy on the images of each class present in the set.
    """

    accuracy: float
    n_images: int
    n_correct: int
    per_class_accuracy: dict[int, float]

    def as_dict(self) -> dict[str, Any]:
        """Plain values, e.g. for ``mlflow.log_dict`` or a JSON dataset."""
        return {
            "accuracy": self.accuracy,
            "n_images": self.n_images,
            "n_correct": self.n_correct,
            "per_class_accuracy": {
                str(key): value for key, value in self.per_class_accuracy.items()
            },
        }


def evaluate_model(
    model: keras.Model, images: ImageSet, *, batch_size: int = 512, what: str = "images"
) -> ModelEvaluation:
    """Accuracy, overall and per class, of ``model`` on labelled ``images``.

    Args:
        model: A Keras classifier taking ``(n, height, width, 1)`` floats in ``[0, 1]``.
        images: Labelled images of the model's size, uint8 (0-255) or float in ``[0, 1]``.
        batch_size: Images predicted at once.
        what: What the images are (``held-out images``...), for error messages.

    Returns:
        The evaluation.

    Raises:
        ValueError: When the images are empty, unlabelled, not of the model's size, out
            of range, or labelled with a class the model does not have.
    """
    predicted = predict_classes(model, images, batch_size=batch_size, what=what)
    labels = checked_labels(model, images, what)
    correct = predicted == labels
    per_class = {int(label): float(correct[labels == label].mean()) for label in np.unique(labels)}
    return ModelEvaluation(
        accuracy=float(correct.mean()),
        n_images=len(labels),
        n_correct=int(correct.sum()),
        per_class_accuracy=per_class,
    )


def predict_classes(
    model: keras.Model, images: ImageSet, *, batch_size: int = 512, what: str = "images"
) -> np.ndarray:
    """The most probable class of every image.

    Raises:
        ValueError: As :func:`classifier_inputs`.
    """
    inputs = classifier_inputs(model, images, what)
    # Calling the model batch by batch runs it eagerly. ``model.predict`` would trace a
    # predict function for every new model first, which costs more than scoring the
    # thousand images a candidate is judged on.
    return np.concatenate(
        [
            np.asarray(model(inputs[start : start + batch_size], training=False)).argmax(axis=1)
            for start in range(0, len(inputs), batch_size)
        ]
    )


def classifier_inputs(model: keras.Model, images: ImageSet, what: str = "images") -> np.ndarray:
    """``images`` as the classifier takes them: float32 ``(n, height, width, 1)`` in ``[0, 1]``.

    Args:
        model: The classifier the images are for.
        images: The images.
        what: What the images are, for error messages.

    Returns:
        The model's input array.

    Raises:
        ValueError: When the images are not an ``ImageSet``, are empty, are not of the
            size the model takes, or hold NaN or values outside ``[0, 1]`` (floats) or
            0-255 (integers).
    """
    if not isinstance(images, ImageSet):
        raise ValueError(
            f"The {what} must be an ImageSet (images and labels), got {type(images).__name__}."
        )
    if len(images) == 0:
        raise ValueError(f"The {what} are empty: there is nothing to learn from or score.")
    expected = classifier_image_shape(model)
    if images.image_shape != expected:
        raise ValueError(
            f"The model takes {expected[0]}x{expected[1]} images but the {what} are "
            f"{images.image_shape[0]}x{images.image_shape[1]}."
        )
    raw = images.images
    if np.issubdtype(raw.dtype, np.integer):
        low, high = int(raw.min()), int(raw.max())
        if low < 0 or high > 255:
            raise ValueError(f"The {what} are integers outside 0-255 (from {low} to {high}).")
    pixels = images.as_float()
    low, high = float(pixels.min()), float(pixels.max())
    if not (low >= 0.0 and high <= 1.0):  # also false for NaN
        raise ValueError(
            f"The {what} must hold pixels in [0, 1] (or uint8 0-255) and no NaN, got values "
            f"from {low} to {high}."
        )
    return pixels[..., np.newaxis]


def check_evaluation_sets(
    model: keras.Model, held_out: ImageSet, clean_held_out: ImageSet | None = None
) -> None:
    """Make sure the held-out sets can score ``model`` before any training starts.

    Raises:
        ValueError: As :func:`classifier_inputs` and :func:`checked_labels`.
    """
    for images, what in [(held_out, "held-out images"), (clean_held_out, "clean held-out images")]:
        if images is not None:
            classifier_inputs(model, images, what)
            checked_labels(model, images, what)


def checked_labels(model: keras.Model, images: ImageSet, what: str = "images") -> np.ndarray:
    """The labels of ``images``, once they are known to be classes of ``model``.

    Raises:
        ValueError: When the images have no labels, or a label is negative or not below
            the model's number of classes.
    """
    if images.labels is None:
        raise ValueError(
            f"The {what} have no labels; an accuracy needs the true class of every image."
        )
    n_classes = classifier_n_classes(model)
    labels = images.labels
    bad = labels[(labels < 0) | (labels >= n_classes)]
    if len(bad):
        raise ValueError(
            f"The {what} have labels {sorted(set(bad.tolist()))[:10]} but the model only "
            f"knows classes 0 to {n_classes - 1}."
        )
    return labels


def classifier_image_shape(model: keras.Model) -> tuple[int, int]:
    """``(height, width)`` of the grayscale images ``model`` takes.

    Raises:
        ValueError: When the model does not take ``(height, width, 1)`` images.
    """
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[-1] != 1 or None in shape[1:3]:
        raise ValueError(
            f"Improvers work on classifiers of grayscale images shaped (n, height, width, 1); "
            f"model '{model.name}' takes input shaped {shape}."
        )
    return int(shape[1]), int(shape[2])


def classifier_n_classes(model: keras.Model) -> int:
    """How many classes ``model`` tells apart (the width of its probability output).

    Raises:
        ValueError: When the model does not output one probability vector per image.
    """
    shape = tuple(model.output_shape)
    if len(shape) != 2 or shape[1] is None:
        raise ValueError(
            f"Improvers work on classifiers that output class probabilities (n, classes); "
            f"model '{model.name}' outputs shape {shape}."
        )
    return int(shape[1])
