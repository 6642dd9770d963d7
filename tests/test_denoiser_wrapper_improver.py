"""The Model Denoiser Wrapper Improver on real MNIST digits (the 5,000-image subset in data/).

What users rely on: a denoiser learnt from the Human Finder's (corrupted, clean) pairs,
wrapped in front of a classifier trained on clean digits, classifies impulse-noise digits
far better, and the improver keeps it; where it does not help the current model stays;
the compound model is ONE Keras model that round-trips through a ``.keras`` file and
through MLflow with identical predictions; the classifier given is never changed; bad
pairs are refused with a message that says what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kedro_scanflow.corruptions import corrupt
from kedro_scanflow.human import FinderPairs, LabelStore, SimulatedOracle, propose_references
from kedro_scanflow.improvers import (
    CLEAN_HELD_OUT,
    HELD_OUT,
    Improvement,
    ModelDenoiserWrapperImprover,
    build_denoising_autoencoder,
    denoising_pairs,
    wrap_with_denoiser,
)
from kedro_scanflow.io import ImageSet, KerasModelDataset

from .digit_models import (
    model_weights,
    same_weights,
    shuffled_mnist,
    sqlite_tracking,
    untrained_classifier,
)

REPO = Path(__file__).resolve().parents[1]
N_TRAIN = 1500
N_POOL = 1000
N_HELD_OUT = 1000
N_CRITICAL = 100
EPOCHS = 6


def _corrupted(images: ImageSet, name: str, seed: int) -> ImageSet:
    return ImageSet(corrupt(images.images, name, seed=seed), images.labels)


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


def _finder_pairs(
    store_root: Path, corruption: str, pool: ImageSet, train: ImageSet
) -> FinderPairs:
    """Pairs from a real Human Finder task, answered by the simulated oracle.

    Every critical (corrupted) digit is shown its 5 nearest clean training digits (in pixel
    space); the oracle picks, among those of the right class, the one closest to it. The
    clean reference is therefore another digit of the same class, as a human would choose.
    """
    critical = _corrupted(pool, corruption, seed=5).subset(np.arange(N_CRITICAL))
    proposals = propose_references(
        critical.as_float().reshape(len(critical), -1),
        train.as_float().reshape(len(train), -1),
        train.images,
        5,
    )
    store = LabelStore(store_root)
    store.create_task("finder", critical.images, kind="find", proposals=proposals)
    SimulatedOracle(critical.labels, reference_labels=train.labels).answer_pending(store, "finder")
    return store.pairs("finder")


@pytest.fixture(scope="module")
def impulse_noise_result(
    tmp_path_factory: pytest.TempPathFactory,
    clean_model: Any,
    train: ImageSet,
    pool: ImageSet,
    held_out: ImageSet,
) -> tuple[Improvement, list[np.ndarray], ImageSet]:
    """The improver run on impulse noise: its result, the weights before, the new held-out set."""
    pairs = _finder_pairs(tmp_path_factory.mktemp("labels"), "impulse_noise", pool, train)
    new_held_out = _corrupted(held_out, "impulse_noise", seed=3)
    before = model_weights(clean_model)
    improvement = ModelDenoiserWrapperImprover(epochs=EPOCHS).improve(
        clean_model, pairs, new_held_out, clean_images=train, clean_held_out=held_out
    )
    return improvement, before, new_held_out


@pytest.fixture
def mlflow_tracking(tmp_path: Path) -> Iterator[str]:
    """A real MLflow sqlite tracking store and artifact folder in ``tmp_path``."""
    with sqlite_tracking(tmp_path, "denoiser-wrapper") as experiment:
        yield experiment


@pytest.mark.slow
def test_a_denoiser_from_finder_pairs_beats_the_plain_model_on_impulse_noise(
    impulse_noise_result: tuple[Improvement, list[np.ndarray], ImageSet], clean_model: Any
) -> None:
    improvement, before, _ = impulse_noise_result
    clean = improvement.evaluations[CLEAN_HELD_OUT]

    print(
        f"\nimpulse_noise: q={improvement.baseline_score:.4f} q'={improvement.candidate_score:.4f} "
        f"clean {clean.baseline.accuracy:.4f} -> {clean.candidate.accuracy:.4f}"
    )
    assert improvement.accepted, improvement.reason
    assert improvement.candidate_score > improvement.baseline_score + 0.05
    assert clean.candidate.accuracy > clean.baseline.accuracy - 0.02  # identity pairs at work
    assert improvement.model is improvement.candidate
    assert [layer.name for layer in improvement.model.layers] == [
        "images",
        "denoiser",
        "digit_classifier",
    ]
    assert same_weights(before, model_weights(clean_model)), "the model given must not change"
    assert improvement.training["n_pairs"] >= 0.9 * N_CRITICAL  # few "none of these"


@pytest.mark.slow
def test_the_compound_model_round_trips_through_a_keras_file(
    impulse_noise_result: tuple[Improvement, list[np.ndarray], ImageSet], tmp_path: Path
) -> None:
    improvement, _, new_held_out = impulse_noise_result
    dataset = KerasModelDataset(str(tmp_path / "denoised_classifier.keras"))

    dataset.save(improvement.model)
    loaded = dataset.load()

    images = new_held_out.as_float()[:200, ..., None]
    expected = improvement.model.predict(images, verbose=0)
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), expected)
    assert loaded.get_layer("denoiser").output_shape == (None, 28, 28, 1)


@pytest.mark.slow
def test_the_compound_model_is_one_mlflow_model_with_the_same_predictions(
    impulse_noise_result: tuple[Improvement, list[np.ndarray], ImageSet], mlflow_tracking: str
) -> None:
    import mlflow  # noqa: PLC0415

    improvement, _, new_held_out = impulse_noise_result
    images = new_held_out.as_float()[:200, ..., None]
    expected = improvement.model.predict(images, verbose=0)

    with mlflow.start_run(experiment_id=mlflow_tracking):
        info = improvement.log_model("classifier", registered_model_name="digit_classifier")

    keras_model = mlflow.keras.load_model(info.model_uri)
    np.testing.assert_allclose(keras_model.predict(images, verbose=0), expected, atol=1e-6)
    served = mlflow.pyfunc.load_model("models:/digit_classifier/1").predict(images)
    np.testing.assert_allclose(np.asarray(served), expected, atol=1e-6)
    assert info.metadata["scanflow.improver"] == "model_denoiser_wrapper"
    assert info.metadata["scanflow.accepted"] is True


@pytest.mark.slow
def test_on_shot_noise_the_wrapper_is_kept_only_if_it_scores_higher(
    tmp_path: Path, clean_model: Any, train: ImageSet, pool: ImageSet, held_out: ImageSet
) -> None:
    # Shot noise at the MNIST-C severity only re-quantises the strokes (black stays black),
    # costing a clean model under a point; a denoiser learnt from other digits of the same
    # class blurs more than it repairs, so the plain model stays.
    pairs = _finder_pairs(tmp_path, "shot_noise", pool, train)
    new_held_out = _corrupted(held_out, "shot_noise", seed=3)
    before = model_weights(clean_model)

    improvement = ModelDenoiserWrapperImprover(epochs=EPOCHS).improve(
        clean_model, pairs, new_held_out, clean_images=train
    )

    print(
        f"\nshot_noise: q={improvement.baseline_score:.4f} "
        f"q'={improvement.candidate_score:.4f} accepted={improvement.accepted}"
    )
    assert improvement.accepted == (improvement.candidate_score > improvement.baseline_score)
    assert not improvement.accepted
    assert improvement.model is clean_model
    assert "is not above the current model's" in improvement.reason
    assert same_weights(before, model_weights(clean_model))


@pytest.mark.slow
def test_a_reused_improver_trains_the_same_denoiser_and_leaves_earlier_ones_alone(
    clean_model: Any, train: ImageSet, pool: ImageSet, held_out: ImageSet
) -> None:
    """One improver called again (as for every label budget) reuses its compiled denoiser."""
    corrupted = _corrupted(pool, "impulse_noise", seed=5)
    pairs = (corrupted.images[:20], pool.images[:20])
    other = (corrupted.images[20:60], pool.images[20:60])
    settings = {"epochs": 1, "epoch_size": 200, "filters": 8, "seed": 4}
    improver = ModelDenoiserWrapperImprover(**settings)

    first = improver.improve(clean_model, pairs, held_out, clean_images=train)
    first_weights = model_weights(first.candidate)
    between = improver.improve(clean_model, other, held_out, clean_images=train)
    again = improver.improve(clean_model, pairs, held_out, clean_images=train)
    fresh = ModelDenoiserWrapperImprover(**settings).improve(
        clean_model, pairs, held_out, clean_images=train
    )

    assert same_weights(model_weights(first.candidate), first_weights), "a later call changed it"
    assert not same_weights(model_weights(between.candidate), first_weights)
    assert same_weights(model_weights(again.candidate), first_weights)
    assert same_weights(model_weights(fresh.candidate), first_weights)
    assert first.candidate_score == again.candidate_score == fresh.candidate_score


def test_no_pairs_means_no_candidate(held_out: ImageSet) -> None:
    model = untrained_classifier()
    nothing = np.zeros((0, 28, 28), np.uint8)

    improvement = ModelDenoiserWrapperImprover().improve(model, (nothing, nothing), held_out)

    assert not improvement.accepted
    assert improvement.model is model
    assert improvement.candidate is None
    assert "Human Finder chose no reference" in improvement.reason
    assert improvement.evaluations[HELD_OUT].candidate is None
    with pytest.raises(ValueError, match="built no candidate"):
        improvement.log_model(candidate=True)


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (
            (np.zeros((3, 28, 28), np.uint8), np.zeros((2, 28, 28), np.uint8)),
            "3 corrupted images but 2 clean ones",
        ),
        ((np.zeros((3, 32, 32), np.uint8),) * 2, "model takes 28x28 images but the corrupted"),
        (
            (np.zeros((3, 28, 28), np.float32), np.full((3, 28, 28), np.nan, np.float32)),
            "clean images of the pairs must hold pixels in",
        ),
        ((np.zeros((3, 28, 28, 3), np.uint8),) * 2, "corrupted images of the pairs are unusable"),
        (np.zeros((3, 28, 28)), "FinderPairs of a Human Finder task"),
    ],
)
def test_bad_pairs_are_refused_with_a_clear_message(
    pairs: Any, message: str, held_out: ImageSet
) -> None:
    with pytest.raises(ValueError, match=message):
        ModelDenoiserWrapperImprover().improve(untrained_classifier(), pairs, held_out)


def test_an_unlabelled_held_out_set_is_refused_before_training(train: ImageSet) -> None:
    pairs = (train.images[:5], train.images[:5])
    with pytest.raises(ValueError, match="held-out images have no labels"):
        ModelDenoiserWrapperImprover().improve(
            untrained_classifier(), pairs, ImageSet(train.images[:5])
        )


def test_the_compound_model_is_the_denoiser_then_a_copy_of_the_classifier(
    held_out: ImageSet,
) -> None:
    classifier = untrained_classifier()
    denoiser = build_denoising_autoencoder((28, 28))
    images = held_out.as_float()[:32, ..., None]

    compound = wrap_with_denoiser(denoiser, classifier)

    expected = classifier.predict(denoiser.predict(images, verbose=0), verbose=0)
    np.testing.assert_allclose(compound.predict(images, verbose=0), expected, atol=1e-6)
    inner = compound.get_layer("digit_classifier")
    assert inner is not classifier
    assert compound.name == "denoised_digit_classifier"
    inner.layers[-1].kernel.assign(np.zeros(inner.layers[-1].kernel.shape, np.float32))
    assert np.any(classifier.layers[-1].get_weights()[0] != 0), "the copy shares no weights"


def test_a_denoiser_of_another_size_cannot_be_wrapped() -> None:
    with pytest.raises(ValueError, match=r"denoiser's input is shaped \(None, 32, 32, 1\)"):
        wrap_with_denoiser(build_denoising_autoencoder((32, 32)), untrained_classifier())


@pytest.mark.parametrize("image_shape", [(28, 28), (27, 25), (9, 16)])
def test_the_denoiser_gives_back_images_of_the_size_it_takes(image_shape: tuple[int, int]) -> None:
    denoiser = build_denoising_autoencoder(image_shape, filters=4)

    assert denoiser.output_shape == (None, *image_shape, 1)
    assert denoiser.loss == "binary_crossentropy"
    assert [layer.name for layer in denoiser.layers].count("denoiser_pool") == 1


def test_training_pairs_mix_augmented_finder_pairs_and_identity_pairs() -> None:
    rng = np.random.default_rng(0)
    clean = rng.random((4, 28, 28)).astype(np.float32)
    corrupted = np.clip(clean + 0.5, 0, 1)
    identity = rng.random((10, 28, 28)).astype(np.float32)

    inputs, targets = denoising_pairs(
        corrupted, clean, identity, epoch_size=100, identity_share=0.25, seed=3
    )

    assert inputs.shape == targets.shape == (100, 28, 28)
    finder_inputs, finder_targets = inputs[:75], targets[:75]
    np.testing.assert_allclose(finder_inputs, np.clip(finder_targets + 0.5, 0, 1))  # same turn
    assert len({image.tobytes() for image in finder_targets}) > 4  # flips and turns: new pairs
    np.testing.assert_array_equal(inputs[75:], targets[75:])  # identity pairs
    assert all(any(np.array_equal(image, known) for known in identity) for image in inputs[75:])


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"epochs": 0}, "epochs must be positive"),
        ({"filters": 0}, "filters must be positive"),
        ({"identity_share": 1.0}, r"identity_share must be in \[0, 1\)"),
        ({"max_clean_drop": -0.01}, "max_clean_drop must be >= 0"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelDenoiserWrapperImprover(**settings)
