"""The training pipeline."""

from kedro.pipeline import Pipeline, node, pipeline

from ...classifier import prepare_features
from .nodes import evaluate_classifier, register_classifier, split_digits, train_classifier


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                split_digits,
                inputs=["mnist_digits", "params:split"],
                outputs=["train_digits", "test_digits", "new_digits"],
                name="split_digits",
                tags=["preprocessing"],
            ),
            node(
                prepare_features,
                inputs="train_digits",
                outputs="train_features",
                name="prepare_train_features",
                tags=["preprocessing"],
            ),
            node(
                prepare_features,
                inputs="test_digits",
                outputs="test_features",
                name="prepare_test_features",
                tags=["preprocessing"],
            ),
            node(
                train_classifier,
                inputs=["train_features", "params:classifier"],
                outputs=["classifier", "training_history"],
                name="train_classifier",
                tags=["modeling"],
            ),
            node(
                evaluate_classifier,
                inputs=["classifier", "test_features"],
                outputs=["classifier_report", "test_accuracy"],
                name="evaluate_classifier",
                tags=["evaluation"],
            ),
            node(
                register_classifier,
                inputs=["classifier", "classifier_report", "params:registry"],
                outputs="registered_classifier",
                name="register_classifier",
                tags=["deployment"],
            ),
        ]
    )
