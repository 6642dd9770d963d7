"""Label Studio in and out: label tasks exported as Label Studio tasks, and exports imported back.

Users who label in `Label Studio <https://labelstud.io>`_ rather than on the local labeling
page set up a project with the labeling config of :func:`label_studio_config`, import the
tasks written by :func:`export_label_studio` (each one carries the model's prediction and
the criticality score as a pre-annotation), label, export the project as ``JSON`` or
``JSON_MIN`` and give the file to :func:`import_label_studio`.

Every exported task carries the label task's name and the item id in its ``data``
(``scanflow_task``, ``scanflow_item_id``), which is how answers find their way back. An
import checks every record before it records anything, then records all answers in one
atomic write: an export with a single bad record changes nothing.

Only label tasks (Human Labeler Checker) go through Label Studio; finder tasks are
answered on the local labeling page.
"""

from __future__ import annotations

import base64
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import quoteattr

import numpy as np
from PIL import Image

from kedro_scanflow.human.labeling_task import ItemStatus, TaskKind
from kedro_scanflow.runs.run_directory import write_json_atomic

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kedro_scanflow.human.label_store import LabelStore
    from kedro_scanflow.human.labeling_task import LabelingTask

IMAGE_FIELD = "image"
"""Name of the ``<Image>`` tag, and the ``data`` field holding the image."""
CHOICE_FIELD = "label"
"""Name of the ``<Choices>`` tag: the answer's field in ``JSON_MIN`` exports."""
ITEM_FIELD = "scanflow_item_id"
TASK_FIELD = "scanflow_task"
SAMPLE_FIELD = "scanflow_sample_id"
_MAX_LISTED = 10


class LabelStudioImportError(ValueError):
    """A Label Studio export that cannot be imported; the label store was left untouched."""

    def __init__(self, source: str, task_name: str, problems: Sequence[str]):
        """Describe every problem found in ``source``."""
        self.problems = list(problems)
        lines = [f"  - {problem}" for problem in self.problems[:_MAX_LISTED]]
        if len(self.problems) > _MAX_LISTED:
            lines.append(f"  ... and {len(self.problems) - _MAX_LISTED} more")
        super().__init__(
            f"Cannot import Label Studio export {source} into labeling task '{task_name}'; "
            "nothing was recorded:\n" + "\n".join(lines)
        )


@dataclass(frozen=True)
class LabelStudioExport:
    """The files a Label Studio project is set up from."""

    tasks_file: Path
    """Tasks to import into the project (Label Studio JSON, with predictions)."""
    config_file: Path
    """The project's labeling interface (Settings > Labeling Interface > Code)."""
    image_files: tuple[Path, ...] = ()
    """PNG images to serve under ``image_url_prefix``, when one was given."""


@dataclass(frozen=True)
class LabelStudioImport:
    """What an import recorded."""

    answered: int
    unchanged: int
    """Records whose item already had the very same answer."""
    unannotated: int
    """Tasks nobody annotated yet, passed over because ``ignore_unannotated`` was set."""


def label_studio_config(task: LabelingTask) -> str:
    """The labeling config XML of a Label Studio project for label task ``task``.

    Raises:
        ValueError: When ``task`` is a finder task.
    """
    _require_label_task(task)
    choices = "\n".join(f"    <Choice value={quoteattr(str(value))}/>" for value in task.classes)
    return (
        "<View>\n"
        f'  <Image name="{IMAGE_FIELD}" value="${IMAGE_FIELD}"/>\n'
        f'  <Choices name="{CHOICE_FIELD}" toName="{IMAGE_FIELD}" choice="single" '
        'showInLine="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>\n"
    )


