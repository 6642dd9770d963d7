"""``DriftDetectorChecker``: the Scanflow paper's convolutional autoencoder drift detector.

The detector learns to reconstruct the images of the original (clean) distribution; the
per-sample reconstruction error of new images, a binary cross-entropy, says how far each
one lies from that distribution. It is the score the Critical Point Selector ranks, and the
encoder's output is the latent space in which the Human Finder Checker looks for the
nearest clean training samples.

The pieces it is made of live next to it: the paper's architecture in
:mod:`~kedro_scanflow.checkers.autoencoder`, the fast scoring graph in
:mod:`~kedro_scanflow.checkers.fast_scorer`, the images it accepts in
:mod:`~kedro_scanflow.checkers.image_batch`, and its MLflow ``pyfunc`` model in
:mod:`~kedro_scanflow.checkers.drift_detector_model`. This module holds the checker and
the directory format of a saved detector.

TensorFlow, Keras and MLflow are imported only when a model is built, trained, scored,
saved or loaded, so that importing this module (and planning pipelines) stays cheap.
"""

from __future__ import annotations

import json
import logging
from importlib import metadata as distribution_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kedro_scanflow.checkers.autoencoder import AutoencoderLayout, build_autoencoder
from kedro_scanflow.checkers.fast_scorer import ReconstructionScorer
from kedro_scanflow.checkers.image_batch import as_image_batch, as_unit_float
from kedro_scanflow.keras_fit import logged_fit

if TYPE_CHECKING:
    import keras
    from mlflow.models.model import ModelInfo

    from kedro_scanflow.io.image_set import ImageSet

logger = logging.getLogger(__name__)

MODEL_FILE = "autoencoder.keras"
METADATA_FILE = "drift_detector.json"
TRAINING_LOSSES_FILE = "training_losses.npy"
FORMAT_VERSION = 1

_QUANTILE_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)
_MLFLOW_MODEL_NAME = "drift_detector"


