"""Nodes of the training pipeline."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import train_test_split

from kedro_scanflow.io import ImageSet

from ...classifier import build_classifier, predict_probabilities

logger = logging.getLogger(__name__)


def split_digits(digits: ImageSet, split: dict[str, Any]) -> tuple[ImageSet, ImageSet, ImageSet]:
    """Split labelled digits into stratified train, test and "new" (production) sets.

    The new set stands for the data the deployed model will see: the inference pipeline
    predicts it, and the supervision nodes watch it.
    """
    if digits.labels is None:
        raise ValueError("split_digits needs labelled digits.")
    indices = np.arange(len(digits))
    held_out = split["test_fraction"] + split["new_fraction"]
    train, rest = train_test_split(
        indices, test_size=held_out, stratify=digits.labels, random_state=split["seed"]
    )
    test, new = train_test_split(
        rest,
        test_size=split["new_fraction"] / held_out,
        stratify=digits.labels[rest],
        random_state=split["seed"],
    )
    logger.info(
        "Split %d digits: %d train, %d test, %d new", len(digits), len(train), len(test), len(new)
    )
    return digits.subset(train), digits.subset(test), digits.subset(new)


def train_classifier(
    train_features: ImageSet, classifier: dict[str, Any]
) -> tuple[Any, dict[str, list[dict[str, float]]]]:
    """Train the CNN; return it and its per-epoch history for MLflow."""
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(classifier["seed"])
    n_classes = int(train_features.labels.max()) + 1
    model = build_classifier(train_features.image_shape, n_classes, classifier["learning_rate"])
    epochs = classifier["epochs"]

    class _EpochLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            logs = logs or {}
            logger.info(
                "epoch %d/%d: loss %.4f, accuracy %.4f, val_accuracy %.4f",
                epoch + 1,
                epochs,
                logs.get("loss", np.nan),
                logs.get("accuracy", np.nan),
                logs.get("val_accuracy", np.nan),
            )

    fitted = model.fit(
        train_features.images[..., np.newaxis],
        train_features.labels,
        epochs=epochs,
        batch_size=classifier["batch_size"],
        validation_split=classifier["validation_fraction"],
        callbacks=[_EpochLog()],
        verbose=0,
    )
    history = {
        f"train_{name}": [
            {"step": step, "value": float(value)} for step, value in enumerate(values)
        ]
        for name, values in fitted.history.items()
    }
    return model, history


def evaluate_classifier(classifier: Any, test_features: ImageSet) -> tuple[dict[str, Any], float]:
    """Accuracy on the held-out test set: a full report (JSON) and the headline metric."""
    probabilities = predict_probabilities(classifier, test_features)
    predicted = probabilities.argmax(axis=1)
    truth = test_features.labels
    accuracy = float((predicted == truth).mean())
    classes = np.arange(probabilities.shape[1])
    matrix = confusion_matrix(truth, predicted, labels=classes)
    per_class = (matrix.diagonal() / np.maximum(matrix.sum(axis=1), 1)).tolist()
    logger.info("Test accuracy: %.4f on %d images", accuracy, len(truth))
    report = {
        "test_accuracy": accuracy,
        "n_test": int(len(truth)),
        "per_class_accuracy": {
            str(c): round(a, 4) for c, a in zip(classes, per_class, strict=True)
        },
        "confusion_matrix": matrix.tolist(),
    }
    return report, accuracy


def register_classifier(
    classifier: Any, classifier_report: dict[str, Any], registry: dict[str, Any]
) -> dict[str, Any]:
    """Log the model to this node's MLflow run, register it, and make it the champion
    when it beats the current one on test accuracy (or when there is none)."""
    import keras  # noqa: PLC0415
    import mlflow  # noqa: PLC0415
    from mlflow.models import infer_signature  # noqa: PLC0415

    from kedro_scanflow.tracking.model_registry import ModelRegistry  # noqa: PLC0415

    example = np.zeros((1, *classifier.input_shape[1:]), dtype=np.float32)
    logged = mlflow.keras.log_model(
        classifier,
        name="classifier",
        signature=infer_signature(example, classifier.predict(example, verbose=0)),
        # Stating the requirements skips MLflow's slow inference of them (a subprocess).
        pip_requirements=[f"keras=={keras.__version__}", f"mlflow=={mlflow.__version__}"],
    )
    registry_client = ModelRegistry()
    version = registry_client.register(
        logged.model_uri,
        registry["model_name"],
        {"test_accuracy": classifier_report["test_accuracy"]},
    )
    promotion = registry_client.promote_if_better(
        registry["model_name"], version.version, "test_accuracy", registry["alias"]
    )
    logger.info(
        "Registered %s version %s (%s): %s",
        registry["model_name"],
        version.version,
        "promoted to @" + registry["alias"] if promotion.promoted else "not promoted",
        promotion.reason,
    )
    return {"model_uri": logged.model_uri, **promotion.as_dict()}