def label_studio_tasks(
    store: LabelStore,
    name: str,
    *,
    image_url_prefix: str | None = None,
    model_version: str = "kedro-scanflow",
    pending_only: bool = True,
) -> list[dict[str, Any]]:
    """Label task ``name`` as Label Studio tasks, one per item.

    Args:
        store: The label store holding the task.
        name: The label task.
        image_url_prefix: Where the images will be served; ``data.image`` is then
            ``<prefix>/<name>/<position>.png``. Without it, images are embedded as PNG
            data URIs.
        model_version: Shown by Label Studio with each prediction.
        pending_only: Leave out items already answered or skipped.

    Returns:
        A list ready to be saved as JSON and imported into Label Studio.

    Raises:
        ValueError: When ``name`` is a finder task.
    """
    task = store.task(name)
    _require_label_task(task)
    images = _as_uint8(store.item_images(name))
    tasks = []
    for position, (item, image) in enumerate(zip(task.items, images, strict=True)):
        if pending_only and item.status is not ItemStatus.PENDING:
            continue
        source = (
            f"{image_url_prefix.rstrip('/')}/{_image_path(name, position)}"
            if image_url_prefix
            else _png_data_uri(image)
        )
        record: dict[str, Any] = {
            "data": {
                IMAGE_FIELD: source,
                ITEM_FIELD: item.item_id,
                TASK_FIELD: name,
                SAMPLE_FIELD: item.sample_id,
            }
        }
        if item.prediction is not None or item.score is not None:
            prediction: dict[str, Any] = {"model_version": model_version, "result": []}
            if item.score is not None:
                prediction["score"] = item.score
            if item.prediction is not None:
                prediction["result"] = [
                    {
                        "from_name": CHOICE_FIELD,
                        "to_name": IMAGE_FIELD,
                        "type": "choices",
                        "value": {"choices": [str(item.prediction)]},
                    }
                ]
            record["predictions"] = [prediction]
        tasks.append(record)
    return tasks


def export_label_studio(
    store: LabelStore,
    name: str,
    directory: Path | str,
    *,
    image_url_prefix: str | None = None,
    model_version: str = "kedro-scanflow",
    pending_only: bool = True,
) -> LabelStudioExport:
    """Write what a Label Studio project for label task ``name`` is set up from.

    Writes ``<name>.label-studio.json`` (the tasks) and ``<name>.label-studio.xml`` (the
    labeling config) to ``directory``; with ``image_url_prefix``, also the images as
    ``<directory>/<name>/<position>.png``, to be served under that prefix.

    Raises:
        ValueError: When ``name`` is a finder task.
    """
    directory = Path(directory)
    tasks = label_studio_tasks(
        store,
        name,
        image_url_prefix=image_url_prefix,
        model_version=model_version,
        pending_only=pending_only,
    )
    tasks_file = directory / f"{name}.label-studio.json"
    config_file = directory / f"{name}.label-studio.xml"
    write_json_atomic(tasks_file, tasks)
    config_file.write_text(label_studio_config(store.task(name)), encoding="utf-8")
    image_files = []
    if image_url_prefix:
        images = _as_uint8(store.item_images(name))
        exported = {task["data"][ITEM_FIELD] for task in tasks}
        for position, item in enumerate(store.task(name).items):
            if item.item_id in exported:
                path = directory / _image_path(name, position)
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(images[position]).save(path, format="PNG")
                image_files.append(path)
    return LabelStudioExport(tasks_file, config_file, tuple(image_files))


def import_label_studio(
    store: LabelStore,
    name: str,
    export: Path | str | list[Any],
    *,
    overwrite: bool = False,
    ignore_unannotated: bool = False,
) -> LabelStudioImport:
    """Record the answers of a Label Studio export (``JSON`` or ``JSON_MIN``) in label task ``name``.

    Every record must come from this task (``data.scanflow_task``), name one of its items
    (``data.scanflow_item_id``) and carry exactly one choice that is one of its classes.
    Nothing is recorded unless every record passes.

    Args:
        store: The label store holding the task.
        name: The label task.
        export: The export file, or its content already parsed.
        overwrite: Replace answers given in the meantime (e.g. on the local labeling page).
        ignore_unannotated: Pass over tasks nobody annotated yet, instead of failing.

    Returns:
        How many answers were recorded.

    Raises:
        LabelStudioImportError: When the export is not JSON, is not a Label Studio export,
            or any record is incomplete, cancelled, from another task, about an unknown
            item or answered with an unknown class; every problem is listed.
        FileNotFoundError: When there is no task ``name`` or no file ``export``.
    """
    task = store.task(name)
    _require_label_task(task)
    source, records = _read_export(export, name)
    reader = _ExportReader(task, ignore_unannotated)
    for index, record in enumerate(records):
        reader.read(index, record)
    answers, annotators = reader.answers(overwrite)
    if reader.problems:
        raise LabelStudioImportError(source, name, reader.problems)
    try:
        answered = store.answer_many(name, answers, annotator=annotators, overwrite=overwrite)
    except ValueError as error:
        raise LabelStudioImportError(source, name, [str(error)]) from error
    return LabelStudioImport(
        answered=answered, unchanged=len(answers) - answered, unannotated=reader.unannotated
    )


