"""Improver special nodes: the Model Trainer Improver and the Model Denoiser Wrapper Improver.

Both build a candidate model from what the human checkers produced (labelled critical
points; (corrupted, clean) pairs), score it against the current model on held-out images
of the new distribution, and return an :class:`Improvement` that keeps the candidate only
when it scores better.

Importing this package is cheap: TensorFlow, Keras and MLflow load only when a model is
trained, scored or logged.
"""

from __future__ import annotations

from kedro_scanflow.improvers.denoiser_wrapper_improver import (
    ModelDenoiserWrapperImprover,
    wrap_with_denoiser,
)
from kedro_scanflow.improvers.denoising_autoencoder import (
    build_denoising_autoencoder,
    denoising_pairs,
    train_denoising_autoencoder,
)
from kedro_scanflow.improvers.improvement import (
    CLEAN_HELD_OUT,
    HELD_OUT,
    Improvement,
    SetComparison,
    decide,
    judge,
)
from kedro_scanflow.improvers.model_evaluation import (
    ModelEvaluation,
    evaluate_model,
    predict_classes,
)
from kedro_scanflow.improvers.model_trainer_improver import ModelTrainerImprover
from kedro_scanflow.improvers.training_workbench import TrainingWorkbench, copy_model

__all__ = [
    "CLEAN_HELD_OUT",
    "HELD_OUT",
    "Improvement",
    "ModelDenoiserWrapperImprover",
    "ModelEvaluation",
    "ModelTrainerImprover",
    "SetComparison",
    "TrainingWorkbench",
    "build_denoising_autoencoder",
    "copy_model",
    "decide",
    "denoising_pairs",
    "evaluate_model",
    "judge",
    "predict_classes",
    "train_denoising_autoencoder",
    "wrap_with_denoiser",
]