class DriftDetectorChecker:
    """The Drift Detector Checker: reconstruction error of new images under a clean autoencoder.

    Train it on the original distribution with :meth:`fit`; :meth:`score` then gives one
    reconstruction error per new image (high means the image drifted), :meth:`embed` the
    latent vector of each image, and :attr:`training_losses` the errors of the training
    images, from which the Critical Point Selector takes its thresholds. A trained detector
    is saved to a directory (:meth:`save`) or logged as an MLflow model (:meth:`log_model`)
    and comes back with :meth:`load`, ready to score without retraining.

    Example::

        detector = DriftDetectorChecker().fit(clean_images)
        errors = detector.score(new_images)
        critical = CriticalPointSelector(n_critical=50).select(errors, detector.training_losses)
    """

    def __init__(
        self,
        image_shape: tuple[int, int] | None = None,
        *,
        epochs: int = 20,
        batch_size: int = 128,
        learning_rate: float = 1e-3,
        seed: int = 42,
        scoring_batch_size: int = 1024,
        scoring_threads: int = 2,
    ):
        """Configure a detector; nothing is built or trained yet.

        Args:
            image_shape: ``(height, width)`` of the images; taken from the training images
                when ``None``. Sides must be at least 8 pixels.
            epochs: Training epochs.
            batch_size: Training batch size.
            learning_rate: Adam learning rate.
            seed: Seed of weight initialisation and batch shuffling (``keras.utils.set_random_seed``).
            scoring_batch_size: Largest batch scored at once.
            scoring_threads: Batches scored at the same time.

        Raises:
            ValueError: When a size, count or rate is not positive, or images are smaller than 8x8.
        """
        for name, value in [
            ("epochs", epochs),
            ("batch_size", batch_size),
            ("learning_rate", learning_rate),
            ("scoring_batch_size", scoring_batch_size),
            ("scoring_threads", scoring_threads),
        ]:
            if not value > 0:
                raise ValueError(f"DriftDetectorChecker: {name} must be positive, got {value}.")
        self._layout = (
            AutoencoderLayout.for_image_shape(image_shape) if image_shape is not None else None
        )
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.seed = int(seed)
        self.scoring_batch_size = int(scoring_batch_size)
        self.scoring_threads = int(scoring_threads)
        self._model: keras.Model | None = None
        self._scorer: ReconstructionScorer | None = None
        self._training_losses: np.ndarray | None = None
        self._training: dict[str, Any] = {}

    @property
    def image_shape(self) -> tuple[int, int] | None:
        """``(height, width)`` of the images this detector works on, once known."""
        return self._layout.image_shape if self._layout else None

    @property
    def model(self) -> keras.Model:
        """The Keras autoencoder (built on first access when the image shape is known).

        Raises:
            ValueError: When the image shape is not known yet.
        """
        if self._model is None:
            self.build()
        return self._model

    @property
    def is_fitted(self) -> bool:
        """Whether the detector was trained (or loaded trained) and can score."""
        return self._training_losses is not None

    @property
    def training_losses(self) -> np.ndarray:
        """Reconstruction error of every training image, measured after training.

        Raises:
            ValueError: When the detector is not trained.
        """
        self._check_fitted()
        return self._training_losses

    @property
    def training_summary(self) -> dict[str, Any]:
        """What training did: images, epochs, seconds, loss per epoch, error quantiles."""
        self._check_fitted()
        return dict(self._training)

    def build(self) -> keras.Model:
        """Build the untrained autoencoder (seeded) and return it.

        Raises:
            ValueError: When the image shape is not known (give ``image_shape`` or call :meth:`fit`).
        """
        import keras  # noqa: PLC0415

        if self._layout is None:
            raise ValueError(
                "DriftDetectorChecker does not know the image size yet: pass image_shape "
                "or call fit(images)."
            )
        keras.utils.set_random_seed(self.seed)
        self._model = build_autoencoder(self._layout, self.learning_rate)
        self._scorer = None
        self._training_losses = None
        return self._model

    def fit(self, images: ImageSet | np.ndarray) -> DriftDetectorChecker:
        """Train the autoencoder on images of the original distribution.

        Training is reproducible: the same seed, images and settings give the same
        weights. Afterwards the error of every training image is kept as
        :attr:`training_losses`.

        Args:
            images: Clean images, ``ImageSet`` or array ``(n, h, w)``, uint8 (0-255) or
                float in ``[0, 1]``.

        Returns:
            The detector itself, trained.

        Raises:
            ValueError: When the images are empty, badly shaped, of another size than
                ``image_shape`` or out of range.
        """
        import keras  # noqa: PLC0415

        array = as_image_batch(images, self.image_shape)
        if self._layout is None:
            self._layout = AutoencoderLayout.for_image_shape(array.shape[1:])
        self.build()
        pixels = as_unit_float(array)[..., None]
        keras.utils.set_random_seed(self.seed)
        fit = logged_fit(
            self._model,
            pixels,
            pixels,
            what="Drift detector",
            epochs=self.epochs,
            batch_size=self.batch_size,
        )
        seconds, losses = fit.seconds, fit.loss_history
        self._training_losses = self._scoring().errors(array)
        self._training = {
            "n_images": len(array),
            "epochs": self.epochs,
            "seconds": round(seconds, 3),
            "loss_history": losses,
            "final_loss": losses[-1],
            "errors": _error_summary(self._training_losses),
        }
        logger.info(
            "Trained the drift detector on %d images in %.1f s (%d epochs, final loss %.5f).",
            len(array),
            seconds,
            self.epochs,
            losses[-1],
        )
        return self

    def score(self, images: ImageSet | np.ndarray) -> np.ndarray:
        """Reconstruction error (mean binary cross-entropy over pixels) of each image.

        The value equals ``keras.losses.binary_crossentropy`` of the images and
        ``model.predict(images)`` averaged over the pixels, up to float rounding.

        Args:
            images: ``ImageSet`` or array ``(n, h, w)``, uint8 (0-255) or float in ``[0, 1]``.

        Returns:
            float32 array ``(n,)``; higher means further from the training distribution.

        Raises:
            ValueError: When the detector is not trained or the images are unusable.
        """
        self._check_fitted()
        return self._scoring().errors(as_image_batch(images, self.image_shape))

    def embed(self, images: ImageSet | np.ndarray) -> np.ndarray:
        """Latent representation (flattened encoder output) of each image.

        Nearby vectors are images the autoencoder sees as alike; the Human Finder Checker
        proposes the clean training images nearest to a corrupted one in this space.

        Args:
            images: ``ImageSet`` or array ``(n, h, w)``, uint8 (0-255) or float in ``[0, 1]``.

        Returns:
            float32 array ``(n, d)``; ``d`` is 128 for 28x28 images (4 x 4 x 8).

        Raises:
            ValueError: When the detector is not trained or the images are unusable.
        """
        self._check_fitted()
        return self._scoring().latent(as_image_batch(images, self.image_shape))

    def save(self, directory: str | Path) -> Path:
        """Save the trained detector to ``directory``.

        The directory receives the Keras model (``autoencoder.keras``), the training errors
        (``training_losses.npy``) and ``drift_detector.json`` with the settings and the
        training summary (error quantiles, final loss, training time).

        Args:
            directory: Where to save; created when missing.

        Returns:
            The directory.

        Raises:
            ValueError: When the detector is not trained.
        """
        import keras  # noqa: PLC0415

        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        keras.saving.save_model(self._model, directory / MODEL_FILE)
        np.save(directory / TRAINING_LOSSES_FILE, self._training_losses)
        description = {
            "format": "kedro-scanflow/drift-detector",
            "format_version": FORMAT_VERSION,
            "image_shape": list(self.image_shape),
            "settings": {
                "epochs": self.epochs,
                "batch_size": self.batch_size,
                "learning_rate": self.learning_rate,
                "seed": self.seed,
                "scoring_batch_size": self.scoring_batch_size,
                "scoring_threads": self.scoring_threads,
            },
            "training": self._training,
            "versions": dependency_versions(),
        }
        (directory / METADATA_FILE).write_text(json.dumps(description, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, location: str | Path) -> DriftDetectorChecker:
        """Load a trained detector from a directory written by :meth:`save` or from MLflow.

        Args:
            location: A directory written by :meth:`save`, or an MLflow model URI
                (``runs:/<run_id>/drift_detector``, ``models:/<name>/<version>``,
                ``models:/<name>@champion``, or a local MLflow model directory) written
                by :meth:`log_model`.

        Returns:
            The detector, ready to score.

        Raises:
            FileNotFoundError: When a local directory holds neither a saved detector nor
                an MLflow model.
            ValueError: When the saved detector has an unknown format.
        """
        path = Path(location)
        if (path / METADATA_FILE).is_file():
            return cls._load_directory(path)
        if (
            "://" not in str(location)
            and ":/" not in str(location)
            and not (path / "MLmodel").is_file()
        ):
            raise FileNotFoundError(
                f"{location} is neither a saved drift detector (no {METADATA_FILE}) nor an "
                f"MLflow model (no MLmodel)."
            )
        from kedro_scanflow.checkers import drift_detector_model  # noqa: PLC0415 - it imports us

        return drift_detector_model.load_model(location)

    def log_model(
        self, name: str = _MLFLOW_MODEL_NAME, *, registered_model_name: str | None = None
    ) -> ModelInfo:
        """Log the trained detector as an MLflow ``pyfunc`` model in the active run.

        The model's ``predict`` takes float32 images in ``[0, 1]`` shaped ``(n, h, w)``
        and returns their reconstruction errors; :meth:`load` gives back the full detector
        (training errors and fast scoring included). Inference containers load it instead
        of retraining.

        Args:
            name: Name of the logged model (its artifact path in the run).
            registered_model_name: Also register it under this name in the Model Registry.

        Returns:
            MLflow's ``ModelInfo``; ``model_info.model_uri`` loads it back.

        Raises:
            ValueError: When the detector is not trained.
        """
        from kedro_scanflow.checkers import drift_detector_model  # noqa: PLC0415 - it imports us

        self._check_fitted()
        return drift_detector_model.log_model(
            self, name, registered_model_name=registered_model_name
        )

    @classmethod
    def _load_directory(cls, directory: Path) -> DriftDetectorChecker:
        import keras  # noqa: PLC0415

        description = json.loads((directory / METADATA_FILE).read_text())
        if description.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{directory / METADATA_FILE}: unsupported drift detector format version "
                f"{description.get('format_version')!r} (this version reads {FORMAT_VERSION})."
            )
        detector = cls(tuple(description["image_shape"]), **description["settings"])
        detector._model = keras.saving.load_model(directory / MODEL_FILE)
        detector._training_losses = np.load(directory / TRAINING_LOSSES_FILE)
        detector._training = description["training"]
        return detector

    def _scoring(self) -> ReconstructionScorer:
        if self._scorer is None:
            self._scorer = ReconstructionScorer(
                self.model, self._layout, self.scoring_batch_size, self.scoring_threads
            )
        return self._scorer

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise ValueError(
                "The drift detector is not trained: call fit(images) or load(...) first."
            )


