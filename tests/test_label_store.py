"""LabelStore: the labeling tasks of the human checkers, and the finder's proposals.

A human (the local labeling page), the agent loop and Label Studio imports write the
same tasks at the same time; these tests pin down that no answer is ever lost, that an
invalid write changes nothing, and that every answer stays in the history.
"""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from kedro_scanflow.human import (
    NONE_OF_THESE,
    ItemStatus,
    LabelStore,
    Proposals,
    TaskKind,
    new_task_name,
    propose_neighbours,
    propose_references,
)
from kedro_scanflow.io import IdxImageDataset, ImageSet

REPO = Path(__file__).resolve().parents[1]
MNIST_5K = REPO / "data/01_raw/mnist_5k"
DIGITS = list(range(10))


@pytest.fixture(scope="module")
def mnist() -> ImageSet:
    return IdxImageDataset(
        str(MNIST_5K / "images-idx3-ubyte.gz"), str(MNIST_5K / "labels-idx1-ubyte.gz")
    ).load()


@pytest.fixture(scope="module")
def sample_ids() -> np.ndarray:
    """20 critical samples spread over every class (the subset is sorted by class)."""
    return np.arange(7, 5000, 250)


@pytest.fixture
def store(tmp_path: Path) -> LabelStore:
    return LabelStore(tmp_path / "labeling")


@pytest.fixture
def task_name(store: LabelStore, mnist: ImageSet, sample_ids: np.ndarray) -> str:
    """A label task over the 20 critical samples, with the model's (wrong) hints."""
    name = new_task_name("critical")
    store.create_task(
        name,
        mnist.images[sample_ids],
        classes=DIGITS,
        predictions=(mnist.labels[sample_ids] + 1) % 10,
        scores=np.linspace(0.9, 0.1, len(sample_ids)),
        sample_ids=sample_ids,
        metadata={"run_id": "20261122-101530-3fa9"},
    )
    return name


def files_of(store: LabelStore) -> dict[str, bytes]:
    """Every file of the store, by name, as bytes: to show that nothing changed."""
    if not store.root.exists():
        return {}
    return {path.name: path.read_bytes() for path in sorted(store.root.iterdir())}


def test_a_new_task_holds_every_item_pending_with_its_images_and_hints(
    store, task_name, mnist, sample_ids
):
    task = store.task(task_name)

    assert store.tasks() == [task_name]
    assert task.kind is TaskKind.LABEL and task.classes == tuple(DIGITS)
    assert task.image_shape == (28, 28) and task.metadata == {"run_id": "20261122-101530-3fa9"}
    assert store.pending(task_name) == [str(i) for i in sample_ids]
    assert str(store.progress(task_name)) == "0/20 answered"
    first = task.item("7")
    assert (first.sample_id, first.prediction, first.score) == (7, 1, pytest.approx(0.9))
    assert first.status is ItemStatus.PENDING and first.answer is None
    np.testing.assert_array_equal(store.item_images(task_name), mnist.images[sample_ids])
    assert store.item_images(task_name).dtype == np.uint8
    on_disk = json.loads(store.json_path(task_name).read_text())
    assert on_disk["kind"] == "label" and len(on_disk["items"]) == 20
    assert on_disk["history"] == []


def test_answers_skips_and_undo_move_items_through_the_queue(store, task_name, mnist):
    truth = {i: int(mnist.labels[int(i)]) for i in store.pending(task_name)}
    answered = store.answer(task_name, "7", truth["7"], annotator="alice")
    store.answer(task_name, "257", np.int64(truth["257"]), annotator="bob")
    store.skip(task_name, "507", annotator="alice")

    progress = store.progress(task_name)
    assert (progress.answered, progress.skipped, progress.pending) == (2, 1, 17)
    assert str(progress) == "2/20 answered, 1 skipped"
    assert "7" not in store.pending(task_name) and "507" not in store.pending(task_name)
    answers = store.answers(task_name)
    assert set(answers) == {"7", "257"}
    assert answers["7"] == answered
    assert (answers["7"].value, answers["7"].annotator) == (truth["7"], "alice")
    assert answers["257"].value == truth["257"] and type(answers["257"].value) is int

    previous = store.undo(task_name, "7", annotator="carol")
    assert previous == answered
    assert "7" in store.pending(task_name) and "7" not in store.answers(task_name)
    skipped = store.undo(task_name, "507")
    assert skipped.skipped and skipped.value is None

    events = [(e.event, e.item_id, e.annotator) for e in store.history(task_name)]
    assert events == [
        ("answered", "7", "alice"),
        ("answered", "257", "bob"),
        ("skipped", "507", "alice"),
        ("undone", "7", "carol"),
        ("undone", "507", "human"),
    ]
    assert store.history(task_name)[3].replaced == answered


