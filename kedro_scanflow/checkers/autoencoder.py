"""The Scanflow paper's convolutional autoencoder, the model inside the Drift Detector Checker.

The architecture is the paper's (section 3.4): 7 convolutional layers, 3 max-pooling
layers and 3 up-sampling layers, trained with binary cross-entropy::

    conv 16 - pool - conv 8 - pool - conv 8 - pool         (encoder, 28x28 -> 4x4x8)
    conv 8 - up - conv 8 - up - conv 16 (valid) - up - conv 1 (sigmoid)   (decoder)

The ``valid`` convolution is what brings 16x16 back to 14x14, so that the decoder ends at
28x28. Images whose sides are 4 (mod 8), like MNIST, use exactly this layout; sides that
are multiples of 8 use a ``same`` convolution instead; any other size is zero-padded
inside the model to the nearest of those two layouts and cropped back at the output, so
every image size of at least 8x8 works and the error is always computed on the original
pixels only. :class:`AutoencoderLayout` makes that choice for one image size.

Keras is imported only when a model is built, so importing this module stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

ENCODER_FILTERS = (16, 8, 8)
_DECODER_FILTERS = (8, 8, 16)
_MIN_SIDE = 8


@dataclass(frozen=True)
class AutoencoderLayout:
    """How images of one size sit in the autoencoder: padding and decoder variant."""

    image_shape: tuple[int, int]
    padded_shape: tuple[int, int]

    @classmethod
    def for_image_shape(cls, image_shape: tuple[int, int]) -> AutoencoderLayout:
        """The layout for images of ``image_shape``, padded as little as possible.

        Args:
            image_shape: ``(height, width)`` of the images.

        Returns:
            The layout: the paper's when both sides are 4 (mod 8), otherwise the cheaper
            of padding to 4 (mod 8) or to a multiple of 8 (the paper's wins ties).

        Raises:
            ValueError: When a side is smaller than 8 pixels.
        """
        height, width = (int(side) for side in image_shape)
        if min(height, width) < _MIN_SIDE:
            raise ValueError(
                f"DriftDetectorChecker needs images of at least {_MIN_SIDE}x{_MIN_SIDE} "
                f"pixels (three 2x2 poolings), got {height}x{width}."
            )
        candidates = []
        for residue in (4, 0):  # 4 first: the paper's layout wins ties
            padded = (height + (residue - height) % 8, width + (residue - width) % 8)
            candidates.append((padded[0] * padded[1], padded))
        _, padded_shape = min(candidates, key=lambda candidate: candidate[0])
        return cls((height, width), padded_shape)

    @property
    def decoder_valid(self) -> bool:
        """Whether the third decoder convolution is ``valid`` (sides 4 mod 8, like 28)."""
        return self.padded_shape[0] % 8 == 4

    @property
    def padding(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """``((top, bottom), (left, right))`` zero padding around each image."""
        pads = []
        for side, padded in zip(self.image_shape, self.padded_shape, strict=True):
            extra = padded - side
            pads.append((extra // 2, extra - extra // 2))
        return pads[0], pads[1]

    @property
    def is_padded(self) -> bool:
        """Whether the images are padded inside the model (and cropped at its output)."""
        return self.image_shape != self.padded_shape


def build_autoencoder(layout: AutoencoderLayout, learning_rate: float) -> keras.Model:
    """The paper's convolutional autoencoder, compiled with binary cross-entropy.

    Args:
        layout: Image size, padding and decoder variant of the model.
        learning_rate: Learning rate of the Adam optimizer it is compiled with.

    Returns:
        The untrained Keras model, from ``(h, w, 1)`` images to their reconstruction;
        its layers are named (``encoder_conv1`` ... ``reconstruction``) so that the
        encoder can be cut out of it.
    """
    import keras  # noqa: PLC0415 - keep importing the checkers cheap

    layers = keras.layers
    inputs = keras.Input((*layout.image_shape, 1), name="images")
    hidden = inputs
    if layout.is_padded:
        hidden = layers.ZeroPadding2D(layout.padding, name="pad")(hidden)
    for index, filters in enumerate(ENCODER_FILTERS, start=1):
        hidden = layers.Conv2D(
            filters, 3, activation="relu", padding="same", name=f"encoder_conv{index}"
        )(hidden)
        hidden = layers.MaxPooling2D(2, padding="same", name=f"encoder_pool{index}")(hidden)
    for index, filters in enumerate(_DECODER_FILTERS, start=1):
        padding = "valid" if index == 3 and layout.decoder_valid else "same"
        hidden = layers.Conv2D(
            filters, 3, activation="relu", padding=padding, name=f"decoder_conv{index}"
        )(hidden)
        hidden = layers.UpSampling2D(2, name=f"decoder_up{index}")(hidden)
    outputs = layers.Conv2D(1, 3, activation="sigmoid", padding="same", name="reconstruction")(
        hidden
    )
    if layout.is_padded:
        outputs = layers.Cropping2D(layout.padding, name="crop")(outputs)
    model = keras.Model(inputs, outputs, name="drift_detector_autoencoder")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="binary_crossentropy"
    )
    return model
