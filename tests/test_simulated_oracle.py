"""SimulatedOracle: the stand-in for the human in experiments, answering from ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kedro_scanflow.human import (
    NONE_OF_THESE,
    LabelStore,
    Proposals,
    SimulatedOracle,
    propose_references,
)
from kedro_scanflow.io import IdxImageDataset, ImageSet

REPO = Path(__file__).resolve().parents[1]
MNIST_5K = REPO / "data/01_raw/mnist_5k"


@pytest.fixture(scope="module")
def mnist() -> ImageSet:
    return IdxImageDataset(
        str(MNIST_5K / "images-idx3-ubyte.gz"), str(MNIST_5K / "labels-idx1-ubyte.gz")
    ).load()


@pytest.fixture
def store(tmp_path: Path) -> LabelStore:
    return LabelStore(tmp_path / "labeling")


def corrupted(images: np.ndarray, seed: int) -> np.ndarray:
    """The digits with Gaussian noise, as float images in [0, 1]."""
    noise = np.random.default_rng(seed).normal(0, 0.2, images.shape)
    return np.clip(images / 255 + noise, 0, 1).astype(np.float32)


def test_the_oracle_answers_every_pending_item_with_its_true_label(store, mnist):
    sample_ids = np.arange(11, 5000, 100)
    store.create_task(
        "critical", mnist.images[sample_ids], classes=range(10), sample_ids=sample_ids
    )
    store.answer("critical", "11", 9, annotator="alice")  # a human got there first

    report = SimulatedOracle(mnist.labels).answer_pending(store, "critical")

    assert (report.task, report.answered, report.wrong) == ("critical", 49, 0)
    answers = store.answers("critical")
    assert answers.pop("11").annotator == "alice", "answered items are left alone"
    assert {answer.annotator for answer in answers.values()} == {"simulated-oracle"}
    assert {i: a.value for i, a in answers.items()} == {
        str(i): int(mnist.labels[i]) for i in sample_ids[1:]
    }
    assert store.progress("critical").is_complete


def test_the_oracle_takes_ground_truth_by_sample_id_or_item_id(store, mnist):
    store.create_task(
        "shapes", mnist.images[:3], classes=["loop", "stroke"], sample_ids=["a", "b", "c"]
    )

    SimulatedOracle({"a": "loop", "b": "stroke", "c": "loop"}).answer_pending(store, "shapes")

    assert store.labels("shapes").labels.tolist() == [0, 1, 0]


def test_a_noisy_oracle_errs_at_about_its_error_rate_reproducibly(tmp_path, mnist):
    sample_ids = np.arange(0, 5000, 10)  # 500 digits
    answers = []
    for copy in ("first", "second"):
        store = LabelStore(tmp_path / copy)
        store.create_task(
            "many", mnist.images[sample_ids], classes=range(10), sample_ids=sample_ids
        )
        report = SimulatedOracle(mnist.labels, error_rate=0.2, seed=42).answer_pending(
            store, "many"
        )
        answers.append({i: a.value for i, a in store.answers("many").items()})

    wrong = sum(answers[0][str(i)] != mnist.labels[i] for i in sample_ids)
    assert report.answered == 500 and report.wrong == wrong
    assert 0.15 <= wrong / 500 <= 0.25
    assert answers[0] == answers[1], "the same seed gives the same mistakes"


def test_missing_ground_truth_answers_nothing(store, mnist):
    store.create_task("critical", mnist.images[:4], classes=range(10))
    before = store.json_path("critical").read_bytes()

    with pytest.raises(ValueError, match=r"true_labels has no value for item\(s\) \['2', '3'\]"):
        SimulatedOracle({0: 0, 1: 0}).answer_pending(store, "critical")

    assert store.json_path("critical").read_bytes() == before


@pytest.mark.parametrize("error_rate", [-0.1, 1.5])
def test_the_error_rate_is_a_probability(mnist, error_rate):
    with pytest.raises(ValueError, match="error_rate must be between 0 and 1"):
        SimulatedOracle(mnist.labels, error_rate=error_rate)


def test_the_finder_oracle_picks_the_counterpart_else_the_closest_same_digit_else_none(
    store, mnist
):
    clean = {"n0": 10, "n1": 1010, "n2": 2010, "n3": 3010}  # digits 0, 2, 4 and 6
    proposals = {
        "n0": (12, 10, 11),  # the counterpart is proposed
        "n1": (1015, 3000, 1017),  # not proposed; two other 2s, 1017 looks closer
        "n2": (10, 3000, 4000),  # no 4 at all
        "n3": (3011, 4001),  # the oracle is not told the counterpart
    }
    store.create_task(
        "finder",
        corrupted(mnist.images[list(clean.values())], seed=0),
        kind="find",
        sample_ids=list(clean),
        proposals=[Proposals(ids, mnist.images[list(ids)]) for ids in proposals.values()],
    )
    oracle = SimulatedOracle(
        {item: mnist.labels[index] for item, index in clean.items()},
        reference_labels=mnist.labels,
        clean_counterparts={"n0": 10, "n1": 1010, "n2": 2010},
    )

    report = oracle.answer_pending(store, "finder")

    items = store.item_images("finder")
    distance = {ref: np.sum((mnist.images[ref] / 255 - items[1]) ** 2) for ref in (1015, 1017)}
    assert distance[1017] < distance[1015], "1017 is the closer 2 (though it has more ink)"
    chosen = {item: answer.value for item, answer in store.answers("finder").items()}
    assert chosen == {"n0": 10, "n1": 1017, "n2": NONE_OF_THESE, "n3": 3011}
    assert report.answered == 4 and store.pairs("finder").reference_ids == (10, 1017, 3011)


def test_the_finder_oracle_without_reference_labels_knows_only_counterparts(store, mnist):
    store.create_task(
        "finder",
        corrupted(mnist.images[[10, 1010]], seed=1),
        kind="find",
        proposals=[
            Proposals((10, 11), mnist.images[[10, 11]]),
            Proposals((1011,), mnist.images[[1011]]),
        ],
    )

    SimulatedOracle(mnist.labels, clean_counterparts={0: 10, 1: 1010}).answer_pending(
        store, "finder"
    )

    assert {i: a.value for i, a in store.answers("finder").items()} == {"0": 10, "1": NONE_OF_THESE}


def test_latent_neighbours_and_the_oracle_recover_the_clean_counterparts(store, mnist):
    """The Human Finder Checker end to end, with pixels standing in for latent codes."""
    pool = np.arange(0, 5000, 25)  # 200 clean training digits
    originals = pool[[3, 47, 90, 121, 180]]
    noisy = corrupted(mnist.images[originals], seed=2)
    proposals = propose_references(
        noisy.reshape(len(noisy), -1),
        mnist.images[pool].reshape(len(pool), -1) / 255,
        mnist.images[pool],
        k=5,
        reference_ids=pool,
    )
    store.create_task("finder", noisy, kind="find", sample_ids=originals, proposals=proposals)
    oracle = SimulatedOracle(
        mnist.labels,
        reference_labels=mnist.labels,
        clean_counterparts={int(i): int(i) for i in originals},
    )

    oracle.answer_pending(store, "finder")
    pairs = store.pairs("finder")

    assert pairs.reference_ids == tuple(originals.tolist())
    np.testing.assert_array_equal(pairs.reference_images, mnist.images[originals])
    np.testing.assert_array_equal(pairs.critical_images, noisy)
