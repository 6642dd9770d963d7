"""The MLflow face of a Drift Detector Checker: a ``pyfunc`` model logged as "model from code".

:meth:`DriftDetectorChecker.log_model` logs a trained detector with :func:`log_model`: the
directory :meth:`DriftDetectorChecker.save` writes becomes the model's artifact, and a
small code file (``drift_detector_model.py`` in the model) rebuilds the ``pyfunc`` with
:func:`pyfunc_model`, so nothing is pickled. Its ``predict`` takes float32 images and
returns their reconstruction errors; :func:`load_model` gives back the whole detector,
which is how :meth:`DriftDetectorChecker.load` reads MLflow model URIs.

MLflow is imported only when a model is logged or loaded, so importing this module stays
cheap.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kedro_scanflow.checkers.drift_detector import DriftDetectorChecker, dependency_versions

if TYPE_CHECKING:
    from mlflow.models.model import ModelInfo

# Key (and folder name) of the saved detector among the model's artifacts. Models already
# logged read it back under this key, so it must not change.
ARTIFACT = "drift_detector"
# The file MLflow stores with the model and runs to rebuild it. Models logged before this
# module existed import ``pyfunc_model`` from ``kedro_scanflow.checkers.drift_detector``,
# which still provides it.
_MODEL_CODE = """\
\"\"\"MLflow model code of a kedro-scanflow drift detector (DriftDetectorChecker.log_model).\"\"\"
import mlflow

from kedro_scanflow.checkers.drift_detector_model import pyfunc_model

mlflow.models.set_model(pyfunc_model())
"""


def log_model(
    detector: DriftDetectorChecker, name: str, *, registered_model_name: str | None = None
) -> ModelInfo:
    """Log a trained detector as an MLflow ``pyfunc`` model in the active run.

    Args:
        detector: The detector, trained (:meth:`DriftDetectorChecker.log_model` checks it).
        name: Name of the logged model (its artifact path in the run).
        registered_model_name: Also register it under this name in the Model Registry.

    Returns:
        MLflow's ``ModelInfo``; ``model_info.model_uri`` loads it back.
    """
    import tempfile  # noqa: PLC0415

    import mlflow.pyfunc  # noqa: PLC0415
    from mlflow.models import ModelSignature  # noqa: PLC0415
    from mlflow.types import Schema, TensorSpec  # noqa: PLC0415

    image_shape = detector.image_shape
    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, *image_shape))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1,))]),
    )
    with tempfile.TemporaryDirectory(prefix="drift-detector-") as scratch:
        saved = detector.save(Path(scratch) / ARTIFACT)
        model_code = Path(scratch) / "drift_detector_model.py"
        model_code.write_text(_MODEL_CODE)
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(model_code),
            artifacts={ARTIFACT: str(saved)},
            signature=signature,
            input_example=np.zeros((1, *image_shape), np.float32),
            pip_requirements=_pip_requirements(),
            registered_model_name=registered_model_name,
            metadata={"scanflow.kind": "drift_detector", "image_shape": list(image_shape)},
        )


def load_model(model_uri: str | Path) -> DriftDetectorChecker:
    """The detector inside an MLflow model logged by :func:`log_model`.

    Args:
        model_uri: An MLflow model URI (``runs:/<run_id>/drift_detector``,
            ``models:/<name>/<version>``, ``models:/<name>@champion``) or a local MLflow
            model directory.

    Returns:
        The detector, ready to score.
    """
    import mlflow.pyfunc  # noqa: PLC0415

    wrapper = mlflow.pyfunc.load_model(str(model_uri)).unwrap_python_model()
    return wrapper.detector


def pyfunc_model() -> Any:
    """A new MLflow ``PythonModel`` that serves a logged :class:`DriftDetectorChecker`.

    ``load_context`` loads the detector from the model's artifacts; ``predict`` returns the
    reconstruction error of each image it is given. The class is created on first call so
    that importing this module does not import MLflow. :func:`log_model` logs it as MLflow
    "model from code", so nothing is pickled.

    Returns:
        An instance of ``DriftDetectorPyfunc``, a subclass of ``mlflow.pyfunc.PythonModel``.
    """
    return _pyfunc_class()()


@functools.cache
def _pyfunc_class() -> type:
    import mlflow.pyfunc  # noqa: PLC0415

    class DriftDetectorPyfunc(mlflow.pyfunc.PythonModel):
        """The MLflow face of a :class:`DriftDetectorChecker`: ``predict`` gives errors."""

        detector: DriftDetectorChecker

        def load_context(self, context: Any) -> None:
            self.detector = DriftDetectorChecker.load(context.artifacts[ARTIFACT])

        def predict(
            self, context: Any, model_input: np.ndarray, params: dict[str, Any] | None = None
        ) -> np.ndarray:
            images = _model_input_images(model_input, self.detector.image_shape)
            return self.detector.score(images)

    return DriftDetectorPyfunc


def _model_input_images(model_input: Any, image_shape: tuple[int, int]) -> np.ndarray:
    """Images from what MLflow hands a pyfunc: an array, or a frame of flattened pixels."""
    if hasattr(model_input, "to_numpy"):
        model_input = model_input.to_numpy()
    array = np.asarray(model_input)
    if array.ndim == 2 and array.shape[1] == image_shape[0] * image_shape[1]:
        array = array.reshape(len(array), *image_shape)
    return array


def _pip_requirements() -> list[str]:
    """What an inference container installs to load the MLflow model: the versions in use."""
    return [f"{name}=={version}" for name, version in dependency_versions().items()]
