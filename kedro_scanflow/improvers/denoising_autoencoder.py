"""The convolutional denoising autoencoder of the Model Denoiser Wrapper Improver.

It learns to turn a corrupted image into a clean one from (corrupted, clean) pairs: the
critical samples of a Human Finder task and the clean training images the human chose for
them. The architecture is a small convolutional autoencoder with one 2x2 pooling::

    conv 32 - pool - conv 32             (encoder, 28x28 -> 14x14x32)
    conv 32 - up - conv 32 - conv 1 (sigmoid)   (decoder, back to 28x28)

trained with binary cross-entropy like the drift detector's autoencoder. One pooling level
is enough to wipe out isolated noisy pixels; a second one (7x7) blurs strokes and costs
clean accuracy once a classifier reads the output. Images with odd sides are zero-padded
inside the model and cropped back at its output.

Few pairs are a thin training set, so :func:`denoising_pairs` stretches them: each epoch
shows ``epoch_size`` pairs, of which the finder pairs, cycled through, make
``1 - identity_share``, each under a random flip or quarter turn applied to both images
(denoising does not depend on the orientation, so these are new valid pairs); the rest
are *identity* pairs (clean, clean) from the training images, which teach the denoiser to
leave clean images alone, so that the wrapped classifier keeps its clean accuracy.

Keras is imported only when a model is built or trained, so importing this module stays
cheap.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from kedro_scanflow.improvers.training_workbench import TrainingWorkbench
from kedro_scanflow.keras_fit import logged_fit

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)

DENOISER_NAME = "denoiser"
_SQUARE_TRANSFORMS = np.arange(8)
_FLIP_TRANSFORMS = np.array([0, 2, 4, 6])  # shape-preserving on non-square images


def build_denoising_autoencoder(
    image_shape: tuple[int, int], *, filters: int = 32, learning_rate: float = 1e-3
) -> keras.Model:
    """The untrained denoising autoencoder, compiled with binary cross-entropy.

    Args:
        image_shape: ``(height, width)`` of the images.
        filters: Filters of every hidden convolution.
        learning_rate: Learning rate of the Adam optimizer it is compiled with.

    Returns:
        A functional Keras model named ``denoiser`` from ``(h, w, 1)`` images in
        ``[0, 1]`` to denoised images of the same shape.

    Raises:
        ValueError: When a side is smaller than 2 pixels or ``filters`` is not positive.
    """
    import keras  # noqa: PLC0415 - keep importing the improvers cheap

    height, width = (int(side) for side in image_shape)
    if min(height, width) < 2:
        raise ValueError(f"The denoiser needs images of at least 2x2 pixels, got {height}x{width}.")
    if filters < 1:
        raise ValueError(f"The denoiser needs at least one filter per layer, got {filters}.")
    layers = keras.layers
    padding = ((0, height % 2), (0, width % 2))
    inputs = keras.Input((height, width, 1), name="corrupted")
    hidden = inputs
    if height % 2 or width % 2:
        hidden = layers.ZeroPadding2D(padding, name="denoiser_pad")(hidden)

    def convolution(tensor: Any, name: str) -> Any:
        return layers.Conv2D(filters, 3, activation="relu", padding="same", name=name)(tensor)

    hidden = convolution(hidden, "denoiser_conv1")
    hidden = layers.MaxPooling2D(2, name="denoiser_pool")(hidden)
    hidden = convolution(hidden, "denoiser_conv2")
    hidden = convolution(hidden, "denoiser_conv3")
    hidden = layers.UpSampling2D(2, name="denoiser_up")(hidden)
    hidden = convolution(hidden, "denoiser_conv4")
    outputs = layers.Conv2D(1, 3, activation="sigmoid", padding="same", name="denoised")(hidden)
    if height % 2 or width % 2:
        outputs = layers.Cropping2D(padding, name="denoiser_crop")(outputs)
    model = keras.Model(inputs, outputs, name=DENOISER_NAME)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="binary_crossentropy"
    )
    return model


def denoising_pairs(
    corrupted: np.ndarray,
    clean: np.ndarray,
    identity: np.ndarray | None = None,
    *,
    epoch_size: int = 3000,
    identity_share: float = 0.5,
    augment: bool = True,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """One epoch of training pairs: finder pairs, cycled and augmented, and identity pairs.

    Args:
        corrupted: Corrupted images ``(n, h, w)``, floats in ``[0, 1]``.
        clean: Their clean counterparts ``(n, h, w)``, floats in ``[0, 1]``.
        identity: Clean images ``(m, h, w)`` for (clean, clean) pairs; ``clean`` when ``None``.
        epoch_size: Pairs in the epoch.
        identity_share: Share of identity pairs in the epoch, in ``[0, 1)``.
        augment: Apply a random flip or quarter turn (only flips on non-square images)
            to both images of each finder pair.
        seed: Seed of the augmentation and of the choice of identity images.

    Returns:
        ``(inputs, targets)``, float32 arrays ``(epoch_size, h, w)``.
    """
    rng = np.random.default_rng(seed)
    n_identity = round(identity_share * epoch_size)
    n_pairs = epoch_size - n_identity
    chosen = np.arange(n_pairs) % len(corrupted)
    inputs = corrupted[chosen].astype(np.float32)
    targets = clean[chosen].astype(np.float32)
    if augment:
        square = corrupted.shape[1] == corrupted.shape[2]
        transforms = rng.choice(_SQUARE_TRANSFORMS if square else _FLIP_TRANSFORMS, n_pairs)
        for transform in np.unique(transforms):
            rows = transforms == transform
            inputs[rows] = _dihedral(inputs[rows], int(transform))
            targets[rows] = _dihedral(targets[rows], int(transform))
    pool = clean if identity is None else identity
    picked = rng.choice(len(pool), n_identity, replace=n_identity > len(pool))
    identity_images = pool[picked].astype(np.float32)
    return (
        np.concatenate([inputs, identity_images]),
        np.concatenate([targets, identity_images]),
    )


def train_denoising_autoencoder(
    corrupted: np.ndarray,
    clean: np.ndarray,
    identity: np.ndarray | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    filters: int = 32,
    epoch_size: int = 3000,
    identity_share: float = 0.5,
    augment: bool = True,
    seed: int = 42,
    workbench: TrainingWorkbench | None = None,
) -> tuple[keras.Model, dict[str, Any]]:
    """Build and train a denoising autoencoder on (corrupted, clean) pairs.

    Training is seeded: the same pairs and settings give the same denoiser, whether it is
    built anew or reset on a workbench.

    Args:
        corrupted: Corrupted images ``(n, h, w)``, floats in ``[0, 1]``, ``n >= 1``.
        clean: Their clean counterparts, same shape.
        identity: Clean images for identity pairs; ``clean`` when ``None``.
        epochs: Training epochs.
        batch_size: Training batch size.
        learning_rate: Adam learning rate.
        filters: Filters of every hidden convolution.
        epoch_size: Pairs per epoch (see :func:`denoising_pairs`).
        identity_share: Share of identity pairs per epoch.
        augment: Flip and turn finder pairs.
        seed: Seed of weights, pairs and batch shuffling.
        workbench: Where to train, so that calls with the same image size and settings
            trace the training step once; ``None`` trains on a model of its own.

    Returns:
        The trained denoiser (a copy, when trained on a workbench) and what training did
        (pairs, epochs, losses, seconds).
    """
    import keras  # noqa: PLC0415

    def build() -> keras.Model:
        keras.utils.set_random_seed(seed)
        return build_denoising_autoencoder(
            corrupted.shape[1:3], filters=filters, learning_rate=learning_rate
        )

    bench = TrainingWorkbench() if workbench is None else workbench
    denoiser = bench.model(
        (DENOISER_NAME, corrupted.shape[1:3], filters, learning_rate, seed), build
    )
    keras.utils.set_random_seed(seed)
    inputs, targets = denoising_pairs(
        corrupted,
        clean,
        identity,
        epoch_size=epoch_size,
        identity_share=identity_share,
        augment=augment,
        seed=seed,
    )
    fit = logged_fit(
        denoiser,
        inputs[..., np.newaxis],
        targets[..., np.newaxis],
        what="Denoiser",
        epochs=epochs,
        batch_size=batch_size,
    )
    seconds, losses = fit.seconds, fit.loss_history
    training = {
        "n_pairs": len(corrupted),
        "n_identity_images": len(clean if identity is None else identity),
        "epoch_size": epoch_size,
        "identity_share": identity_share,
        "augment": augment,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "filters": filters,
        "seed": seed,
        "seconds": round(seconds, 3),
        "loss_history": losses,
    }
    logger.info(
        "Trained the denoiser on %d pairs in %.1f s (%d epochs, final loss %.5f).",
        len(corrupted),
        seconds,
        epochs,
        losses[-1],
    )
    return (denoiser if workbench is None else workbench.copy()), training


def _dihedral(images: np.ndarray, transform: int) -> np.ndarray:
    """``images`` turned ``transform % 4`` quarter turns, then mirrored when ``transform >= 4``."""
    turned = np.rot90(images, transform % 4, axes=(1, 2))
    return turned[:, :, ::-1] if transform >= 4 else turned
