"""``Improvement``: what an improver returns, the model to keep and why.

An improver builds a candidate model ``m'``; :func:`decide` scores it (``q'``) and the
current model (``q``) on held-out images of the new distribution (and on clean ones when
given), and :func:`judge` decides: the candidate is kept only when ``q' > q`` (by at least
``min_gain``) and, when a clean held-out set and a tolerance are given, it does not lose
more than that on clean images. User-written improvers can return :func:`decide`'s result
too, so that the planner treats every candidate alike.
The :class:`Improvement` carries the decision, both scores, every per-set evaluation and
what training did, and logs the model to keep as one MLflow Keras model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata as distribution_metadata
from typing import TYPE_CHECKING, Any

import numpy as np

from kedro_scanflow.improvers.model_evaluation import ModelEvaluation, evaluate_model

if TYPE_CHECKING:
    import keras
    from mlflow.models.model import ModelInfo

    from kedro_scanflow.io.image_set import ImageSet

logger = logging.getLogger(__name__)

HELD_OUT = "held_out"
"""Key of the evaluation on held-out images of the new distribution (gives ``q`` and ``q'``)."""
CLEAN_HELD_OUT = "clean_held_out"
"""Key of the evaluation on held-out images of the original (clean) distribution."""


@dataclass(frozen=True)
class SetComparison:
    """The current model and the candidate scored on the same image set."""

    baseline: ModelEvaluation
    candidate: ModelEvaluation | None
    """``None`` when no candidate was built."""

    @property
    def gain(self) -> float | None:
        """Candidate accuracy minus baseline accuracy, ``None`` without a candidate."""
        if self.candidate is None:
            return None
        return self.candidate.accuracy - self.baseline.accuracy

    def as_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline.as_dict(),
            "candidate": None if self.candidate is None else self.candidate.as_dict(),
            "gain": self.gain,
        }


