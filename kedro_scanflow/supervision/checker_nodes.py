"""Node functions of the Checker special nodes.

The drift detector is fitted on the original distribution, scores the new data, and the
critical point selector picks what a human should look at; the human (or, in experiments,
a simulated oracle) labels those points or matches them with clean training samples;
symbolic rules tag observations that break known facts.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from kedro_scanflow.checkers import (
    CriticalPoints,
    CriticalPointSelector,
    DriftDetectorChecker,
    RandomPointSelector,
    SymbolicChecker,
    plot_critical_samples,
    plot_reconstruction_errors,
)
from kedro_scanflow.config.supervision_config import (
    DriftDetectorOptions,
    HumanFinderOptions,
    HumanLabelerOptions,
    RandomSelectorOptions,
    SymbolicCheckerOptions,
)
from kedro_scanflow.human import (
    FinderPairs,
    LabelStore,
    SimulatedOracle,
    new_task_name,
    propose_references,
)
from kedro_scanflow.improvers.model_evaluation import predict_classes
from kedro_scanflow.io.image_set import ImageSet
from kedro_scanflow.supervision.mlflow_logging import log_params_if_tracking
from kedro_scanflow.tasks.task_process import RUN_ID_VARIABLE

# Annotation types are imported at run time (all of them are light): Kedro resolves the
# type hints of node functions. Figures are typed ``Any`` to keep matplotlib unloaded.

logger = logging.getLogger(__name__)


class LabelsPending(RuntimeError):
    """The human has not answered enough of a labeling task yet.

    Not an error of the data: the run stops here, the human answers (``kedro scanflow
    label``), and ``kedro scanflow run --resume`` carries on from this node.
    """


def fit_drift_detector(
    reference_data: ImageSet, *, options: DriftDetectorOptions
) -> DriftDetectorChecker:
    """Train the drift detector's autoencoder on the original distribution, or load the one
    ``model_uri`` names; with ``register_as``, log and register the fitted detector."""
    log_params_if_tracking(options, prefix="drift_detector")
    if options.model_uri:
        logger.info("Loading the drift detector %s (no training)", options.model_uri)
        return DriftDetectorChecker.load(options.model_uri)
    detector = DriftDetectorChecker(epochs=options.epochs, seed=options.seed).fit(reference_data)
    if options.register_as:
        info = detector.log_model(registered_model_name=options.register_as)
        logger.info("Registered the drift detector as %s (%s)", options.register_as, info.model_uri)
    return detector


def score_drift(detector: DriftDetectorChecker, new_data: ImageSet) -> np.ndarray:
    """Reconstruction error of every new observation (higher: farther from the original)."""
    return detector.score(new_data)


def select_critical_points(
    drift_scores: np.ndarray,
    detector: DriftDetectorChecker,
    new_data: ImageSet,
    *,
    options: DriftDetectorOptions,
) -> tuple[CriticalPoints, Any, Any]:
    """Paper's Algorithm 7: thresholds from the training errors, then the most likely
    critical points; with the error histogram and a grid of the chosen samples."""
    selector = CriticalPointSelector(options.n_critical, tails=options.tails, seed=options.seed)
    critical = selector.select(drift_scores, detector.training_losses)
    histogram = plot_reconstruction_errors(
        detector.training_losses,
        drift_scores,
        critical,
        lower_threshold=critical.lower_threshold,
        upper_threshold=critical.upper_threshold,
    )
    grid = plot_critical_samples(new_data.images, critical)
    logger.info(
        "%d critical points out of %d new observations (%d outside the thresholds)",
        len(critical.indices),
        len(new_data),
        critical.n_candidates,
    )
    return critical, histogram, grid


def select_random_points(new_data: ImageSet, *, options: RandomSelectorOptions) -> CriticalPoints:
    """Random observations to label: the paper's RND baseline."""
    return RandomPointSelector(options.n_critical, seed=options.seed).select(
        np.zeros(len(new_data))
    )


def check_rules(new_data: ImageSet, *, options: SymbolicCheckerOptions) -> dict[str, Any]:
    """Tag the observations that break the declared rules; returns the report."""
    checker = SymbolicChecker(options.rules)
    result = checker.check(new_data)
    report = result.summary()
    logger.info("Symbolic checker: %s", report)
    return report


