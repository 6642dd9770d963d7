"""Node functions of the Improver special nodes.

Each improver makes a candidate model from what the checkers found and measures it
against the deployed model on the labelled holdout of the new distribution; the
candidate carries both scores and whether it is better (q' > q).
"""

from __future__ import annotations

from typing import Any

from kedro_scanflow.config.supervision_config import DenoiserWrapperOptions, ModelTrainerOptions
from kedro_scanflow.human import FinderPairs
from kedro_scanflow.improvers import Improvement, ModelDenoiserWrapperImprover, ModelTrainerImprover
from kedro_scanflow.io.image_set import ImageSet
from kedro_scanflow.supervision.mlflow_logging import (
    log_metrics_if_tracking,
    log_params_if_tracking,
)

# Annotation types are imported at run time (all of them are light): Kedro resolves the
# type hints of node functions.


def improve_with_model_trainer(
    model: Any,
    reference_data: ImageSet,
    labelled_points: ImageSet,
    holdout: ImageSet,
    *,
    options: ModelTrainerOptions,
) -> Improvement:
    """Retrain on the training data plus the labelled critical points (Model Trainer Improver)."""
    log_params_if_tracking(options, prefix="model_trainer")
    improver = ModelTrainerImprover(
        epochs=options.epochs,
        learning_rate=options.learning_rate,
        critical_share=options.critical_share,
        seed=options.seed,
    )
    improvement = improver.improve(model, reference_data, labelled_points, holdout)
    log_metrics_if_tracking(improvement.metrics())
    return improvement


def improve_with_denoiser_wrapper(
    model: Any,
    denoising_pairs: FinderPairs,
    reference_data: ImageSet,
    holdout: ImageSet,
    *,
    options: DenoiserWrapperOptions,
) -> Improvement:
    """Put a denoiser learnt from (corrupted, clean) pairs in front of the model (Model
    Denoiser Wrapper Improver)."""
    log_params_if_tracking(options, prefix="model_denoiser_wrapper")
    improver = ModelDenoiserWrapperImprover(epochs=options.epochs, seed=options.seed)
    improvement = improver.improve(
        model, denoising_pairs, holdout, clean_images=reference_data.images
    )
    log_metrics_if_tracking(improvement.metrics())
    return improvement
