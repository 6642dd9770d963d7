"""The inference pipeline."""

from kedro.pipeline import Pipeline, node, pipeline

from ...classifier import prepare_features
from .nodes import predict_digits, summarize_predictions


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                prepare_features,
                inputs="new_digits",
                outputs="new_features",
                name="prepare_new_features",
                tags=["preprocessing"],
            ),
            node(
                predict_digits,
                inputs=["champion_classifier", "new_features"],
                outputs="digit_predictions",
                name="predict_digits",
                tags=["inference"],
            ),
            node(
                summarize_predictions,
                inputs=["digit_predictions", "new_digits", "params:inference"],
                outputs="prediction_metrics",
                name="summarize_predictions",
                tags=["monitoring"],
            ),
        ]
    )
