"""The Model Trainer Improver on real MNIST digits (the 5,000-image subset shipped in data/).

What users rely on: a classifier trained on clean digits, shown a few dozen corrupted
digits labelled by the Human Labeler, comes back more accurate on held-out corrupted
digits, and the improver keeps it; critical points that teach nothing useful (wrong
labels, none at all) leave the current model in place, untouched; the model given is
never changed; training is reproducible; unusable inputs are refused with a message
that says what is wrong.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kedro_scanflow.corruptions import corrupt
from kedro_scanflow.improvers import (
    HELD_OUT,
    ModelEvaluation,
    ModelTrainerImprover,
    SetComparison,
    judge,
)
from kedro_scanflow.io import ImageSet

from .digit_models import model_weights, same_weights, shuffled_mnist, untrained_classifier

REPO = Path(__file__).resolve().parents[1]
N_TRAIN = 1500
N_POOL = 1000
N_HELD_OUT = 1000
N_CRITICAL = 50


@pytest.fixture(scope="module")
def mnist() -> ImageSet:
    """The shipped digits in a seeded random order (the files are sorted by class)."""
    return shuffled_mnist()


@pytest.fixture(scope="module")
def train(mnist: ImageSet) -> ImageSet:
    return mnist.subset(np.arange(N_TRAIN))


@pytest.fixture(scope="module")
def pool(mnist: ImageSet) -> ImageSet:
    """Unseen digits the critical points are drawn from (corrupted in each test)."""
    return mnist.subset(np.arange(N_TRAIN, N_TRAIN + N_POOL))


@pytest.fixture(scope="module")
def held_out(mnist: ImageSet) -> ImageSet:
    """Clean digits seen neither in training nor among the critical points."""
    start = N_TRAIN + N_POOL
    return mnist.subset(np.arange(start, start + N_HELD_OUT))


@pytest.fixture(scope="module")
def clean_model(train: ImageSet) -> Any:
    """The deployed model: trained on clean digits only (about 4 s)."""
    model = untrained_classifier()
    model.fit(train.as_float()[..., None], train.labels, epochs=5, batch_size=32, verbose=0)
    return model


def _corrupted(images: ImageSet, name: str, seed: int) -> ImageSet:
    return ImageSet(corrupt(images.images, name, seed=seed), images.labels)


def test_importing_the_improvers_does_not_import_tensorflow() -> None:
    probe = (
        "import sys, kedro_scanflow.improvers, kedro_scanflow.checkers.symbolic_checker; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'mlflow') if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"


@pytest.mark.slow
@pytest.mark.parametrize("corruption", ["impulse_noise", "fog"])
def test_labelled_critical_points_improve_the_model_and_it_is_kept(
    corruption: str, clean_model: Any, train: ImageSet, pool: ImageSet, held_out: ImageSet
) -> None:
    critical = _corrupted(pool, corruption, seed=5).subset(np.arange(N_CRITICAL))
    new_held_out = _corrupted(held_out, corruption, seed=3)
    before = model_weights(clean_model)

    improvement = ModelTrainerImprover().improve(
        clean_model, train, critical, new_held_out, clean_held_out=held_out
    )

    print(
        f"\n{corruption}: q={improvement.baseline_score:.4f} q'={improvement.candidate_score:.4f} "
        f"clean {improvement.evaluations['clean_held_out'].baseline.accuracy:.4f} -> "
        f"{improvement.evaluations['clean_held_out'].candidate.accuracy:.4f}"
    )
    assert improvement.accepted, improvement.reason
    assert improvement.candidate_score > improvement.baseline_score
    assert improvement.model is improvement.candidate
    assert improvement.model is not clean_model
    assert same_weights(before, model_weights(clean_model)), "the model given must not change"
    assert not same_weights(before, model_weights(improvement.model))
    assert improvement.evaluations[HELD_OUT].baseline.n_images == N_HELD_OUT
    assert improvement.training["n_critical"] == N_CRITICAL
    assert improvement.training["critical_repeats"] == 13  # 0.3 / 0.7 * 1500 / 50
    metrics = improvement.metrics()
    assert metrics["accepted"] == 1.0
    assert metrics["held_out.candidate_accuracy"] == improvement.candidate_score


@pytest.mark.slow
def test_on_mild_shot_noise_the_candidate_is_kept_exactly_when_it_scores_higher(
    clean_model: Any, train: ImageSet, pool: ImageSet, held_out: ImageSet
) -> None:
    # Shot noise at the MNIST-C severity costs a clean model under a point, so there is
    # little to gain and the candidate may or may not win: the rule must hold either way.
    critical = _corrupted(pool, "shot_noise", seed=5).subset(np.arange(N_CRITICAL))
    new_held_out = _corrupted(held_out, "shot_noise", seed=3)
    before = model_weights(clean_model)

    improvement = ModelTrainerImprover().improve(clean_model, train, critical, new_held_out)

    print(
        f"\nshot_noise: q={improvement.baseline_score:.4f} "
        f"q'={improvement.candidate_score:.4f} accepted={improvement.accepted}"
    )
    assert improvement.accepted == (improvement.candidate_score > improvement.baseline_score)
    assert improvement.model is (improvement.candidate if improvement.accepted else clean_model)
    assert same_weights(before, model_weights(clean_model))


@pytest.mark.slow
def test_impulse_noise_labels_give_a_clear_gain(
    clean_model: Any, train: ImageSet, pool: ImageSet, held_out: ImageSet
) -> None:
    critical = _corrupted(pool, "impulse_noise", seed=5).subset(np.arange(N_CRITICAL))
    new_held_out = _corrupted(held_out, "impulse_noise", seed=3)

    improvement = ModelTrainerImprover().improve(clean_model, train, critical, new_held_out)

    assert improvement.baseline_score < 0.87  # salt and pepper really hurts a clean model
    assert improvement.gain > 0.04


@pytest.mark.slow
def test_wrong_labels_are_rejected_and_the_model_is_returned_untouched(
    clean_model: Any, train: ImageSet, pool: ImageSet, held_out: ImageSet
) -> None:
    corrupted = _corrupted(pool, "impulse_noise", seed=5).subset(np.arange(N_CRITICAL))
    mislabelled = ImageSet(corrupted.images, (corrupted.labels + 1) % 10)
    new_held_out = _corrupted(held_out, "impulse_noise", seed=3)
    before = model_weights(clean_model)

    improvement = ModelTrainerImprover().improve(clean_model, train, mislabelled, new_held_out)

    assert not improvement.accepted
    assert improvement.model is clean_model
    assert same_weights(before, model_weights(clean_model))
    assert improvement.candidate is not None
    assert improvement.candidate_score <= improvement.baseline_score
    assert "is not above the current model's" in improvement.reason
    assert improvement.metrics()["accepted"] == 0.0


@pytest.mark.slow
def test_a_candidate_must_beat_the_model_by_min_gain(
    clean_model: Any, train: ImageSet, pool: ImageSet, held_out: ImageSet
) -> None:
    critical = _corrupted(pool, "impulse_noise", seed=5).subset(np.arange(N_CRITICAL))
    new_held_out = _corrupted(held_out, "impulse_noise", seed=3)

    improvement = ModelTrainerImprover(min_gain=0.5).improve(
        clean_model, train, critical, new_held_out
    )

    assert improvement.gain > 0  # better, but not by half the held-out set
    assert not improvement.accepted
    assert improvement.model is clean_model
    assert "+ 0.5000" in improvement.reason


def test_no_critical_points_means_no_candidate(train: ImageSet, held_out: ImageSet) -> None:
    model = untrained_classifier()
    before = model_weights(model)
    nothing = ImageSet(np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64))

    improvement = ModelTrainerImprover().improve(model, train, nothing, held_out)

    assert not improvement.accepted
    assert improvement.model is model
    assert improvement.candidate is None
    assert improvement.candidate_score is None
    assert "no labelled critical points" in improvement.reason
    assert improvement.evaluations[HELD_OUT].baseline.n_images == N_HELD_OUT
    assert same_weights(before, model_weights(model))
    assert improvement.as_dict()["gain"] is None


@pytest.mark.slow
def test_training_the_candidate_is_reproducible_and_later_calls_leave_it_alone(
    clean_model: Any, train: ImageSet, pool: ImageSet, held_out: ImageSet
) -> None:
    """One improver called again (as for every label budget) reuses its compiled model."""
    corrupted = _corrupted(pool, "impulse_noise", seed=5)
    critical, other = corrupted.subset(np.arange(20)), corrupted.subset(np.arange(20, 60))
    small_train = train.subset(np.arange(500))
    improver = ModelTrainerImprover(epochs=1, seed=11)

    first = improver.improve(clean_model, small_train, critical, held_out)
    first_weights = model_weights(first.candidate)
    between = improver.improve(clean_model, small_train, other, held_out)
    again = improver.improve(clean_model, small_train, critical, held_out)
    fresh = ModelTrainerImprover(epochs=1, seed=11).improve(
        clean_model, small_train, critical, held_out
    )

    assert same_weights(model_weights(first.candidate), first_weights), "a later call changed it"
    assert not same_weights(model_weights(between.candidate), first_weights)
    assert same_weights(model_weights(again.candidate), first_weights)
    assert same_weights(model_weights(fresh.candidate), first_weights)
    assert first.candidate_score == again.candidate_score == fresh.candidate_score


def test_critical_points_without_labels_are_refused(train: ImageSet, held_out: ImageSet) -> None:
    unlabelled = ImageSet(train.images[:10])
    with pytest.raises(ValueError, match="critical points have no labels"):
        ModelTrainerImprover().improve(untrained_classifier(), train, unlabelled, held_out)


@pytest.mark.parametrize(
    ("which", "images", "message"),
    [
        ("critical", ImageSet(np.zeros((5, 32, 32), np.uint8), np.zeros(5)), "model takes 28x28"),
        (
            "train",
            ImageSet(np.zeros((0, 28, 28), np.uint8), np.zeros(0)),
            "training images are empty",
        ),
        (
            "held_out",
            ImageSet(np.zeros((0, 28, 28), np.uint8), np.zeros(0)),
            "held-out images are empty",
        ),
        ("held_out", ImageSet(np.zeros((5, 28, 28), np.uint8)), "held-out images have no labels"),
        ("critical", ImageSet(np.zeros((5, 28, 28), np.uint8), np.full(5, 12)), r"labels \[12\]"),
        ("critical", ImageSet(np.full((5, 28, 28), np.nan, np.float32), np.zeros(5)), "no NaN"),
        ("train", ImageSet(np.full((5, 28, 28), 255.0, np.float32), np.zeros(5)), r"\[0, 1\]"),
    ],
)
def test_unusable_sets_are_refused_with_a_clear_message(
    which: str, images: ImageSet, message: str, train: ImageSet, held_out: ImageSet
) -> None:
    sets = {
        "train": train.subset(np.arange(20)),
        "critical": train.subset(np.arange(5)),
        "held_out": held_out,
    }
    sets[which] = images
    with pytest.raises(ValueError, match=message):
        ModelTrainerImprover().improve(
            untrained_classifier(), sets["train"], sets["critical"], sets["held_out"]
        )


def test_a_model_that_is_not_a_grayscale_classifier_is_refused(
    train: ImageSet, held_out: ImageSet
) -> None:
    import keras  # noqa: PLC0415

    colour = keras.Sequential(
        [keras.Input((28, 28, 3)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    with pytest.raises(ValueError, match=r"grayscale images shaped \(n, height, width, 1\)"):
        ModelTrainerImprover().improve(colour, train, train.subset(np.arange(5)), held_out)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"epochs": 0}, "epochs must be positive"),
        ({"learning_rate": -1.0}, "learning_rate must be positive"),
        ({"critical_share": 1.0}, r"critical_share must be in \[0, 1\)"),
        ({"min_gain": -0.1}, "min_gain must be >= 0"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelTrainerImprover(**settings)


def test_critical_points_are_oversampled_to_their_share_of_an_epoch() -> None:
    assert ModelTrainerImprover(critical_share=0.3).critical_repeats(1500, 50) == 13
    assert ModelTrainerImprover(critical_share=0.5).critical_repeats(1000, 10) == 100
    assert ModelTrainerImprover(critical_share=0.0).critical_repeats(1500, 50) == 1
    assert ModelTrainerImprover(critical_share=0.1).critical_repeats(100, 500) == 1


def _evaluation(accuracy: float) -> ModelEvaluation:
    return ModelEvaluation(accuracy, 1000, round(accuracy * 1000), {})


@pytest.mark.parametrize(
    ("q", "q_new", "clean_before", "clean_after", "settings", "accepted", "reason"),
    [
        (0.80, 0.90, None, None, {}, True, "0.9000 > 0.8000"),
        (0.80, 0.80, None, None, {}, False, "not above the current model's 0.8000"),
        (0.80, 0.85, None, None, {"min_gain": 0.1}, False, r"0.8000 \+ 0.1000"),
        (0.80, 0.90, 0.99, 0.95, {}, True, "clean accuracy 0.9900 -> 0.9500"),
        (0.80, 0.90, 0.99, 0.95, {"max_clean_drop": 0.02}, False, "more than the allowed 0.0200"),
        (0.80, 0.90, 0.99, 0.98, {"max_clean_drop": 0.02}, True, "clean accuracy"),
    ],
)
def test_a_candidate_is_kept_only_when_it_beats_q_without_losing_too_much_clean_accuracy(
    q: float,
    q_new: float,
    clean_before: float | None,
    clean_after: float | None,
    settings: dict[str, float],
    accepted: bool,
    reason: str,
) -> None:
    held = SetComparison(_evaluation(q), _evaluation(q_new))
    clean = (
        None
        if clean_before is None
        else SetComparison(_evaluation(clean_before), _evaluation(clean_after))
    )

    decision, why = judge(held, clean, **settings)

    assert decision is accepted
    assert re.search(reason, why)