def test_re_answering_needs_overwrite_and_keeps_the_replaced_answer(store, task_name):
    store.answer(task_name, "7", 0, annotator="alice")
    with pytest.raises(ValueError, match=r"not pending \(answered 0 by alice.*overwrite=True"):
        store.answer(task_name, "7", 6, annotator="bob")
    store.skip(task_name, "257")
    with pytest.raises(ValueError, match="not pending"):
        store.answer(task_name, "257", 1)

    store.answer(task_name, "7", 6, annotator="bob", overwrite=True)

    assert store.answers(task_name)["7"].value == 6
    last = store.history(task_name)[-1]
    assert (last.value, last.annotator, last.replaced.value, last.replaced.annotator) == (
        6,
        "bob",
        0,
        "alice",
    )


def test_labels_are_the_answered_images_with_the_human_labels(store, task_name, mnist, sample_ids):
    store.answer_many(task_name, {str(i): int(mnist.labels[i]) for i in sample_ids[::2]})

    labelled = store.labels(task_name)

    np.testing.assert_array_equal(labelled.images, mnist.images[sample_ids[::2]])
    np.testing.assert_array_equal(labelled.labels, mnist.labels[sample_ids[::2]])


def test_string_classes_give_labels_as_class_positions(store, mnist):
    store.create_task("shapes", mnist.images[:3], classes=["round", "straight"])
    store.answer_many("shapes", {"0": "straight", "2": "round"}, annotator={"0": "a", "2": "b"})

    labelled = store.labels("shapes")

    assert labelled.labels.tolist() == [1, 0]
    assert [store.answers("shapes")[i].annotator for i in ("0", "2")] == ["a", "b"]


def test_answer_many_records_all_answers_or_none(store, task_name):
    before = files_of(store)
    with pytest.raises(ValueError) as raised:
        store.answer_many(task_name, {"7": 1, "257": 12, "nope": 3, "507": "4"})
    message = str(raised.value)
    assert "12 is not a class" in message and "no item 'nope'" in message
    assert "'4' is not a class" in message
    assert files_of(store) == before

    assert store.answer_many(task_name, {"7": 1, "257": 2}) == 2
    assert store.answer_many(task_name, {"7": 1, "257": 2}) == 0, "same answers twice: harmless"
    assert len(store.history(task_name)) == 2


@pytest.mark.parametrize(
    ("write", "error"),
    [
        (lambda s, n: s.answer(n, "7", 10), r"10 is not a class of labeling task .*classes: 0, 1"),
        (lambda s, n: s.answer(n, "7", "3"), r"'3' is not a class"),
        (lambda s, n: s.answer(n, "7", True), r"True is not a class"),
        (lambda s, n: s.answer(n, "8", 3), r"has no item '8' \(items: '7', '257'"),
        (lambda s, n: s.answer(n, "257", 3), r"'257' .* is not pending"),
        (lambda s, n: s.skip(n, "257"), r"not pending"),
        (lambda s, n: s.undo(n, "7"), r"'7' .* is pending: there is no answer to undo"),
    ],
)
def test_invalid_writes_leave_the_files_unchanged(store, task_name, write, error):
    store.answer(task_name, "257", 5)
    before = files_of(store)

    with pytest.raises(ValueError, match=error):
        write(store, task_name)

    assert files_of(store) == before


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"images": "flat"}, r"shaped \(n, height, width\), got shape \(5, 784\)"),
        ({"images": "nan"}, r"NaN or infinite values \(image\(s\) at position \[2\]\)"),
        ({"images": "empty"}, r"empty"),
        ({"classes": [0, 1, 1]}, r"unique; repeated: \[1\]"),
        ({"classes": []}, r"at least one class"),
        ({"classes": None}, r"needs its classes"),
        ({"classes": [0, "1"]}, r"all integers or all strings"),
        ({"scores": [0.5, np.nan, 1, 1, 1]}, r"finite; not at position \[1\]"),
        ({"scores": [1.0, 2.0]}, r"5 images but scores shaped \(2,\)"),
        ({"predictions": [0, 1, 2, 3, 11]}, r"Prediction 11 at position 4"),
        ({"sample_ids": [1, 2, 3, 4, "4"]}, r"unique; repeated: \['4'\]"),
        ({"metadata": {"when": object()}}, r"JSON-serialisable"),
        ({"name": "../escape"}, r"not a valid labeling task name"),
        ({"kind": "find"}, r"needs proposals"),
    ],
)
def test_invalid_tasks_are_refused_before_anything_is_written(
    store, task_name, mnist, arguments, error
):
    valid = mnist.images[:5].astype(np.float32) / 255
    images = {
        "valid": valid,
        "flat": valid.reshape(5, 784),
        "nan": np.where(np.arange(5)[:, None, None] == 2, np.nan, valid),
        "empty": valid[:0],
    }
    arguments = {"name": "refused", "images": "valid", "classes": DIGITS, **arguments}
    arguments["images"] = images[arguments["images"]]
    before = files_of(store)

    with pytest.raises(ValueError, match=error):
        store.create_task(arguments.pop("name"), arguments.pop("images"), **arguments)

    assert files_of(store) == before
    assert store.tasks() == [task_name]


def test_an_existing_task_is_never_overwritten(store, task_name, mnist):
    before = files_of(store)

    with pytest.raises(FileExistsError, match=f"already has a labeling task '{task_name}'"):
        store.create_task(task_name, mnist.images[:2], classes=DIGITS)

    assert files_of(store) == before


def test_a_missing_task_names_the_store_and_the_tasks_it_has(store, task_name):
    with pytest.raises(FileNotFoundError) as raised:
        store.task("20260101-000000-0000-critical")

    assert str(store.root) in str(raised.value) and task_name in str(raised.value)
    with pytest.raises(FileNotFoundError, match=r"tasks: none"):
        LabelStore(store.root / "empty").progress("anything")


def _answer_all(root: Path, name: str, item_ids: list[str], annotator: str, start, results):
    """One writer process: answer every item it can, report how many it won."""
    store = LabelStore(root)
    start.wait()
    won = []
    for item_id in item_ids:
        try:
            store.answer(name, item_id, int(item_id) % 10, annotator=annotator)
            won.append(item_id)
        except ValueError:
            pass
    results.put((annotator, won))


def _run_writers(store: LabelStore, name: str, work: dict[str, list[str]]) -> dict[str, list[str]]:
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(len(work)), context.Queue()
    writers = [
        context.Process(target=_answer_all, args=(store.root, name, ids, who, start, results))
        for who, ids in work.items()
    ]
    for writer in writers:
        writer.start()
    won = dict(results.get(timeout=60) for _ in writers)
    for writer in writers:
        writer.join(timeout=60)
        assert writer.exitcode == 0
    return won


def test_writers_in_several_processes_never_lose_an_answer(store, mnist):
    store.create_task("busy", mnist.images[:80], classes=DIGITS)
    ids = store.pending("busy")

    won = _run_writers(store, "busy", {f"writer-{w}": ids[w::4] for w in range(4)})

    answers = store.answers("busy")
    assert sorted(answers) == sorted(ids), "every answer of every writer is recorded"
    assert all(answers[i].annotator == who for who, mine in won.items() for i in mine)
    assert len(store.history("busy")) == 80


def test_writers_racing_for_the_same_items_answer_each_item_exactly_once(store, mnist):
    store.create_task("contended", mnist.images[:40], classes=DIGITS)
    ids = store.pending("contended")

    won = _run_writers(store, "contended", {f"writer-{w}": ids for w in range(4)})

    assert sorted(i for mine in won.values() for i in mine) == sorted(ids)
    events = store.history("contended")
    assert len(events) == 40 and all(e.event == "answered" and e.replaced is None for e in events)
    assert {i: a.annotator for i, a in store.answers("contended").items()} == {
        i: who for who, mine in won.items() for i in mine
    }


@pytest.fixture
def finder_name(store: LabelStore, mnist: ImageSet) -> str:
    """A finder task: 3 noisy digits, each with 3 clean proposals (ids into the data set)."""
    rng = np.random.default_rng(0)
    clean = mnist.images[[10, 1010, 2010]].astype(np.float32) / 255
    noisy = np.clip(clean + rng.normal(0, 0.3, clean.shape), 0, 1).astype(np.float32)
    proposals = [
        Proposals((10, 11, 12), mnist.images[[10, 11, 12]].astype(np.float32) / 255),
        (np.array([1010, 1500]), mnist.images[[1010, 1500]].astype(np.float32) / 255),
        Proposals(("a", "b", "c"), mnist.images[[3000, 3001, 3002]].astype(np.float32) / 255),
    ]
    store.create_task(
        "finder", noisy, kind="find", proposals=proposals, sample_ids=["n0", "n1", "n2"]
    )
    return "finder"