@dataclass(frozen=True)
class Improvement:
    """The outcome of one improver run.

    Attributes:
        improver: Which improver produced it (``model_trainer``, ``model_denoiser_wrapper``).
        accepted: Whether the candidate replaces the current model.
        model: The model to use from now on: the candidate when accepted, otherwise the
            current model itself (the very object the improver was given, untouched).
        candidate: The candidate ``m'``, kept or not (``None`` when none was built).
        baseline_score: ``q``, the current model's accuracy on the held-out new images.
        candidate_score: ``q'``, the candidate's accuracy there (``None`` without one).
        reason: Why the candidate was kept or not, in words.
        evaluations: Per image set (:data:`HELD_OUT`, :data:`CLEAN_HELD_OUT`), both models'
            evaluations.
        training: What building the candidate did: images, repeats, epochs, losses, seconds.
        metric: The name of the score, ``accuracy``.
    """

    improver: str
    accepted: bool
    model: keras.Model
    candidate: keras.Model | None
    baseline_score: float
    candidate_score: float | None
    reason: str
    evaluations: Mapping[str, SetComparison] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    metric: str = "accuracy"

    @property
    def gain(self) -> float | None:
        """``q' - q``, ``None`` without a candidate."""
        if self.candidate_score is None:
            return None
        return self.candidate_score - self.baseline_score

    def metrics(self) -> dict[str, float]:
        """Flat numbers for ``mlflow.log_metrics``: both scores per set, and the decision.

        Returns:
            ``{"accepted": 0 or 1, "held_out.baseline_accuracy": q,
            "held_out.candidate_accuracy": q', ...}``; candidate entries are left out
            when no candidate was built.
        """
        values = {"accepted": float(self.accepted)}
        for name, comparison in self.evaluations.items():
            values[f"{name}.baseline_{self.metric}"] = comparison.baseline.accuracy
            if comparison.candidate is not None:
                values[f"{name}.candidate_{self.metric}"] = comparison.candidate.accuracy
        return values

    def as_dict(self) -> dict[str, Any]:
        """Everything but the models, as plain values (``mlflow.log_dict``, JSON datasets)."""
        return {
            "improver": self.improver,
            "accepted": self.accepted,
            "metric": self.metric,
            "baseline_score": self.baseline_score,
            "candidate_score": self.candidate_score,
            "gain": self.gain,
            "reason": self.reason,
            "evaluations": {name: value.as_dict() for name, value in self.evaluations.items()},
            "training": dict(self.training),
        }

    def log_model(
        self,
        name: str = "model",
        *,
        registered_model_name: str | None = None,
        candidate: bool = False,
    ) -> ModelInfo:
        """Log the model to keep (or the candidate) as ONE MLflow Keras model in the active run.

        A denoiser-wrapped classifier is a single functional Keras model, so it is logged,
        registered and served like any other classifier: ``mlflow.keras.load_model(uri)``
        gives the Keras model back, ``mlflow.pyfunc.load_model(uri).predict(images)`` the
        class probabilities of ``(n, height, width, 1)`` float32 images. The decision and
        both scores go into the model's MLflow metadata.

        Args:
            name: Name of the logged model (its artifact path in the run).
            registered_model_name: Also register it under this name in the Model Registry.
            candidate: Log the candidate instead of :attr:`model` (e.g. to keep a rejected
                candidate for inspection).

        Returns:
            MLflow's ``ModelInfo``; ``model_info.model_uri`` loads it back.

        Raises:
            ValueError: When ``candidate`` is true but no candidate was built.
        """
        import mlflow  # noqa: PLC0415 - keep importing the improvers cheap
        from mlflow.models import infer_signature  # noqa: PLC0415

        model = self.candidate if candidate else self.model
        if model is None:
            raise ValueError(f"The {self.improver} improver built no candidate: {self.reason}")
        example = np.zeros((1, *model.input_shape[1:]), dtype=np.float32)
        return mlflow.keras.log_model(
            model,
            name=name,
            signature=infer_signature(example, np.asarray(model.predict(example, verbose=0))),
            # Stating the requirements skips MLflow's slow inference of them (a subprocess).
            pip_requirements=keras_requirements(),
            registered_model_name=registered_model_name,
            metadata={
                "scanflow.improver": self.improver,
                "scanflow.accepted": self.accepted,
                "scanflow.logged": "candidate" if candidate else "model",
                "scanflow.metric": self.metric,
                "scanflow.baseline_score": self.baseline_score,
                "scanflow.candidate_score": self.candidate_score,
            },
        )


def check_settings(
    improver: str,
    positive: dict[str, float],
    shares: dict[str, float],
    min_gain: float,
    max_clean_drop: float | None,
) -> None:
    """Refuse an improver's settings that cannot work, naming the improver and the setting.

    Args:
        improver: The improver's class name, for the message.
        positive: Counts and rates that must be above 0.
        shares: Shares that must be in ``[0, 1)``.
        min_gain: Must be ``>= 0``.
        max_clean_drop: Must be ``>= 0`` unless ``None``.

    Raises:
        ValueError: For the first setting out of range.
    """
    for name, value in positive.items():
        if not value > 0:
            raise ValueError(f"{improver}: {name} must be positive, got {value}.")
    for name, value in shares.items():
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{improver}: {name} must be in [0, 1), got {value}.")
    if not min_gain >= 0.0:
        raise ValueError(f"{improver}: min_gain must be >= 0, got {min_gain}.")
    if max_clean_drop is not None and not max_clean_drop >= 0.0:
        raise ValueError(f"{improver}: max_clean_drop must be >= 0, got {max_clean_drop}.")


