"""The five scenarios of the Scanflow paper's debugging experiment, and :func:`run_scenario`.

Each scenario is a way to spend a label budget on the new (drifted) data and improve the
deployed classifier with what it buys:

=========  ===================================  ========================  ==============================
scenario   which new images                     who answers               improver
=========  ===================================  ========================  ==============================
Baseline   none                                 nobody                    none: the deployed model
Naive      the Drift Detector's critical points  the model itself          Model Trainer (self-labelled)
DDC+HLC    the Drift Detector's critical points  Human Labeler             Model Trainer
RND+HLC    random new images                    Human Labeler             Model Trainer
MDWI+HFC   the Drift Detector's critical points  Human Finder              Model Denoiser Wrapper
=========  ===================================  ========================  ==============================

The human is a :class:`~kedro_scanflow.human.SimulatedOracle` that answers the same
labeling tasks, through the same :class:`~kedro_scanflow.human.LabelStore`, as a person
would. Every scenario reports, per budget, the accuracy of the model it produced on the
clean and on the corrupted held-out images; neither set is ever selected from or learnt.
The improvers' keep-only-if-better rule is not applied: the experiment measures the
model each scenario builds.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from time import perf_counter, time
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from kedro_scanflow.checkers import CriticalPointSelector, RandomPointSelector
from kedro_scanflow.debugging.new_distribution import check_budgets
from kedro_scanflow.human import LabelStore, SimulatedOracle, propose_references
from kedro_scanflow.improvers import (
    CLEAN_HELD_OUT,
    HELD_OUT,
    ModelDenoiserWrapperImprover,
    ModelTrainerImprover,
    evaluate_model,
    predict_classes,
)
from kedro_scanflow.io.image_set import ImageSet

if TYPE_CHECKING:
    from collections.abc import Sequence

    import keras

    from kedro_scanflow.checkers import CriticalPoints
    from kedro_scanflow.debugging.debugging_settings import DebuggingSettings
    from kedro_scanflow.debugging.new_distribution import NewDistribution
    from kedro_scanflow.human import FinderPairs
    from kedro_scanflow.improvers import Improvement

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scenario:
    """One way of spending the label budget.

    Attributes:
        key: Identifier in parameters, node names and files (``ddc_hlc``).
        label: The paper's name (``DDC+HLC``).
        selection: ``critical`` (Drift Detector Checker), ``random``, or ``None``.
        answers: ``model`` (self-labelling), ``labels`` (Human Labeler), ``matches``
            (Human Finder), or ``None``.
    """

    key: str
    label: str
    selection: str | None
    answers: str | None

    @property
    def needs_training_images(self) -> bool:
        """Whether the scenario's improver reads the classifier's training images."""
        return self.selection is not None


SCENARIOS: Mapping[str, Scenario] = MappingProxyType(
    {
        scenario.key: scenario
        for scenario in [
            Scenario("baseline", "Baseline", None, None),
            Scenario("naive", "Naive", "critical", "model"),
            Scenario("ddc_hlc", "DDC+HLC", "critical", "labels"),
            Scenario("rnd_hlc", "RND+HLC", "random", "labels"),
            Scenario("mdwi_hfc", "MDWI+HFC", "critical", "matches"),
        ]
    }
)
"""The paper's scenarios by key, in the paper's order."""


def scenario_named(key: str) -> Scenario:
    """The scenario ``key``.

    Raises:
        ValueError: When there is no such scenario; the message lists the valid keys.
    """
    try:
        return SCENARIOS[key]
    except KeyError:
        raise ValueError(
            f"Unknown scenario {key!r}; valid scenarios are {', '.join(SCENARIOS)}."
        ) from None


@dataclass(frozen=True)
class ScenarioResult:
    """What one scenario achieved for one seed, corruption and label budget.

    Attributes:
        seed: The experiment seed.
        corruption: The MNIST-C corruption of the new data.
        scenario: The scenario's key.
        budget: Images the checker was asked to select (the label budget).
        n_selected: Images it selected (fewer than ``budget`` only when the critical
            point selector found fewer candidates).
        n_labels: Answers the improver learnt from: labels, or (corrupted, clean) pairs
            (the finder may answer "none of these").
        clean_accuracy: Accuracy of the resulting model on the clean test images.
        corrupted_accuracy: Its accuracy on the corrupted test images.
        seconds: Time spent selecting, answering and improving.
    """

    seed: int
    corruption: str
    scenario: str
    budget: int
    n_selected: int
    n_labels: int
    clean_accuracy: float
    corrupted_accuracy: float
    seconds: float

    @property
    def average_accuracy(self) -> float:
        """The mean of the clean and the corrupted accuracy (the paper's "average")."""
        return (self.clean_accuracy + self.corrupted_accuracy) / 2

    def as_dict(self) -> dict[str, Any]:
        """Plain values, one row of the results table."""
        return {
            **asdict(self),
            "scenario_label": SCENARIOS[self.scenario].label,
            "average_accuracy": self.average_accuracy,
        }


def run_scenario(
    key: str,
    *,
    classifier: keras.Model,
    new: NewDistribution,
    budgets: Sequence[int],
    settings: DebuggingSettings,
    seed: int,
    train: ImageSet | None = None,
) -> list[ScenarioResult]:
    """Run scenario ``key`` for every label budget on one corruption's new data.

    Every budget starts again from ``classifier``: budgets are alternatives, not steps.

    Args:
        key: A key of :data:`SCENARIOS`.
        classifier: The deployed classifier, trained on ``train``; never changed.
        new: The corruption's pool, test images and drift scores.
        budgets: Label budgets; none may exceed the pool.
        settings: Selector, human and improver settings.
        seed: Seed of selections, answers and training.
        train: The classifier's training images (all scenarios but Baseline), in the
            order of ``new.training_latent``.

    Returns:
        One result per budget, in the order of ``budgets``.

    Raises:
        ValueError: For an unknown scenario, a budget larger than the pool, or a missing
            ``train``.
    """
    scenario = scenario_named(key)
    check_budgets(budgets, len(new.pool), f"seed {seed}, corruption {new.corruption}")
    if scenario.selection is None:
        return _baseline(classifier, new, budgets, seed)
    if train is None:
        raise ValueError(f"Scenario {scenario.label} needs the classifier's training images.")
    # One improver for every budget: it reuses its traced training step.
    trainer, wrapper = _model_trainer(settings, seed), _denoiser_wrapper(settings, seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="scanflow-debugging-labels-") as folder:
        store = LabelStore(folder)
        for budget in budgets:
            started = perf_counter()
            selected = _select(scenario, int(budget), new, settings, seed)
            task = f"{scenario.key}-{new.corruption}-seed{seed}-b{budget}"
            if scenario.answers == "matches":
                pairs = _human_matches(store, task, new, selected, train, settings, seed)
                n_labels = len(pairs.item_ids)
                improvement = wrapper.improve(
                    classifier, pairs, new.test, clean_images=train, clean_held_out=new.clean_test
                )
            else:
                if scenario.answers == "model":
                    labelled = _self_labels(classifier, new.pool, selected)
                else:
                    labelled = _human_labels(
                        store, task, classifier, new.pool, selected, settings, seed
                    )
                n_labels = len(labelled)
                improvement = trainer.improve(
                    classifier, train, labelled, new.test, clean_held_out=new.clean_test
                )
            result = _result(
                scenario,
                new,
                seed,
                int(budget),
                len(selected),
                n_labels,
                improvement,
                perf_counter() - started,
            )
            logger.info(
                "seed %d, %s, %s, budget %d (%d answers): clean %.4f, corrupted %.4f (%.1f s)",
                seed,
                new.corruption,
                scenario.label,
                budget,
                n_labels,
                result.clean_accuracy,
                result.corrupted_accuracy,
                result.seconds,
            )
            results.append(result)
    return results


def _baseline(
    classifier: keras.Model, new: NewDistribution, budgets: Sequence[int], seed: int
) -> list[ScenarioResult]:
    started = perf_counter()
    clean = evaluate_model(classifier, new.clean_test, what="clean test images").accuracy
    corrupted = evaluate_model(classifier, new.test, what="corrupted test images").accuracy
    seconds = round(perf_counter() - started, 3)
    logger.info(
        "seed %d, %s, Baseline: clean %.4f, corrupted %.4f", seed, new.corruption, clean, corrupted
    )
    return [
        ScenarioResult(
            seed, new.corruption, "baseline", int(budget), 0, 0, clean, corrupted, seconds
        )
        for budget in budgets
    ]


def _select(
    scenario: Scenario, budget: int, new: NewDistribution, settings: DebuggingSettings, seed: int
) -> CriticalPoints:
    if scenario.selection == "random":
        return RandomPointSelector(budget, seed=seed).select(new.pool_scores)
    selector = CriticalPointSelector(budget, tails=settings.critical_points.tails, seed=seed)
    return selector.select(new.pool_scores, new.training_losses)


def _self_labels(classifier: keras.Model, pool: ImageSet, selected: CriticalPoints) -> ImageSet:
    """The selected images with the classes the model predicts for them (Naive)."""
    images = pool.subset(selected.indices)
    return ImageSet(images.images, predict_classes(classifier, images, what="pool images"))


def _human_labels(
    store: LabelStore,
    task: str,
    classifier: keras.Model,
    pool: ImageSet,
    selected: CriticalPoints,
    settings: DebuggingSettings,
    seed: int,
) -> ImageSet:
    """Ask the (simulated) Human Labeler for the selected images' labels."""
    store.create_task(
        task,
        pool.images[selected.indices],
        classes=list(range(int(classifier.output_shape[-1]))),
        scores=np.asarray(selected.losses, dtype=float),
        sample_ids=[int(index) for index in selected.indices],
        metadata={"method": selected.method},
    )
    oracle = SimulatedOracle(pool.labels, error_rate=settings.human.error_rate, seed=seed)
    oracle.answer_pending(store, task)
    return store.labels(task)


def _human_matches(
    store: LabelStore,
    task: str,
    new: NewDistribution,
    selected: CriticalPoints,
    train: ImageSet,
    settings: DebuggingSettings,
    seed: int,
) -> FinderPairs:
    """Ask the (simulated) Human Finder to match every selected image with a training image.

    The proposals are the training images nearest in the drift detector's latent space.
    The oracle picks the image's own clean original when it is among them (a pool drawn
    from the training images), else the most similar proposal with the right label, else
    "none of these".
    """
    pool = new.pool
    images = pool.images[selected.indices]
    proposals = propose_references(
        new.pool_latent[selected.indices],
        new.training_latent,
        train.images,
        min(settings.human.proposals, len(train)),
    )
    store.create_task(
        task,
        images,
        kind="find",
        proposals=proposals,
        scores=np.asarray(selected.losses, dtype=float),
        sample_ids=[int(index) for index in selected.indices],
    )
    originals = {
        int(index): int(new.pool_origins[index])
        for index in selected.indices
        if new.pool_origins[index] >= 0
    }
    oracle = SimulatedOracle(
        pool.labels,
        reference_labels=train.labels,
        clean_counterparts=originals or None,
        error_rate=settings.human.error_rate,
        seed=seed,
    )
    oracle.answer_pending(store, task)
    return store.pairs(task)


def _model_trainer(settings: DebuggingSettings, seed: int) -> ModelTrainerImprover:
    options = settings.model_trainer
    return ModelTrainerImprover(
        epochs=options.epochs,
        batch_size=options.batch_size,
        learning_rate=options.learning_rate,
        critical_share=options.critical_share,
        seed=seed,
    )


def _denoiser_wrapper(settings: DebuggingSettings, seed: int) -> ModelDenoiserWrapperImprover:
    options = settings.model_denoiser_wrapper
    return ModelDenoiserWrapperImprover(
        epochs=options.epochs,
        batch_size=options.batch_size,
        learning_rate=options.learning_rate,
        filters=options.filters,
        epoch_size=options.epoch_size,
        identity_share=options.identity_share,
        seed=seed,
    )


def _result(
    scenario: Scenario,
    new: NewDistribution,
    seed: int,
    budget: int,
    n_selected: int,
    n_labels: int,
    improvement: Improvement,
    seconds: float,
) -> ScenarioResult:
    """The candidate's scores; the deployed model's when no candidate could be built."""
    held_out = improvement.evaluations[HELD_OUT]
    clean = improvement.evaluations[CLEAN_HELD_OUT]
    built = held_out.candidate is not None
    return ScenarioResult(
        seed=seed,
        corruption=new.corruption,
        scenario=scenario.key,
        budget=budget,
        n_selected=n_selected,
        n_labels=n_labels if built else 0,
        clean_accuracy=(clean.candidate if built else clean.baseline).accuracy,
        corrupted_accuracy=(held_out.candidate if built else held_out.baseline).accuracy,
        seconds=round(seconds, 3),
    )


def log_scenario_metrics(results: Sequence[ScenarioResult]) -> None:
    """Log every result to the active MLflow run (if any), with the budget as the step."""
    import mlflow  # noqa: PLC0415 - keep importing this module cheap

    if mlflow.active_run() is None:
        return
    from mlflow.entities import Metric  # noqa: PLC0415

    client = mlflow.MlflowClient()
    now = int(1000 * time())
    metrics = [
        Metric(name, float(value), now, result.budget)
        for result in results
        for name, value in [
            ("clean_accuracy", result.clean_accuracy),
            ("corrupted_accuracy", result.corrupted_accuracy),
            ("average_accuracy", result.average_accuracy),
            ("labels", result.n_labels),
        ]
    ]
    client.log_batch(mlflow.active_run().info.run_id, metrics=metrics)
