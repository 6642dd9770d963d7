"""Label Studio in and out: label tasks go out as Label Studio tasks, exports come back.

A person labels in Label Studio, exports as JSON or JSON_MIN, and the answers land in the
label store exactly as if given on the local page; any bad record changes nothing.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import pytest
from PIL import Image

from kedro_scanflow.human import (
    LabelStore,
    LabelStudioImportError,
    Proposals,
    export_label_studio,
    import_label_studio,
    label_studio_config,
    label_studio_tasks,
)
from kedro_scanflow.io import IdxImageDataset, ImageSet

REPO = Path(__file__).resolve().parents[1]
MNIST_5K = REPO / "data/01_raw/mnist_5k"
SAMPLE_IDS = np.arange(3, 5000, 400)  # 13 digits of every class


@pytest.fixture(scope="module")
def mnist() -> ImageSet:
    return IdxImageDataset(
        str(MNIST_5K / "images-idx3-ubyte.gz"), str(MNIST_5K / "labels-idx1-ubyte.gz")
    ).load()


@pytest.fixture
def store(tmp_path: Path, mnist: ImageSet) -> LabelStore:
    """A store with the label task ``critical``: 13 digits, the model off by one."""
    store = LabelStore(tmp_path / "labeling")
    store.create_task(
        "critical",
        mnist.images[SAMPLE_IDS],
        classes=list(range(10)),
        predictions=(mnist.labels[SAMPLE_IDS] + 1) % 10,
        scores=np.linspace(0.99, 0.5, len(SAMPLE_IDS)),
        sample_ids=SAMPLE_IDS,
    )
    return store


def truth_of(task: dict[str, Any], mnist: ImageSet) -> str:
    """What a careful human picks in Label Studio for one exported task."""
    return str(mnist.labels[task["data"]["scanflow_sample_id"]])


def labelled_in_label_studio(tasks: list[dict[str, Any]], mnist: ImageSet) -> list[dict[str, Any]]:
    """The project's JSON export after a human labelled every task (Label Studio adds ids)."""
    return [
        {
            **task,
            "id": 100 + position,
            "annotations": [
                {
                    "id": 500 + position,
                    "completed_by": {"id": 1, "email": "ann@example.com"},
                    "was_cancelled": False,
                    "ground_truth": False,
                    "lead_time": 2.5,
                    "result": [
                        {
                            "id": f"r{position}",
                            "from_name": "label",
                            "to_name": "image",
                            "type": "choices",
                            "origin": "manual",
                            "value": {"choices": [truth_of(task, mnist)]},
                        }
                    ],
                }
            ],
        }
        for position, task in enumerate(tasks)
    ]


def labelled_json_min(tasks: list[dict[str, Any]], mnist: ImageSet) -> list[dict[str, Any]]:
    """The same export in JSON_MIN: flat records, data fields and the choice side by side."""
    return [
        {
            **task["data"],
            "id": 100 + position,
            "label": truth_of(task, mnist),
            "annotator": 7,
            "annotation_id": 500 + position,
            "created_at": "2026-11-22T10:15:30.000000Z",
            "updated_at": "2026-11-22T10:15:30.000000Z",
            "lead_time": 2.5,
        }
        for position, task in enumerate(tasks)
    ]


def write_export(path: Path, records: Any) -> Path:
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def store_bytes(store: LabelStore) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(store.root.iterdir())}


def decode_png(uri: str) -> np.ndarray:
    header, payload = uri.split(",", 1)
    assert header == "data:image/png;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(payload))))


def test_the_labeling_config_offers_every_class_for_the_image(store):
    config = ElementTree.fromstring(label_studio_config(store.task("critical")))

    image = config.find("Image")
    choices = config.find("Choices")
    assert (image.get("name"), image.get("value")) == ("image", "$image")
    assert (choices.get("name"), choices.get("toName"), choices.get("choice")) == (
        "label",
        "image",
        "single",
    )
    assert [choice.get("value") for choice in choices] == [str(d) for d in range(10)]


def test_exported_tasks_carry_the_image_the_item_and_the_models_prediction(store, mnist):
    tasks = label_studio_tasks(store, "critical", model_version="cnn-v3")

    assert len(tasks) == len(SAMPLE_IDS)
    first = tasks[0]
    assert first["data"]["scanflow_item_id"] == "3" and first["data"]["scanflow_task"] == "critical"
    np.testing.assert_array_equal(decode_png(first["data"]["image"]), mnist.images[3])
    prediction = first["predictions"][0]
    assert prediction["model_version"] == "cnn-v3" and prediction["score"] == pytest.approx(0.99)
    assert prediction["result"] == [
        {
            "from_name": "label",
            "to_name": "image",
            "type": "choices",
            "value": {"choices": [str((mnist.labels[3] + 1) % 10)]},
        }
    ]
    json.dumps(tasks)  # what Label Studio imports is plain JSON