def decide(
    improver: str,
    model: keras.Model,
    candidate: keras.Model | None,
    held_out: ImageSet,
    clean_held_out: ImageSet | None = None,
    *,
    training: Mapping[str, Any],
    min_gain: float = 0.0,
    max_clean_drop: float | None = None,
    no_candidate_reason: str = "no candidate was built",
) -> Improvement:
    """Score the current model and the candidate on the held-out sets, and judge.

    Args:
        improver: Name of the improver, for the result and the log.
        model: The current model.
        candidate: The candidate, or ``None`` when there was nothing to build it from.
        held_out: Labelled held-out images of the new distribution.
        clean_held_out: Labelled held-out clean images, or ``None``.
        training: What building the candidate did.
        min_gain: As :func:`judge`.
        max_clean_drop: As :func:`judge`.
        no_candidate_reason: The reason given when ``candidate`` is ``None``.

    Returns:
        The :class:`Improvement`.
    """
    sets = {HELD_OUT: (held_out, "held-out images")}
    if clean_held_out is not None:
        sets[CLEAN_HELD_OUT] = (clean_held_out, "clean held-out images")
    evaluations = {
        key: SetComparison(
            evaluate_model(model, images, what=what),
            None if candidate is None else evaluate_model(candidate, images, what=what),
        )
        for key, (images, what) in sets.items()
    }
    held = evaluations[HELD_OUT]
    if candidate is None:
        accepted, reason = False, no_candidate_reason
    else:
        accepted, reason = judge(
            held,
            evaluations.get(CLEAN_HELD_OUT),
            min_gain=min_gain,
            max_clean_drop=max_clean_drop,
        )
    logger.info("%s improver: %s (%s).", improver, "accepted" if accepted else "rejected", reason)
    return Improvement(
        improver=improver,
        accepted=accepted,
        model=candidate if accepted else model,
        candidate=candidate,
        baseline_score=held.baseline.accuracy,
        candidate_score=None if held.candidate is None else held.candidate.accuracy,
        reason=reason,
        evaluations=evaluations,
        training=training,
    )


def judge(
    held_out: SetComparison,
    clean_held_out: SetComparison | None = None,
    *,
    min_gain: float = 0.0,
    max_clean_drop: float | None = None,
) -> tuple[bool, str]:
    """Decide whether a candidate replaces the current model.

    Args:
        held_out: Both models on the held-out images of the new distribution.
        clean_held_out: Both models on held-out clean images, when there are some.
        min_gain: How much more accurate than ``q`` the candidate must be: ``q' > q + min_gain``.
        max_clean_drop: When given (and clean images are), the most clean accuracy the
            candidate may lose.

    Returns:
        ``(accepted, reason)``.
    """
    q = held_out.baseline.accuracy
    if held_out.candidate is None:
        return False, "no candidate was built"
    q_new = held_out.candidate.accuracy
    if not q_new > q + min_gain:
        needed = f" + {min_gain:.4f}" if min_gain else ""
        return False, (
            f"candidate accuracy {q_new:.4f} on held-out new images is not above the current "
            f"model's {q:.4f}{needed}"
        )
    reason = f"candidate accuracy {q_new:.4f} > {q:.4f} on held-out new images"
    if clean_held_out is not None and clean_held_out.candidate is not None:
        clean_before = clean_held_out.baseline.accuracy
        clean_after = clean_held_out.candidate.accuracy
        drop = clean_before - clean_after
        if max_clean_drop is not None and drop > max_clean_drop:
            return False, (
                f"{reason}, but clean accuracy falls from {clean_before:.4f} to "
                f"{clean_after:.4f}, more than the allowed {max_clean_drop:.4f}"
            )
        reason += f"; clean accuracy {clean_before:.4f} -> {clean_after:.4f}"
    return True, reason


def keras_requirements() -> list[str]:
    """Pip requirements of a logged Keras model: the Keras, backend and MLflow in use."""
    requirements = []
    for distribution in ("keras", "tensorflow", "tensorflow-cpu", "mlflow"):
        try:
            requirements.append(f"{distribution}=={distribution_metadata.version(distribution)}")
        except distribution_metadata.PackageNotFoundError:
            continue
    return requirements
