"""``ModelDenoiserWrapperImprover``: a denoiser in front of the classifier, kept only if better.

The paper's Model Denoiser Wrapper Improver does not touch the classifier: it trains a
convolutional denoising autoencoder on (corrupted, clean) pairs, the critical samples of
a Human Finder task and the clean training images the human chose for them, and puts it
in front of the classifier. The result, :func:`wrap_with_denoiser`, is ONE functional
Keras model (images in, class probabilities out), so it saves as a single ``.keras`` file,
logs as one MLflow Keras model (:meth:`Improvement.log_model`) and is served, registered
and promoted exactly like the plain classifier. It is kept only when it classifies the
held-out images of the new distribution better than the classifier alone.

It helps where a corruption adds something a local filter can remove (impulse noise,
spatter, dotted lines) and cannot help where the digit itself moved (shift, scale,
rotation), as the paper found. The denoiser and its training pairs are described in
:mod:`~kedro_scanflow.improvers.denoising_autoencoder`. Denoisers train on the improver's
:class:`~kedro_scanflow.improvers.training_workbench.TrainingWorkbench`, so calling it again
(for every label budget in the debugging experiment) does not trace training anew.

TensorFlow and Keras are imported only when a model is built, so importing this module
stays cheap.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from kedro_scanflow.human.labeling_task import FinderPairs
from kedro_scanflow.improvers.denoising_autoencoder import (
    DENOISER_NAME,
    train_denoising_autoencoder,
)
from kedro_scanflow.improvers.improvement import Improvement, check_settings, decide
from kedro_scanflow.improvers.model_evaluation import (
    check_evaluation_sets,
    classifier_image_shape,
    classifier_inputs,
    classifier_n_classes,
)
from kedro_scanflow.improvers.training_workbench import TrainingWorkbench, copy_model
from kedro_scanflow.io.image_set import ImageSet

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)

IMPROVER = "model_denoiser_wrapper"
Images = ImageSet | np.ndarray
"""Grayscale images: an ``ImageSet`` or an array ``(n, h, w)`` / ``(n, h, w, 1)``."""


class ModelDenoiserWrapperImprover:
    """Trains a denoiser on Human Finder pairs and wraps it in front of the classifier.

    Example::

        improver = ModelDenoiserWrapperImprover(epochs=10)
        improvement = improver.improve(
            model, label_store.pairs(task), held_out_new, clean_images=train
        )
        improvement.model.save("denoised_classifier.keras")  # one model, denoiser inside
    """

    def __init__(
        self,
        *,
        epochs: int = 10,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        filters: int = 32,
        epoch_size: int = 3000,
        identity_share: float = 0.5,
        augment: bool = True,
        min_gain: float = 0.0,
        max_clean_drop: float | None = None,
        seed: int = 42,
    ):
        """Configure the improver.

        Args:
            epochs: Training epochs of the denoiser.
            batch_size: Training batch size.
            learning_rate: Adam learning rate.
            filters: Filters of every hidden convolution of the denoiser.
            epoch_size: Training pairs per epoch, whatever the number of finder pairs.
            identity_share: Share of (clean, clean) identity pairs per epoch, in ``[0, 1)``.
            augment: Flip and turn the finder pairs (both images alike).
            min_gain: The compound model is kept only when ``q' > q + min_gain``.
            max_clean_drop: When a clean held-out set is given, reject a compound model
                that loses more clean accuracy than this; ``None`` does not check.
            seed: Seed of weights, pairs and batch shuffling.

        Raises:
            ValueError: When a count or rate is not positive or a share not in ``[0, 1)``.
        """
        check_settings(
            type(self).__name__,
            {
                "epochs": epochs,
                "batch_size": batch_size,
                "learning_rate": learning_rate,
                "filters": filters,
                "epoch_size": epoch_size,
            },
            {"identity_share": identity_share},
            min_gain,
            max_clean_drop,
        )
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.filters = int(filters)
        self.epoch_size = int(epoch_size)
        self.identity_share = float(identity_share)
        self.augment = bool(augment)
        self.min_gain = float(min_gain)
        self.max_clean_drop = max_clean_drop
        self.seed = int(seed)
        self._workbench = TrainingWorkbench()

    def improve(
        self,
        model: keras.Model,
        pairs: FinderPairs | tuple[Images, Images],
        held_out: ImageSet,
        *,
        clean_images: Images | None = None,
        clean_held_out: ImageSet | None = None,
    ) -> Improvement:
        """Train a denoiser, wrap it in front of ``model``, keep it only when it scores better.

        ``model`` itself is never changed: the compound model holds a copy of it.

        Args:
            model: The current classifier: ``(n, h, w, 1)`` floats in ``[0, 1]`` in,
                class probabilities out.
            pairs: The Human Finder's answers (``LabelStore.pairs(task)``), or
                ``(corrupted, clean)`` images paired one to one. None at all gives a
                rejection: there is nothing to learn from.
            held_out: Labelled images of the new distribution, not among the pairs;
                ``q`` and ``q'`` are accuracies on them.
            clean_images: Clean training images for identity pairs, which keep clean
                images intact; the finder's clean references when ``None``.
            clean_held_out: Labelled clean images, to report (and, with
                ``max_clean_drop``, guard) the clean accuracy.

        Returns:
            The :class:`Improvement`: ``model`` is the compound model when accepted,
            otherwise the ``model`` given; ``candidate`` is the compound model.

        Raises:
            ValueError: When the pairs do not match one to one, any images do not fit the
                model (size, range, NaN), or the held-out set is empty or unlabelled.
        """
        corrupted, clean = self._pair_images(model, pairs)
        identity = (
            None
            if clean_images is None
            else _unit_images(model, clean_images, "clean images for identity pairs")
        )
        check_evaluation_sets(model, held_out, clean_held_out)
        compound, training = None, {"n_pairs": 0}
        if len(corrupted):
            denoiser, training = train_denoising_autoencoder(
                corrupted,
                clean,
                identity,
                epochs=self.epochs,
                batch_size=self.batch_size,
                learning_rate=self.learning_rate,
                filters=self.filters,
                epoch_size=self.epoch_size,
                identity_share=self.identity_share,
                augment=self.augment,
                seed=self.seed,
                workbench=self._workbench,
            )
            compound = wrap_with_denoiser(denoiser, model)
        return decide(
            IMPROVER,
            model,
            compound,
            held_out,
            clean_held_out,
            training=training,
            min_gain=self.min_gain,
            max_clean_drop=self.max_clean_drop,
            no_candidate_reason="no (corrupted, clean) pairs: the Human Finder chose no reference",
        )

    @staticmethod
    def _pair_images(
        model: keras.Model, pairs: FinderPairs | tuple[Images, Images]
    ) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(pairs, FinderPairs):
            corrupted, clean = pairs.critical_images, pairs.reference_images
        elif isinstance(pairs, tuple) and len(pairs) == 2:
            corrupted, clean = pairs
        else:
            raise ValueError(
                "pairs must be the FinderPairs of a Human Finder task (LabelStore.pairs) or "
                f"a (corrupted, clean) tuple of images, got {type(pairs).__name__}."
            )
        n_corrupted, n_clean = _count(corrupted), _count(clean)
        if n_corrupted != n_clean:
            raise ValueError(
                f"Denoising pairs must match one to one: {n_corrupted} corrupted images but "
                f"{n_clean} clean ones."
            )
        if n_corrupted == 0:
            height, width = classifier_image_shape(model)
            empty = np.zeros((0, height, width), np.float32)
            return empty, empty
        return (
            _unit_images(model, corrupted, "corrupted images of the pairs"),
            _unit_images(model, clean, "clean images of the pairs"),
        )


def wrap_with_denoiser(denoiser: keras.Model, classifier: keras.Model) -> keras.Model:
    """ONE functional Keras model: ``denoiser`` followed by a copy of ``classifier``.

    The compound model takes what the classifier takes and returns its class
    probabilities; it saves and loads as a single ``.keras`` file and logs as one MLflow
    Keras model. Its two parts are its layers ``denoiser`` and the classifier's name.

    Args:
        denoiser: A model from ``(h, w, 1)`` images to ``(h, w, 1)`` images.
        classifier: The classifier of ``(h, w, 1)`` images; it is copied, never changed.

    Returns:
        The compound model, named ``denoised_<classifier name>``, not compiled (compile it
        to train it further; predicting, saving and logging need no compilation).

    Raises:
        ValueError: When the denoiser's input or output does not match the classifier's
            input.
    """
    import keras  # noqa: PLC0415 - keep importing the improvers cheap

    height, width = classifier_image_shape(classifier)
    classifier_n_classes(classifier)
    expected = (None, height, width, 1)
    for what, shape in [("input", denoiser.input_shape), ("output", denoiser.output_shape)]:
        if tuple(shape) != expected:
            raise ValueError(
                f"The denoiser's {what} is shaped {tuple(shape)} but the classifier takes "
                f"{expected}."
            )
    inner = copy_model(classifier)
    if inner.name == DENOISER_NAME:
        raise ValueError(f"A classifier named '{DENOISER_NAME}' cannot be wrapped: rename it.")
    inputs = keras.Input((height, width, 1), name="images")
    outputs = inner(denoiser(inputs))
    return keras.Model(inputs, outputs, name=f"denoised_{classifier.name}")


def _count(images: Any) -> int:
    return len(images.images) if isinstance(images, ImageSet) else len(np.asarray(images))


def _unit_images(model: keras.Model, images: Images, what: str) -> np.ndarray:
    """``images`` as float32 ``(n, h, w)`` in ``[0, 1]``, checked against the model's input."""
    if isinstance(images, ImageSet):
        image_set = images
    else:
        try:
            image_set = ImageSet(np.asarray(images))
        except ValueError as error:
            raise ValueError(f"The {what} are unusable: {error}") from error
    return classifier_inputs(model, image_set, what)[..., 0]