def test_export_with_an_url_prefix_writes_the_images_to_serve(store, mnist, tmp_path):
    store.answer("critical", "3", int(mnist.labels[3]))

    export = export_label_studio(
        store, "critical", tmp_path / "ls", image_url_prefix="http://files.local/ls/"
    )

    tasks = json.loads(export.tasks_file.read_text())
    assert len(tasks) == len(SAMPLE_IDS) - 1, "answered items are not asked again"
    assert tasks[0]["data"]["image"] == "http://files.local/ls/critical/00001.png"
    assert len(export.image_files) == len(tasks)
    png = np.asarray(Image.open(tmp_path / "ls/critical/00001.png"))
    np.testing.assert_array_equal(png, mnist.images[SAMPLE_IDS[1]])
    assert export.config_file.read_text().startswith("<View>")


@pytest.mark.parametrize("export_format", ["JSON", "JSON_MIN"])
def test_labels_given_in_label_studio_round_trip_into_the_store(
    store, mnist, tmp_path, export_format
):
    export = export_label_studio(store, "critical", tmp_path / "ls")
    tasks = json.loads(export.tasks_file.read_text())
    build = labelled_in_label_studio if export_format == "JSON" else labelled_json_min
    exported = write_export(tmp_path / f"project-1-{export_format}.json", build(tasks, mnist))

    report = import_label_studio(store, "critical", exported)

    assert (report.answered, report.unchanged, report.unannotated) == (len(SAMPLE_IDS), 0, 0)
    assert store.progress("critical").is_complete
    labelled = store.labels("critical")
    np.testing.assert_array_equal(labelled.labels, mnist.labels[SAMPLE_IDS])
    np.testing.assert_array_equal(labelled.images, mnist.images[SAMPLE_IDS])
    expected = "label-studio:ann@example.com" if export_format == "JSON" else "label-studio:7"
    assert {answer.annotator for answer in store.answers("critical").values()} == {expected}

    again = import_label_studio(store, "critical", exported)
    assert (again.answered, again.unchanged) == (0, len(SAMPLE_IDS)), "re-importing is harmless"


def test_unannotated_tasks_fail_the_import_unless_ignored(store, mnist):
    tasks = labelled_in_label_studio(label_studio_tasks(store, "critical"), mnist)
    for task in tasks[5:]:
        task["annotations"] = []

    with pytest.raises(LabelStudioImportError, match=r"record\[5\] \(item '2003'\): not annotated"):
        import_label_studio(store, "critical", tasks)
    report = import_label_studio(store, "critical", tasks, ignore_unannotated=True)

    assert (report.answered, report.unannotated) == (5, len(SAMPLE_IDS) - 5)
    assert len(store.pending("critical")) == len(SAMPLE_IDS) - 5


def test_an_answer_given_meanwhile_on_the_local_page_wins_unless_overwritten(store, mnist):
    tasks = labelled_in_label_studio(label_studio_tasks(store, "critical"), mnist)
    store.answer("critical", "403", 9, annotator="alice")

    with pytest.raises(LabelStudioImportError, match=r"item '403'.*already answered 9 by alice"):
        import_label_studio(store, "critical", tasks)
    import_label_studio(store, "critical", tasks, overwrite=True)

    assert store.answers("critical")["403"].value == int(mnist.labels[403])
    assert store.history("critical")[-len(SAMPLE_IDS) + 1].replaced.annotator == "alice"


def _cancel(task: dict[str, Any]) -> None:
    task["annotations"][0]["was_cancelled"] = True


def _second_annotator_says_zero(task: dict[str, Any]) -> None:
    first = task["annotations"][0]
    choice = {**first["result"][0], "value": {"choices": ["0"]}}
    task["annotations"].append({**first, "id": 999, "completed_by": 2, "result": [choice]})