def request_labels(
    critical: CriticalPoints,
    new_data: ImageSet,
    model: Any,
    *,
    options: HumanLabelerOptions,
    namespace: str,
) -> tuple[ImageSet, dict[str, Any]]:
    """Ask the human for the labels of the critical points (the Human Labeler Checker).

    The labeling task lives in the label store under a name tied to the run, so a resumed
    run finds the answers given meanwhile. With ``oracle``, a simulated oracle answers
    from the new data's own labels.

    Returns:
        The labelled critical points, and the task's status.

    Raises:
        LabelsPending: When no oracle answers and the human has not labelled every point.
    """
    store = LabelStore(options.store)
    name = _task_name(namespace, "labels")
    if name not in store.tasks():
        images = new_data.images[critical.indices]
        predictions = predict_classes(model, ImageSet(images), what="critical points").tolist()
        store.create_task(
            name,
            images,
            classes=list(range(_class_count(model))),
            predictions=predictions,
            scores=np.asarray(critical.losses, dtype=float),
            sample_ids=[int(i) for i in critical.indices],
            metadata={"namespace": namespace, "method": critical.method},
        )
    if options.oracle:
        if new_data.labels is None:
            raise ValueError(
                "The simulated oracle answers from the new data's labels, and it has none."
            )
        SimulatedOracle(new_data.labels, error_rate=options.error_rate, seed=0).answer_pending(
            store, name
        )
    progress = store.progress(name)
    status = {
        "task": name,
        "store": options.store,
        "answered": progress.answered,
        "skipped": progress.skipped,
        "total": progress.total,
    }
    if progress.pending:
        raise LabelsPending(
            f"{progress.pending} of {progress.total} critical samples await labels in task "
            f"{name!r} ({options.store}). Label them with `kedro scanflow label {name}`, then "
            "resume this run (`kedro scanflow run --resume <run id>`)."
        )
    if not progress.answered:
        raise ValueError(
            f"Every critical sample of labeling task {name!r} ({options.store}) was skipped: "
            "there is nothing to improve the model with."
        )
    return store.labels(name), status


def request_matches(
    critical: CriticalPoints,
    new_data: ImageSet,
    detector: DriftDetectorChecker,
    reference_data: ImageSet,
    *clean_counterparts: ImageSet,
    options: HumanFinderOptions,
    namespace: str,
) -> tuple[FinderPairs, dict[str, Any]]:
    """Ask the human to match each critical point with the most similar clean training
    sample among its nearest neighbours in the detector's latent space (the Human Finder
    Checker). The (corrupted, clean) pairs teach a denoiser.

    Raises:
        LabelsPending: When no oracle answers and the human has not answered every point.
    """
    store = LabelStore(options.store)
    name = _task_name(namespace, "matches")
    if name not in store.tasks():
        images = new_data.images[critical.indices]
        proposals = propose_references(
            detector.embed(images),
            detector.embed(reference_data),
            reference_data.images,
            options.proposals,
        )
        store.create_task(
            name,
            images,
            kind="find",
            proposals=proposals,
            scores=np.asarray(critical.losses, dtype=float),
            sample_ids=[int(i) for i in critical.indices],
            metadata={"namespace": namespace},
        )
    if options.oracle:
        if new_data.labels is None or reference_data.labels is None:
            raise ValueError(
                "The simulated oracle matches by label: new and reference data need labels."
            )
        counterparts = None
        if clean_counterparts:
            counterparts = _clean_counterpart_references(clean_counterparts[0], reference_data)
        SimulatedOracle(
            new_data.labels,
            reference_labels=reference_data.labels,
            clean_counterparts=counterparts,
            seed=0,
        ).answer_pending(store, name)
    progress = store.progress(name)
    status = {
        "task": name,
        "store": options.store,
        "answered": progress.answered,
        "total": progress.total,
    }
    if progress.answered + progress.skipped < progress.total:
        raise LabelsPending(
            f"{progress.pending} of {progress.total} critical samples await a match in task "
            f"{name!r} ({options.store}). Answer them with `kedro scanflow label {name}`, then "
            "resume this run."
        )
    return store.pairs(name), status


def _task_name(namespace: str, purpose: str) -> str:
    """Tied to the Scanflow run, so a resumed run finds the answers given meanwhile."""
    run_id = os.environ.get(RUN_ID_VARIABLE)
    return f"{run_id}-{namespace}-{purpose}" if run_id else new_task_name(f"{namespace}-{purpose}")


def _class_count(model: Any) -> int:
    return int(model.output_shape[-1])


def _clean_counterpart_references(
    clean: ImageSet, reference_data: ImageSet
) -> dict[int, int] | None:
    """Which reference sample each clean counterpart is, when it is one (exact match)."""
    index = {image.tobytes(): position for position, image in enumerate(reference_data.images)}
    found = {
        i: index[image.tobytes()]
        for i, image in enumerate(clean.images)
        if image.tobytes() in index
    }
    return found or None