def test_finder_tasks_keep_every_items_proposals_and_yield_the_chosen_pairs(
    store, finder_name, mnist
):
    task = store.task(finder_name)
    assert task.kind is TaskKind.FIND
    assert [item.proposal_ids for item in task.items] == [
        (10, 11, 12),
        (1010, 1500),
        ("a", "b", "c"),
    ]
    proposals = store.proposals(finder_name)
    np.testing.assert_array_equal(proposals["n1"].images * 255, mnist.images[[1010, 1500]])

    store.answer(finder_name, "n0", 10)
    store.answer(finder_name, "n1", np.int64(1010))
    store.answer(finder_name, "n2", NONE_OF_THESE)
    pairs = store.pairs(finder_name)

    assert pairs.item_ids == ("n0", "n1") and pairs.reference_ids == (10, 1010)
    np.testing.assert_array_equal(pairs.reference_images * 255, mnist.images[[10, 1010]])
    np.testing.assert_array_equal(pairs.critical_images, store.item_images(finder_name)[:2])
    with pytest.raises(ValueError, match="is a 'find' task, not 'label'"):
        store.labels(finder_name)


def test_a_finder_answer_must_be_one_of_the_items_proposals_or_none(store, finder_name):
    before = files_of(store)
    with pytest.raises(
        ValueError, match=r"1500 is not a proposal of item 'n0'.*10, 11, 12, 'none'"
    ):
        store.answer(finder_name, "n0", 1500)
    with pytest.raises(ValueError, match="reserved"):
        Proposals(("none",), np.zeros((1, 28, 28)))
    with pytest.raises(ValueError, match=r"are \(14, 14\), not \(28, 28\)"):
        store.create_task(
            "other", np.zeros((1, 28, 28)), kind="find", proposals=[((1,), np.zeros((1, 14, 14)))]
        )
    assert files_of(store) == before


def test_neighbours_are_the_exact_nearest_references_nearest_first():
    references = np.stack([np.arange(10.0), np.zeros(10)], axis=1)  # points 0..9 on a line
    queries = np.array([[3.2, 0.0], [9.9, 0.0], [4.5, 0.0], [-7.0, 1.0]])

    neighbours = propose_neighbours(queries, references, 3)

    assert neighbours.tolist() == [[3, 4, 2], [9, 8, 7], [4, 5, 3], [0, 1, 2]]
    assert propose_neighbours(queries, references, 10)[0].tolist() == [3, 4, 2, 5, 1, 6, 0, 7, 8, 9]


def test_neighbours_match_a_brute_force_search_on_feature_maps():
    rng = np.random.default_rng(3)
    queries, references = rng.normal(size=(30, 2, 2, 4)), rng.normal(size=(200, 2, 2, 4))
    brute = np.linalg.norm(queries.reshape(30, 1, 16) - references.reshape(1, 200, 16), axis=2)

    neighbours = propose_neighbours(queries, references, 5)

    np.testing.assert_array_equal(neighbours, np.argsort(brute, axis=1)[:, :5])


def test_finder_proposals_carry_the_reference_ids_and_images(store, mnist):
    references = mnist.images[:300]
    latent = references.reshape(300, -1).astype(np.float32) / 255
    queries = latent[[5, 250]] + 0.01

    proposals = propose_references(
        queries, latent, references, 4, reference_ids=np.arange(300) + 1000
    )
    store.create_task("found", mnist.images[[5, 250]], kind="find", proposals=proposals)

    assert proposals[0].reference_ids[0] == 1005 and proposals[1].reference_ids[0] == 1250
    np.testing.assert_array_equal(proposals[1].images[0], mnist.images[250])
    assert store.task("found").items[0].proposal_ids == proposals[0].reference_ids


@pytest.mark.parametrize(
    ("queries", "references", "k", "error"),
    [
        (np.zeros((2, 3)), np.zeros((4, 3)), 5, r"between 1 and 4"),
        (np.zeros((2, 3)), np.zeros((4, 3)), 0, r"between 1 and 4"),
        (np.zeros((2, 3)), np.zeros((4, 2)), 1, r"3 dimensions but reference_latent codes have 2"),
        (np.array([[0.0, np.nan]]), np.zeros((4, 2)), 1, r"query_latent holds NaN .*rows \[0\]"),
        (np.zeros((1, 2)), np.array([[0, 0], [np.inf, 0]]), 1, r"reference_latent holds NaN"),
        (np.zeros(3), np.zeros((4, 3)), 1, r"shaped \(n, d\)"),
    ],
)
def test_neighbour_search_refuses_bad_latent_codes(queries, references, k, error):
    with pytest.raises(ValueError, match=error):
        propose_neighbours(queries, references, k)