BROKEN_FULL_EXPORTS = {
    "no item id": (
        lambda t: t["data"].pop("scanflow_item_id"),
        r"record\[4\] has no 'scanflow_item_id'",
    ),
    "unknown item": (
        lambda t: t["data"].update(scanflow_item_id="4999"),
        r"record\[4\] \(item '4999'\): labeling task 'critical' has no such item",
    ),
    "other task": (
        lambda t: t["data"].update(scanflow_task="older"),
        r"record\[4\] comes from labeling task 'older'",
    ),
    "unknown label": (
        lambda t: t["annotations"][0]["result"][0]["value"].update(choices=["11"]),
        r"record\[4\] \(item '1603'\): unknown class label '11' \(classes: 0, 1",
    ),
    "no choice": (
        lambda t: t["annotations"][0].update(result=[]),
        r"record\[4\] \(item '1603'\): annotation 504 has no single 'label' choice",
    ),
    "two choices": (
        lambda t: t["annotations"][0]["result"][0]["value"].update(choices=["1", "2"]),
        r"expected exactly one 'label' choice, got \['1', '2'\]",
    ),
    "cancelled": (_cancel, r"record\[4\] \(item '1603'\): annotation 504 was cancelled"),
    "disagreement": (_second_annotator_says_zero, r"annotations disagree \('3', '0'\)"),
    "no result": (
        lambda t: t["annotations"][0].pop("result"),
        r"an annotation has no 'result' list",
    ),
}


@pytest.mark.parametrize("breakage", BROKEN_FULL_EXPORTS, ids=list(BROKEN_FULL_EXPORTS))
def test_a_bad_record_in_a_json_export_fails_and_leaves_the_store_unchanged(
    store, mnist, tmp_path, breakage
):
    tasks = labelled_in_label_studio(label_studio_tasks(store, "critical"), mnist)
    change, error = BROKEN_FULL_EXPORTS[breakage]
    change(tasks[4])
    exported = write_export(tmp_path / "export.json", tasks)
    before = store_bytes(store)

    with pytest.raises(LabelStudioImportError, match=error) as raised:
        import_label_studio(store, "critical", exported)

    assert "nothing was recorded" in str(raised.value)
    assert store_bytes(store) == before


BROKEN_MIN_EXPORTS = {
    "missing choice": (
        lambda r: r.pop("label"),
        r"record\[2\] \(item '803'\): annotation has no 'label' choice",
    ),
    "unknown label": (lambda r: r.update(label="ten"), r"unknown class label 'ten'"),
    "multiple choices": (
        lambda r: r.update(label={"choices": ["1", "7"]}),
        r"exactly one 'label' choice",
    ),
    "no item id": (lambda r: r.pop("scanflow_item_id"), r"record\[2\] has no 'scanflow_item_id'"),
    "unknown item": (
        lambda r: r.update(scanflow_item_id="x"),
        r"item 'x'\): labeling task 'critical' has no such item",
    ),
}


@pytest.mark.parametrize("breakage", BROKEN_MIN_EXPORTS, ids=list(BROKEN_MIN_EXPORTS))
def test_a_bad_record_in_a_json_min_export_fails_and_leaves_the_store_unchanged(
    store, mnist, tmp_path, breakage
):
    records = labelled_json_min(label_studio_tasks(store, "critical"), mnist)
    change, error = BROKEN_MIN_EXPORTS[breakage]
    change(records[2])
    exported = write_export(tmp_path / "export.json", records)
    before = store_bytes(store)

    with pytest.raises(LabelStudioImportError, match=error):
        import_label_studio(store, "critical", exported)

    assert store_bytes(store) == before


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("<html>Label Studio</html>", r"not JSON"),
        ('[{"data": {"image": "x"', r"not JSON"),
        ('{"tasks": []}', r"is a list of tasks, got dict"),
        ('["critical"]', r"record\[0\] is str, not a task object"),
        (
            '[{"data": {"scanflow_item_id": "3"}, "annotations": {}}]',
            r"'annotations' is not a list",
        ),
    ],
)
def test_a_malformed_export_fails_and_leaves_the_store_unchanged(store, tmp_path, content, error):
    exported = tmp_path / "export.json"
    exported.write_text(content, encoding="utf-8")
    before = store_bytes(store)

    with pytest.raises(LabelStudioImportError, match=error) as raised:
        import_label_studio(store, "critical", exported)

    assert str(exported) in str(raised.value)
    assert store_bytes(store) == before


def test_every_problem_of_an_export_is_reported_at_once(store, mnist):
    records = labelled_json_min(label_studio_tasks(store, "critical"), mnist)
    records[1]["label"] = "11"
    records[6]["scanflow_item_id"] = "nope"

    with pytest.raises(LabelStudioImportError) as raised:
        import_label_studio(store, "critical", records)

    assert len(raised.value.problems) == 2
    assert "record[1]" in raised.value.problems[0] and "record[6]" in raised.value.problems[1]


def test_finder_tasks_do_not_go_through_label_studio(store, mnist):
    proposals = [Proposals((1, 2), mnist.images[[1, 2]])]
    store.create_task("finder", mnist.images[:1], kind="find", proposals=proposals)

    with pytest.raises(ValueError, match="only label tasks go through Label Studio"):
        label_studio_tasks(store, "finder")
    with pytest.raises(ValueError, match="only label tasks"):
        import_label_studio(store, "finder", [])