class _ExportReader:
    """Reads the records of one export, collecting every choice and every problem."""

    def __init__(self, task: LabelingTask, ignore_unannotated: bool):
        self.task = task
        self.ignore_unannotated = ignore_unannotated
        self.problems: list[str] = []
        self.choices: list[tuple[int, str, str, str]] = []
        self.unannotated = 0

    def read(self, index: int, record: Any) -> None:
        if not isinstance(record, dict):
            self.problems.append(f"record[{index}] is {type(record).__name__}, not a task object")
        elif isinstance(record.get("data"), dict):
            self._read_full(index, record)
        else:
            self._read_min(index, record)

    def answers(self, overwrite: bool) -> tuple[dict[str, Any], dict[str, str]]:
        """The class chosen for every item, and who chose it; adds problems found."""
        classes = {str(value): value for value in self.task.classes}
        items = {item.item_id: item for item in self.task.items}
        answers: dict[str, Any] = {}
        annotators: dict[str, str] = {}
        for index, item_id, text, annotator in self.choices:
            where = _where(index, item_id)
            item = items.get(item_id)
            if item is None:
                self.problems.append(f"{where}: labeling task '{self.task.name}' has no such item")
                continue
            if text not in classes:
                listed = ", ".join(classes)
                self.problems.append(f"{where}: unknown class label {text!r} (classes: {listed})")
                continue
            value = classes[text]
            if item_id in answers and answers[item_id] != value:
                self.problems.append(
                    f"{where}: answered {text!r} here but {answers[item_id]!r} in another record"
                )
                continue
            if item.status is ItemStatus.SKIPPED and not overwrite:
                self.problems.append(
                    f"{where}: skipped in the label store; pass overwrite=True to answer it"
                )
                continue
            if item.status is ItemStatus.ANSWERED and not overwrite and item.answer.value != value:  # type: ignore[union-attr]
                self.problems.append(
                    f"{where}: already answered {item.answer.value!r} by "  # type: ignore[union-attr]
                    f"{item.answer.annotator} in the label store; pass overwrite=True to "  # type: ignore[union-attr]
                    "replace it"
                )
                continue
            answers[item_id] = value
            annotators[item_id] = annotator
        return answers, annotators

    def _read_full(self, index: int, record: dict[str, Any]) -> None:
        item_id = self._item_id(index, record["data"])
        annotations = record.get("annotations", [])
        where = _where(index, item_id)
        if not isinstance(annotations, list):
            self.problems.append(f"{where}: 'annotations' is not a list")
            return
        if not annotations:
            self._unannotated(where)
            return
        texts, annotators = [], []
        for annotation in annotations:
            text = self._annotation_choice(where, annotation)
            if text is None:
                return
            texts.append(text)
            annotators.append(_annotator(annotation.get("completed_by")))
        if len(set(texts)) > 1:
            self.problems.append(f"{where}: annotations disagree ({', '.join(map(repr, texts))})")
            return
        if item_id is not None:
            annotator = ", ".join(dict.fromkeys(annotators))
            self.choices.append((index, item_id, texts[0], annotator))

    def _annotation_choice(self, where: str, annotation: Any) -> str | None:
        if not isinstance(annotation, dict) or not isinstance(annotation.get("result"), list):
            self.problems.append(f"{where}: an annotation has no 'result' list")
            return None
        label = f"annotation {annotation.get('id', '?')}"
        if annotation.get("was_cancelled"):
            self.problems.append(
                f"{where}: {label} was cancelled (skipped) in Label Studio; label the task "
                "or delete the annotation"
            )
            return None
        results = [
            result
            for result in annotation["result"]
            if isinstance(result, dict) and result.get("type") == "choices"
        ]
        if len(results) > 1:
            results = [result for result in results if result.get("from_name") == CHOICE_FIELD]
        if len(results) != 1:
            self.problems.append(f"{where}: {label} has no single '{CHOICE_FIELD}' choice")
            return None
        value = results[0].get("value")
        return self._single_choice(where, value.get("choices") if isinstance(value, dict) else None)

    def _read_min(self, index: int, record: dict[str, Any]) -> None:
        item_id = self._item_id(index, record)
        where = _where(index, item_id)
        if CHOICE_FIELD not in record:
            if "annotation_id" in record:
                self.problems.append(f"{where}: annotation has no '{CHOICE_FIELD}' choice")
            else:
                self._unannotated(where)
            return
        value = record[CHOICE_FIELD]
        if isinstance(value, dict):
            value = value.get("choices")
        text = self._single_choice(where, [value] if isinstance(value, str) else value)
        if text is not None and item_id is not None:
            self.choices.append((index, item_id, text, _annotator(record.get("annotator"))))

    def _item_id(self, index: int, data: dict[str, Any]) -> str | None:
        task_name = data.get(TASK_FIELD)
        if task_name is not None and task_name != self.task.name:
            self.problems.append(
                f"record[{index}] comes from labeling task {task_name!r}, not '{self.task.name}'"
            )
            return None
        item_id = data.get(ITEM_FIELD)
        if not isinstance(item_id, str) or not item_id:
            self.problems.append(
                f"record[{index}] has no '{ITEM_FIELD}' in its data; was the task exported "
                "by kedro-scanflow?"
            )
            return None
        return item_id

    def _single_choice(self, where: str, choices: Any) -> str | None:
        if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], str):
            self.problems.append(
                f"{where}: expected exactly one '{CHOICE_FIELD}' choice, got {choices!r}"
            )
            return None
        return choices[0]

    def _unannotated(self, where: str) -> None:
        if self.ignore_unannotated:
            self.unannotated += 1
        else:
            self.problems.append(
                f"{where}: not annotated yet (pass ignore_unannotated=True to import the rest)"
            )