def _error_summary(errors: np.ndarray) -> dict[str, Any]:
    """Count, mean, spread and quantiles (every 0.05) of reconstruction errors."""
    values = np.asarray(errors, dtype=np.float64)
    return {
        "count": len(values),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "quantiles": {
            f"{level:.2f}": float(value)
            for level, value in zip(
                _QUANTILE_GRID, np.quantile(values, _QUANTILE_GRID), strict=True
            )
        },
    }


def dependency_versions() -> dict[str, str]:
    """Versions of the packages a saved detector depends on, as installed now.

    :meth:`DriftDetectorChecker.save` records them with the detector and its MLflow model
    pins them as pip requirements.

    Returns:
        ``{distribution: version}`` for kedro-scanflow, Keras, TensorFlow and NumPy, leaving
        out those that are not installed.
    """
    versions = {}
    for distribution in ("kedro-scanflow", "keras", "tensorflow", "tensorflow-cpu", "numpy"):
        try:
            versions[distribution] = distribution_metadata.version(distribution)
        except distribution_metadata.PackageNotFoundError:
            continue
    return versions


def pyfunc_model() -> Any:
    """The MLflow ``PythonModel`` of a logged detector, for models logged before the split.

    Their model code runs ``from kedro_scanflow.checkers.drift_detector import pyfunc_model``;
    the model now lives in :mod:`~kedro_scanflow.checkers.drift_detector_model`.

    Returns:
        What :func:`kedro_scanflow.checkers.drift_detector_model.pyfunc_model` returns.
    """
    from kedro_scanflow.checkers import drift_detector_model  # noqa: PLC0415 - it imports us

    return drift_detector_model.pyfunc_model()
