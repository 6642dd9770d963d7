"""Fast scoring of a trained drift detector: the autoencoder rewritten as a TensorFlow graph.

Scoring does not go through ``model.predict``. The trained weights of the autoencoder
(:mod:`kedro_scanflow.checkers.autoencoder`) are rewritten into an equivalent inference
graph (:class:`ReconstructionScorer`) that gives the same numbers several times faster on
a CPU; ``benchmarks/drift_detector.py`` measures both.

TensorFlow is imported only when a scorer is created or run, so importing this module
stays cheap.
"""

from __future__ import annotations

import functools
import math
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from kedro_scanflow.checkers.autoencoder import ENCODER_FILTERS

if TYPE_CHECKING:
    from collections.abc import Callable

    import keras

    from kedro_scanflow.checkers.autoencoder import AutoencoderLayout

# Keras clips probabilities to [epsilon, 1 - epsilon] in binary cross-entropy; scoring
# clips the same way so that its errors equal ``binary_crossentropy(x, model.predict(x))``.
_EPSILON = 1e-7


def _pooled_conv_kernel(kernel: np.ndarray) -> np.ndarray:
    """A 3x3 ``same`` convolution followed by 2x2 pooling, as one 4x4 stride-2 convolution.

    Output channel block ``2 * p + q`` holds the convolution at pixel ``(2a + p, 2b + q)``;
    the max over the four blocks is the pooled value.
    """
    channels_in, channels_out = kernel.shape[2:]
    merged = np.zeros((4, 4, channels_in, 4, channels_out), np.float32)
    for row in range(2):
        for column in range(2):
            merged[row : row + 3, column : column + 3, :, 2 * row + column, :] = kernel
    return merged.reshape(4, 4, channels_in, 4 * channels_out)


