"""``ModelTrainerImprover``: retrain on train + labelled critical points; keep ``m'`` only if ``q' > q``.

The paper's Model Trainer Improver retrains the model on its training data plus the
critical points the Human Labeler labelled, and keeps the new model only when it scores
better on the new distribution. Here the candidate is a copy of the current model
fine-tuned from its current weights (``warm_start=True``, the default) for a few epochs:
that costs seconds instead of a full training, and starts from what the model already
knows, so that a few dozen labels move it without making it forget clean digits. With
``warm_start=False`` the copy starts from fresh weights: a full retraining, which needs
the epochs of the original training.

The candidate trains on a :class:`TrainingWorkbench`, so calling one improver again for
the same model (the debugging experiment does so for every label budget) reuses the traced
training step instead of tracing a new one; the candidate handed out is a copy.

A handful of critical points drowns among thousands of training images, so they are
oversampled: each is repeated so that together they make about ``critical_share`` of
every epoch (0 repeats them once, which is the plain concatenation of the paper). Training
is seeded: the same inputs and settings give the same candidate.

TensorFlow and Keras are imported only when a candidate is built, so importing this
module stays cheap.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from kedro_scanflow.improvers.improvement import Improvement, check_settings, decide
from kedro_scanflow.improvers.model_evaluation import (
    check_evaluation_sets,
    checked_labels,
    classifier_inputs,
)
from kedro_scanflow.improvers.training_workbench import TrainingWorkbench, copy_model
from kedro_scanflow.io.image_set import ImageSet
from kedro_scanflow.keras_fit import logged_fit

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)

IMPROVER = "model_trainer"


class ModelTrainerImprover:
    """Fine-tunes a copy of a classifier on its training images plus labelled critical points.

    Example::

        improver = ModelTrainerImprover(epochs=3)
        improvement = improver.improve(model, train, label_store.labels(task), held_out_new)
        if improvement.accepted:
            improvement.log_model(registered_model_name="digit_classifier")
    """

    def __init__(
        self,
        *,
        epochs: int = 3,
        batch_size: int = 32,
        learning_rate: float = 5e-4,
        critical_share: float = 0.3,
        warm_start: bool = True,
        min_gain: float = 0.0,
        max_clean_drop: float | None = None,
        seed: int = 42,
    ):
        """Configure the improver.

        Args:
            epochs: Training epochs of the candidate.
            batch_size: Training batch size.
            learning_rate: Adam learning rate of the candidate's training (smaller than a
                from-scratch rate, since it starts from trained weights).
            critical_share: About how much of each epoch the critical points make up once
                repeated, in ``[0, 1)``; 0 uses each once.
            warm_start: Start from the current weights (fine-tuning); otherwise from fresh
                ones (retraining).
            min_gain: The candidate is kept only when ``q' > q + min_gain``.
            max_clean_drop: When a clean held-out set is given, reject a candidate that
                loses more clean accuracy than this; ``None`` does not check.
            seed: Seed of weight initialisation, oversampling and batch shuffling.

        Raises:
            ValueError: When a count or rate is not positive or a share not in ``[0, 1)``.
        """
        check_settings(
            type(self).__name__,
            {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate},
            {"critical_share": critical_share},
            min_gain,
            max_clean_drop,
        )
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.critical_share = float(critical_share)
        self.warm_start = bool(warm_start)
        self.min_gain = float(min_gain)
        self.max_clean_drop = max_clean_drop
        self.seed = int(seed)
        self._workbench = TrainingWorkbench()

    def improve(
        self,
        model: keras.Model,
        train: ImageSet,
        critical: ImageSet,
        held_out: ImageSet,
        *,
        clean_held_out: ImageSet | None = None,
    ) -> Improvement:
        """Build ``m'`` from ``model`` and keep it only when it beats ``model`` on ``held_out``.

        ``model`` itself is never changed: the candidate is a copy.

        Args:
            model: The current classifier: ``(n, h, w, 1)`` floats in ``[0, 1]`` in,
                class probabilities out; compiled or not.
            train: The labelled images the model was trained on.
            critical: The critical points with the labels the Human Labeler gave them
                (``LabelStore.labels(task)``). None at all gives a rejection: there is
                nothing new to learn.
            held_out: Labelled images of the new distribution, not among the critical
                points; ``q`` and ``q'`` are accuracies on them.
            clean_held_out: Labelled images of the original distribution, to report (and,
                with ``max_clean_drop``, guard) the clean accuracy.

        Returns:
            The :class:`Improvement`: ``model`` is the candidate (not compiled) when
            accepted, otherwise the ``model`` given.

        Raises:
            ValueError: When the critical points have no labels, any set does not fit the
                model (size, range, classes), or the training or held-out set is empty.
        """
        x_train = classifier_inputs(model, train, "training images")
        y_train = checked_labels(model, train, "training images")
        if not isinstance(critical, ImageSet):
            raise ValueError(
                "The critical points must be an ImageSet with labels, got "
                f"{type(critical).__name__}."
            )
        if critical.labels is None:
            raise ValueError(
                "The critical points have no labels: have the Human Labeler label them "
                "first (LabelStore.labels(task) gives them with their labels)."
            )
        check_evaluation_sets(model, held_out, clean_held_out)
        candidate, training = None, {"n_train": len(train), "n_critical": 0}
        if len(critical):
            candidate, training = self._train_candidate(
                model,
                x_train,
                y_train,
                classifier_inputs(model, critical, "critical points"),
                checked_labels(model, critical, "critical points"),
            )
        return decide(
            IMPROVER,
            model,
            candidate,
            held_out,
            clean_held_out,
            training=training,
            min_gain=self.min_gain,
            max_clean_drop=self.max_clean_drop,
            no_candidate_reason="no labelled critical points: there is nothing new to learn",
        )

    def critical_repeats(self, n_train: int, n_critical: int) -> int:
        """How many times each critical point appears in an epoch.

        Args:
            n_train: Training images.
            n_critical: Critical points (at least one).

        Returns:
            At least 1; about ``share / (1 - share) * n_train / n_critical``, so that the
            critical points make up about ``critical_share`` of the epoch.
        """
        share = self.critical_share
        return max(1, round(share / (1.0 - share) * n_train / n_critical))

    def _train_candidate(
        self,
        model: keras.Model,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_critical: np.ndarray,
        y_critical: np.ndarray,
    ) -> tuple[keras.Model, dict[str, Any]]:
        import keras  # noqa: PLC0415 - keep importing the improvers cheap

        def build() -> keras.Model:
            keras.utils.set_random_seed(self.seed)
            fresh = copy_model(model, weights=self.warm_start)
            fresh.compile(
                optimizer=keras.optimizers.Adam(learning_rate=self.learning_rate),
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"],
            )
            return fresh

        # The same model object has the same architecture; its weights are read anew.
        trainee = self._workbench.model(weakref.ref(model), build)
        if self.warm_start:
            trainee.set_weights(model.get_weights())
        keras.utils.set_random_seed(self.seed)
        repeats = self.critical_repeats(len(x_train), len(x_critical))
        inputs = np.concatenate([x_train, np.repeat(x_critical, repeats, axis=0)])
        labels = np.concatenate([y_train, np.repeat(y_critical, repeats)])
        order = np.random.default_rng(self.seed).permutation(len(inputs))
        fit = logged_fit(
            trainee,
            inputs[order],
            labels[order],
            what="Model Trainer Improver",
            epochs=self.epochs,
            batch_size=self.batch_size,
        )
        training = {
            "n_train": len(x_train),
            "n_critical": len(x_critical),
            "critical_repeats": repeats,
            "critical_share": round(repeats * len(x_critical) / len(inputs), 4),
            "warm_start": self.warm_start,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "seed": self.seed,
            "seconds": round(fit.seconds, 3),
            "loss_history": fit.loss_history,
        }
        return self._workbench.copy(), training
