"""Nodes of the inference pipeline."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from kedro_scanflow.io import ImageSet

from ...classifier import predict_probabilities

logger = logging.getLogger(__name__)


def predict_digits(champion_classifier: Any, new_features: ImageSet) -> pd.DataFrame:
    """Predict every new digit: class, confidence and the full probability vector."""
    probabilities = predict_probabilities(champion_classifier, new_features)
    predictions = pd.DataFrame(
        {
            "sample": np.arange(len(new_features)),
            "predicted": probabilities.argmax(axis=1),
            "confidence": probabilities.max(axis=1).round(6),
        }
    )
    for digit in range(probabilities.shape[1]):
        predictions[f"p_{digit}"] = probabilities[:, digit].round(6)
    logger.info("Predicted %d new digits", len(predictions))
    return predictions


def summarize_predictions(
    digit_predictions: pd.DataFrame, new_digits: ImageSet, inference: dict[str, Any]
) -> dict[str, dict[str, float]]:
    """Batch-level metrics for the tracker: volume, confidence and, when the new digits
    carry labels (as in this demo), accuracy."""
    confidence = digit_predictions["confidence"]
    metrics = {
        "n_predictions": float(len(digit_predictions)),
        "mean_confidence": float(confidence.mean()),
        "low_confidence_fraction": float(
            (confidence < inference["low_confidence_threshold"]).mean()
        ),
    }
    if new_digits.labels is not None:
        correct = digit_predictions["predicted"].to_numpy() == new_digits.labels
        metrics["new_data_accuracy"] = float(correct.mean())
    logger.info("Prediction summary: %s", {k: round(v, 4) for k, v in metrics.items()})
    return {name: {"value": value, "step": 0} for name, value in metrics.items()}
