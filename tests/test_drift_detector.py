"""The Drift Detector Checker on real MNIST digits (the 5,000-image subset shipped in data/).

What users rely on: the autoencoder is the paper's, trained reproducibly on clean digits;
corrupted digits score far above clean ones and the Critical Point Selector picks them
more often than chance; fast scoring gives the numbers Keras would; the latent space puts
a digit next to digits of its class; a detector saved to a directory or logged to MLflow
comes back scoring exactly the same; bad input is refused with a message that says why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kedro_scanflow.checkers import CriticalPointSelector, DriftDetectorChecker, RandomPointSelector
from kedro_scanflow.io import ImageSet

from .digit_models import shuffled_mnist, sqlite_tracking

N_TRAIN = 2000
N_NEW = 1000
CORRUPTED_SHARE = 0.10


def _salt_and_pepper(
    images: np.ndarray, amount: float, generator: np.random.Generator
) -> np.ndarray:
    """Impulse noise: a share ``amount`` of the pixels turns black or white at random."""
    noisy = images.copy()
    hit = generator.random(noisy.shape) < amount
    noisy[hit] = np.where(generator.random(hit.sum()) < 0.5, 0, 255)
    return noisy


def _keras_errors(detector: DriftDetectorChecker, images: np.ndarray) -> np.ndarray:
    """Reconstruction errors the plain Keras way: ``predict``, then binary cross-entropy."""
    import keras  # noqa: PLC0415 - keeps collecting the fast tests free of TensorFlow

    pixels = ImageSet(images).as_float()[..., None]
    reconstruction = detector.model.predict(pixels, verbose=0)
    errors = keras.losses.binary_crossentropy(pixels, reconstruction)
    return keras.ops.convert_to_numpy(errors).mean(axis=(1, 2))


@pytest.fixture(scope="module")
def mnist() -> ImageSet:
    """The shipped digits in a seeded random order (the files are sorted by class)."""
    return shuffled_mnist()


@pytest.fixture(scope="module")
def training_digits(mnist: ImageSet) -> ImageSet:
    return mnist.subset(np.arange(N_TRAIN))


@pytest.fixture(scope="module")
def new_digits(mnist: ImageSet) -> tuple[ImageSet, np.ndarray]:
    """Unseen digits, a tenth of them corrupted by salt-and-pepper noise, and which ones."""
    new = mnist.subset(np.arange(N_TRAIN, N_TRAIN + N_NEW))
    generator = np.random.default_rng(2024)
    corrupted = np.zeros(N_NEW, dtype=bool)
    corrupted[generator.choice(N_NEW, int(N_NEW * CORRUPTED_SHARE), replace=False)] = True
    images = new.images.copy()
    images[corrupted] = _salt_and_pepper(images[corrupted], 0.10, generator)
    return ImageSet(images, new.labels), corrupted


@pytest.fixture(scope="module")
def detector(training_digits: ImageSet) -> DriftDetectorChecker:
    """A detector trained on clean digits, small enough for a test run (about 15 s)."""
    return DriftDetectorChecker(epochs=8, batch_size=32, seed=7).fit(training_digits)


def test_importing_the_checkers_does_not_import_tensorflow() -> None:
    probe = (
        "import sys, kedro_scanflow.checkers; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'mlflow', 'scipy.stats') if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"


def test_the_autoencoder_is_the_papers() -> None:
    model = DriftDetectorChecker((28, 28)).build()

    kinds = [layer.__class__.__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 7
    assert kinds.count("MaxPooling2D") == 3
    assert kinds.count("UpSampling2D") == 3
    assert "ZeroPadding2D" not in kinds  # 28x28 needs no padding
    assert model.loss == "binary_crossentropy"
    assert tuple(model.output.shape) == (None, 28, 28, 1)
    assert tuple(model.get_layer("encoder_pool3").output.shape) == (None, 4, 4, 8)
    assert model.get_layer("decoder_conv3").padding == "valid"


def test_images_smaller_than_8_pixels_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 8x8"):
        DriftDetectorChecker((6, 28))


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((0, 28, 28), np.uint8), "no images"),
        (np.zeros((4, 28, 28, 3), np.uint8), r"grayscale images shaped \(n, height, width\)"),
        (np.full((4, 28, 28), 255.0, np.float32), r"scaled to \[0, 1\]"),
        (np.full((4, 28, 28), np.nan, np.float32), "NaN"),
        (np.full((4, 28, 28), 300, np.int64), "0-255"),
        (np.zeros((4, 32, 32), np.uint8), "works on 28x28 images, got 32x32"),
    ],
)
def test_unusable_images_are_refused_before_training(images: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DriftDetectorChecker((28, 28)).fit(images)


def test_an_untrained_detector_refuses_to_score() -> None:
    with pytest.raises(ValueError, match="not trained"):
        DriftDetectorChecker((28, 28)).score(np.zeros((2, 28, 28), np.uint8))


def test_loading_from_a_folder_without_a_detector_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="neither a saved drift detector"):
        DriftDetectorChecker.load(tmp_path)


@pytest.mark.slow
def test_corrupted_digits_score_far_above_clean_ones(
    detector: DriftDetectorChecker, new_digits: tuple[ImageSet, np.ndarray]
) -> None:
    images, corrupted = new_digits
    errors = detector.score(images)
    typical_ceiling = np.quantile(detector.training_losses, 0.99)

    assert errors.shape == (N_NEW,)
    assert np.mean(errors[corrupted] > typical_ceiling) >= 0.95
    assert np.mean(errors[~corrupted] > typical_ceiling) <= 0.05


@pytest.mark.slow
@pytest.mark.parametrize(("tails", "least_enrichment"), [("both", 1.6), ("upper", 2.5)])
def test_critical_points_are_enriched_in_corrupted_digits(
    detector: DriftDetectorChecker,
    new_digits: tuple[ImageSet, np.ndarray],
    tails: str,
    least_enrichment: float,
) -> None:
    images, corrupted = new_digits
    errors = detector.score(images)
    chosen = [
        CriticalPointSelector(100, seed=seed, tails=tails).select(errors, detector.training_losses)
        for seed in range(5)
    ]
    by_chance = [RandomPointSelector(100, seed=seed).select(errors) for seed in range(5)]

    selected_share = np.mean([corrupted[points.indices].mean() for points in chosen])
    random_share = np.mean([corrupted[points.indices].mean() for points in by_chance])
    assert selected_share >= least_enrichment * CORRUPTED_SHARE
    assert selected_share >= random_share + 0.05
    assert random_share <= 1.5 * CORRUPTED_SHARE


@pytest.mark.slow
def test_scores_are_deterministic_and_do_not_depend_on_batching(
    detector: DriftDetectorChecker, new_digits: tuple[ImageSet, np.ndarray]
) -> None:
    images, _ = new_digits
    errors = detector.score(images)

    np.testing.assert_array_equal(detector.score(images), errors)
    np.testing.assert_allclose(detector.score(images.images[7:19]), errors[7:19], rtol=1e-5)
    np.testing.assert_allclose(detector.score(images.as_float()), errors, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_fast_scoring_equals_keras_predict_and_binary_cross_entropy(
    detector: DriftDetectorChecker, new_digits: tuple[ImageSet, np.ndarray]
) -> None:
    images, _ = new_digits

    np.testing.assert_allclose(
        detector.score(images), _keras_errors(detector, images.images), rtol=1e-5, atol=1e-6
    )


@pytest.mark.slow
def test_the_latent_space_puts_digits_next_to_digits_of_their_class(
    detector: DriftDetectorChecker,
    training_digits: ImageSet,
    new_digits: tuple[ImageSet, np.ndarray],
) -> None:
    import keras  # noqa: PLC0415 - keeps collecting the fast tests free of TensorFlow

    images, corrupted = new_digits
    clean = images.subset(np.flatnonzero(~corrupted))
    training_latent = detector.embed(training_digits)
    new_latent = detector.embed(clean)
    encoder = keras.Model(detector.model.input, detector.model.get_layer("encoder_pool3").output)

    assert new_latent.shape == (len(clean), 128)
    np.testing.assert_allclose(
        new_latent,
        encoder.predict(clean.as_float()[..., None], verbose=0).reshape(len(clean), -1),
        rtol=1e-5,
        atol=1e-5,
    )
    squared = (new_latent**2).sum(1)[:, None] - 2 * new_latent @ training_latent.T
    nearest = np.argmin(squared + (training_latent**2).sum(1)[None, :], axis=1)
    assert np.mean(training_digits.labels[nearest] == clean.labels) >= 0.8


@pytest.mark.slow
def test_training_is_reproducible_with_a_seed(training_digits: ImageSet) -> None:
    digits = training_digits.subset(np.arange(256))
    first = DriftDetectorChecker(epochs=1, seed=3).fit(digits)
    second = DriftDetectorChecker(epochs=1, seed=3).fit(digits)
    other = DriftDetectorChecker(epochs=1, seed=4).fit(digits)

    for mine, theirs in zip(first.model.get_weights(), second.model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_array_equal(first.training_losses, second.training_losses)
    assert not np.array_equal(first.model.get_weights()[0], other.model.get_weights()[0])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("crop", "padding_layers"),
    [((slice(1, 27), slice(0, 27)), 1), ((slice(None), slice(None)), 0)],
    ids=["26x27-padded", "32x32"],
)
def test_sizes_not_divisible_by_8_are_padded_inside_the_model(
    training_digits: ImageSet, crop: tuple[slice, slice], padding_layers: int
) -> None:
    images = training_digits.images[:256]
    images = (
        images[:, crop[0], crop[1]] if padding_layers else np.pad(images, ((0, 0), (2, 2), (2, 2)))
    )
    detector = DriftDetectorChecker(epochs=1).fit(images)
    kinds = [layer.__class__.__name__ for layer in detector.model.layers]

    assert kinds.count("ZeroPadding2D") == kinds.count("Cropping2D") == padding_layers
    assert tuple(detector.model.output.shape[1:3]) == images.shape[1:]
    np.testing.assert_allclose(
        detector.score(images), _keras_errors(detector, images), rtol=1e-5, atol=1e-6
    )


@pytest.mark.slow
def test_a_saved_detector_scores_exactly_like_the_original(
    detector: DriftDetectorChecker, new_digits: tuple[ImageSet, np.ndarray], tmp_path: Path
) -> None:
    images, _ = new_digits
    folder = detector.save(tmp_path / "detector")
    description = json.loads((folder / "drift_detector.json").read_text())
    loaded = DriftDetectorChecker.load(folder)

    assert {path.name for path in folder.iterdir()} == {
        "autoencoder.keras",
        "drift_detector.json",
        "training_losses.npy",
    }
    assert description["image_shape"] == [28, 28]
    assert description["training"]["n_images"] == N_TRAIN
    assert description["training"]["errors"]["quantiles"]["0.80"] == pytest.approx(
        np.quantile(detector.training_losses, 0.80)
    )
    assert loaded.seed == 7 and loaded.epochs == 8
    np.testing.assert_array_equal(loaded.training_losses, detector.training_losses)
    np.testing.assert_array_equal(loaded.score(images), detector.score(images))
    np.testing.assert_array_equal(loaded.embed(images), detector.embed(images))


@pytest.fixture
def mlflow_tracking(tmp_path: Path) -> Iterator[str]:
    """A real MLflow sqlite tracking store and artifact folder in ``tmp_path``."""
    with sqlite_tracking(tmp_path, "drift-detector") as experiment:
        yield experiment


@pytest.mark.slow
def test_a_detector_logged_to_mlflow_comes_back_without_retraining(
    detector: DriftDetectorChecker,
    new_digits: tuple[ImageSet, np.ndarray],
    mlflow_tracking: str,
) -> None:
    import mlflow  # noqa: PLC0415

    images, _ = new_digits
    with mlflow.start_run(experiment_id=mlflow_tracking) as run:
        info = detector.log_model(registered_model_name="mnist-drift-detector")
    expected = detector.score(images)

    for uri in (
        info.model_uri,
        f"runs:/{run.info.run_id}/drift_detector",
        "models:/mnist-drift-detector/1",
    ):
        loaded = DriftDetectorChecker.load(uri)
        np.testing.assert_array_equal(loaded.score(images), expected)
        np.testing.assert_array_equal(loaded.training_losses, detector.training_losses)
    served = mlflow.pyfunc.load_model(info.model_uri).predict(images.as_float()[:50])
    np.testing.assert_allclose(served, expected[:50], rtol=1e-5, atol=1e-7)