def _read_export(export: Path | str | list[Any], task_name: str) -> tuple[str, list[Any]]:
    if isinstance(export, (str, os.PathLike)):
        path = Path(export)
        source = str(path)
        try:
            records = json.loads(path.read_bytes())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise LabelStudioImportError(source, task_name, [f"not JSON: {error}"]) from error
    else:
        source, records = "<in memory>", export
    if not isinstance(records, list):
        raise LabelStudioImportError(
            source,
            task_name,
            [
                "a Label Studio JSON or JSON_MIN export is a list of tasks, got "
                f"{type(records).__name__}"
            ],
        )
    return source, records


def _where(index: int, item_id: str | None) -> str:
    return f"record[{index}]" if item_id is None else f"record[{index}] (item {item_id!r})"


def _annotator(who: Any) -> str:
    """Label Studio's annotator (a user id, an email or a user object) as our annotator."""
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return f"label-studio:{who}" if who not in (None, "") else "label-studio"


def _require_label_task(task: LabelingTask) -> None:
    if task.kind is not TaskKind.LABEL:
        raise ValueError(
            f"Labeling task '{task.name}' is a '{task.kind.value}' task; only label tasks go "
            "through Label Studio. Answer finder tasks on the local labeling page."
        )


def _image_path(name: str, position: int) -> str:
    return f"{name}/{position:05d}.png"


def _as_uint8(images: np.ndarray) -> np.ndarray:
    """Images as 8-bit grey levels; float images within ``[0, 1]`` are scaled to 255."""
    if images.dtype == np.uint8:
        return images
    values = images.astype(np.float64)
    if np.issubdtype(images.dtype, np.floating) and values.max(initial=0.0) <= 1.0:
        values *= 255.0
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _png_data_uri(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
