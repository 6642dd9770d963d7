"""The drift pipeline."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import simulate_drift


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                simulate_drift,
                inputs=["test_digits", "params:drift"],
                outputs=[
                    "drifted_new_digits",
                    "drifted_holdout_digits",
                    "drifted_clean_new_digits",
                ],
                name="simulate_drift",
                tags=["drift"],
            ),
        ]
    )