def _upsampled_taps(phase: int, padding: str) -> np.ndarray:
    """Which low-resolution tap each of the 3 kernel rows reads after 2x nearest up-sampling."""
    if padding == "same":
        taps = np.zeros((3, 3), np.float32)
        for row in range(3):
            taps[1 + (phase + row - 1) // 2, row] = 1.0
    else:
        taps = np.zeros((2, 3), np.float32)
        for row in range(3):
            taps[(phase + row) // 2, row] = 1.0
    return taps


def _upsampled_conv_kernel(kernel: np.ndarray, padding: str) -> np.ndarray:
    """A 2x up-sampling followed by a 3x3 convolution, as one low-resolution convolution.

    The result has 4 blocks of output channels, one per output pixel phase, in the order
    ``tf.nn.depth_to_space`` puts back into place (sub-pixel convolution). A ``same``
    convolution becomes a 3x3 ``same`` one, a ``valid`` one a 2x2 ``valid`` one.
    """
    channels_in, channels_out = kernel.shape[2:]
    size = 3 if padding == "same" else 2
    merged = np.zeros((size, size, channels_in, 4, channels_out), np.float32)
    for row in range(2):
        for column in range(2):
            merged[:, :, :, 2 * row + column, :] = np.einsum(
                "tu,sv,uvio->tsio",
                _upsampled_taps(row, padding),
                _upsampled_taps(column, padding),
                kernel,
            )
    return merged.reshape(size, size, channels_in, 4 * channels_out)


class ReconstructionScorer:
    """Per-sample reconstruction errors and latent vectors from a trained autoencoder.

    The Keras model is rewritten into an inference graph that computes the same function
    with cheaper operations: the first convolution and its pooling become one stride-2
    convolution over the raw pixels, each up-sampling plus convolution becomes one
    low-resolution (sub-pixel) convolution followed by ``depth_to_space``, and the error
    is computed inside the graph. Batches have a fixed set of sizes (the last one is
    padded) and two run at once, which keeps both cores of a small machine busy.
    """

    def __init__(
        self, model: keras.Model, layout: AutoencoderLayout, batch_size: int, threads: int
    ):
        """Rewrite the weights of a trained autoencoder into the scoring graph.

        Args:
            model: The trained autoencoder (:func:`~.autoencoder.build_autoencoder`).
            layout: The layout it was built with.
            batch_size: Largest batch scored at once.
            threads: Batches scored at the same time.

        Raises:
            ValueError: When ``model`` does not have the autoencoder's 7 convolutions.
        """
        import tensorflow as tf  # noqa: PLC0415

        self._layout = layout
        self._batch_size = batch_size
        self._threads = max(1, threads)
        kernels = [
            layer.get_weights() for layer in model.layers if layer.__class__.__name__ == "Conv2D"
        ]
        if len(kernels) != 7:
            raise ValueError(
                f"Expected the 7 convolutions of the drift detector, found {len(kernels)}."
            )
        (k1, b1), (k2, b2), (k3, b3), (k4, b4), (k5, b5), (k6, b6), (k7, b7) = kernels
        third = "valid" if layout.decoder_valid else "same"
        constant = functools.partial(tf.constant, dtype=tf.float32)
        self._encoder_weights = (
            constant(_pooled_conv_kernel(k1)),
            constant(np.tile(b1, 4)),
            constant(k2),
            constant(b2),
            constant(k3),
            constant(b3),
        )
        self._decoder_weights = (
            constant(k4),
            constant(b4),
            constant(_upsampled_conv_kernel(k5, "same")),
            constant(np.tile(b5, 4)),
            constant(_upsampled_conv_kernel(k6, third)),
            constant(np.tile(b6, 4)),
            constant(_upsampled_conv_kernel(k7, "same")),
            constant(np.tile(b7, 4)),
        )
        self._third_padding = third.upper()
        self._functions: dict[tuple[str, Any], Callable[[Any], Any]] = {}

    def errors(self, images: np.ndarray) -> np.ndarray:
        """Mean binary cross-entropy per image of ``images`` (``(n, h, w)`` uint8 or float32)."""
        return self._run("errors", images)

    def latent(self, images: np.ndarray) -> np.ndarray:
        """Flattened encoder output per image of ``images``."""
        return self._run("latent", images)

    def _run(self, kind: str, images: np.ndarray) -> np.ndarray:
        function = self._function(kind, images.dtype)
        chunk = self._chunk_size(len(images))
        starts = range(0, len(images), chunk)

        def run_chunk(start: int) -> np.ndarray:
            batch = images[start : start + chunk]
            missing = chunk - len(batch)
            if missing:
                batch = np.concatenate([batch, np.zeros((missing, *batch.shape[1:]), batch.dtype)])
            return function(batch).numpy()[: chunk - missing]

        if len(starts) == 1 or self._threads == 1:
            return np.concatenate([run_chunk(start) for start in starts])
        with ThreadPoolExecutor(max_workers=self._threads) as pool:
            return np.concatenate(list(pool.map(run_chunk, starts)))

    def _chunk_size(self, count: int) -> int:
        """A power of two (32 up to the batch size) that gives every thread some work."""
        per_thread = math.ceil(count / self._threads)
        return min(self._batch_size, max(32, 1 << (per_thread - 1).bit_length()))

    def _function(self, kind: str, dtype: np.dtype) -> Callable[[Any], Any]:
        key = (kind, np.dtype(dtype))
        if key not in self._functions:
            import tensorflow as tf  # noqa: PLC0415

            graph = self._errors_graph if kind == "errors" else self._latent_graph
            spec = tf.TensorSpec([None, *self._layout.image_shape], tf.as_dtype(dtype))
            self._functions[key] = tf.function(graph, input_signature=[spec], autograph=False)
        return self._functions[key]

    def _unit_pixels(self, images: Any) -> Any:
        import tensorflow as tf  # noqa: PLC0415

        if images.dtype == tf.uint8:
            return tf.cast(images, tf.float32) / 255.0
        return images

    def _encode(self, pixels: Any) -> Any:
        import tensorflow as tf  # noqa: PLC0415

        k1, b1, k2, b2, k3, b3 = self._encoder_weights
        if self._layout.is_padded:
            pixels = tf.pad(pixels, [[0, 0], *self._layout.padding])
        # relu(max(x) + b) == max(relu(x + b)): bias and relu fuse into the convolution.
        hidden = tf.nn.conv2d(pixels[..., None], k1, 2, [[0, 0], [1, 1], [1, 1], [0, 0]])
        hidden = tf.nn.relu(hidden + b1)
        shape = tf.shape(hidden)
        hidden = tf.reshape(hidden, [shape[0], shape[1], shape[2], 4, ENCODER_FILTERS[0]])
        hidden = tf.reduce_max(hidden, axis=3)
        hidden = tf.nn.relu(tf.nn.conv2d(hidden, k2, 1, "SAME") + b2)
        hidden = tf.nn.max_pool2d(hidden, 2, 2, "SAME")
        hidden = tf.nn.relu(tf.nn.conv2d(hidden, k3, 1, "SAME") + b3)
        return tf.nn.max_pool2d(hidden, 2, 2, "SAME")

    def _errors_graph(self, images: Any) -> Any:
        import tensorflow as tf  # noqa: PLC0415

        pixels = self._unit_pixels(images)
        k4, b4, k5, b5, k6, b6, k7, b7 = self._decoder_weights
        hidden = tf.nn.relu(tf.nn.conv2d(self._encode(pixels), k4, 1, "SAME") + b4)
        hidden = tf.nn.depth_to_space(tf.nn.relu(tf.nn.conv2d(hidden, k5, 1, "SAME") + b5), 2)
        hidden = tf.nn.conv2d(hidden, k6, 1, self._third_padding) + b6
        hidden = tf.nn.depth_to_space(tf.nn.relu(hidden), 2)
        logits = tf.nn.depth_to_space(tf.nn.conv2d(hidden, k7, 1, "SAME") + b7, 2)[..., 0]
        if self._layout.is_padded:
            (top, _), (left, _) = self._layout.padding
            height, width = self._layout.image_shape
            logits = logits[:, top : top + height, left : left + width]
        reconstruction = tf.clip_by_value(tf.sigmoid(logits), _EPSILON, 1.0 - _EPSILON)
        cross_entropy = pixels * tf.math.log(reconstruction)
        cross_entropy += (1.0 - pixels) * tf.math.log(1.0 - reconstruction)
        return -tf.reduce_mean(cross_entropy, axis=[1, 2])

    def _latent_graph(self, images: Any) -> Any:
        import tensorflow as tf  # noqa: PLC0415

        latent = self._encode(self._unit_pixels(images))
        return tf.reshape(latent, [tf.shape(latent)[0], -1])
