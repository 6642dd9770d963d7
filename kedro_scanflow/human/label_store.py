"""``LabelStore``: the folder of labeling tasks that the human checkers hand to a human.

What a task asks and how its JSON file reads is in
:mod:`~kedro_scanflow.human.labeling_task`; this module keeps the files. Layout of
``<root>/``::

    <name>.json   metadata, items, their current answers and the append-only answer history
    <name>.npz    ``images``: the items (n, height, width); for finder tasks also
                  ``proposal_images``: every item's proposals, concatenated in item order
    <name>.lock   locked (``flock``) by every writer around its read-modify-write

The local labeling page, the agent loop, the simulated oracle and Label Studio imports may
write the same task at the same time: every write holds the task's exclusive lock and
replaces the JSON file atomically, so no answer is lost and readers never see half a file.
Replaced, skipped and undone answers stay in the history.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kedro_scanflow.human.labeling_inputs import (
    checked_classes,
    checked_images,
    checked_metadata,
    checked_predictions,
    checked_proposals,
    checked_sample_ids,
    checked_scores,
    checked_task_name,
    problem_list,
    require_answerable,
)
from kedro_scanflow.human.labeling_task import (
    NONE_OF_THESE,
    AnswerEvent,
    AnswerRecord,
    FinderPairs,
    ItemStatus,
    LabelingTask,
    Progress,
    Proposals,
    TaskKind,
    history_from_json,
    is_task_json,
    is_task_name,
    new_task_json,
    record_change,
)
from kedro_scanflow.io.image_set import ImageSet
from kedro_scanflow.runs.run_directory import utc_now, write_json_atomic

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence


class LabelStore:
    """Creates, reads and answers the labeling tasks kept under one folder.

    Example::

        store = LabelStore(Path("data/07_labeling"))
        store.create_task(new_task_name("critical"), critical.images, classes=range(10))
        store.answer(name, "17", 3, annotator="alice")
        store.labels(name)  # ImageSet of the answered items, ready for retraining
    """

    def __init__(self, root: Path | str):
        """Open the label store at ``root``; the folder is made on the first write."""
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LabelStore({str(self.root)!r})"

    def json_path(self, name: str) -> Path:
        """The JSON file of task ``name`` (metadata, items, answers, history)."""
        return self.root / f"{checked_task_name(name)}.json"

    def images_path(self, name: str) -> Path:
        """The ``.npz`` file holding the images of task ``name``."""
        return self.root / f"{checked_task_name(name)}.npz"

    def tasks(self) -> list[str]:
        """Names of every labeling task in the store, oldest first for generated names."""
        if not self.root.is_dir():
            return []
        return sorted(
            path.stem
            for path in self.root.glob("*.json")
            if is_task_name(path.stem) and path.is_file()
        )

    def task(self, name: str) -> LabelingTask:
        """A snapshot of task ``name``.

        Raises:
            FileNotFoundError: When the store has no such task; the message lists the
                tasks it has.
        """
        return LabelingTask.from_json(self._read(name))

    def pending(self, name: str) -> list[str]:
        """Ids of the items of task ``name`` still waiting for an answer."""
        return self.task(name).pending

    def progress(self, name: str) -> Progress:
        """How many items of task ``name`` are answered, out of how many."""
        return self.task(name).progress

    def answers(self, name: str) -> dict[str, AnswerRecord]:
        """The current answer of every answered (not skipped) item of task ``name``."""
        return {
            item.item_id: item.answer
            for item in self.task(name).items
            if item.status is ItemStatus.ANSWERED and item.answer is not None
        }

    def history(self, name: str) -> list[AnswerEvent]:
        """Every answer, skip and undo ever recorded in task ``name``, oldest first."""
        return history_from_json(self._read(name))

    def item_images(self, name: str) -> np.ndarray:
        """The images of the items of task ``name``, ``(n, height, width)`` in item order."""
        self._read(name)
        with np.load(self.images_path(name), allow_pickle=False) as archive:
            return archive["images"]

    def proposals(self, name: str) -> dict[str, Proposals]:
        """The proposals shown for every item of finder task ``name``, by item id.

        Raises:
            ValueError: When ``name`` is a label task.
        """
        task = self._task_of_kind(name, TaskKind.FIND)
        offsets = _proposal_offsets(task)
        with np.load(self.images_path(name), allow_pickle=False) as archive:
            images = archive["proposal_images"]
        return {
            item.item_id: Proposals(
                item.proposal_ids,
                images[offsets[item.item_id] : offsets[item.item_id] + len(item.proposal_ids)],
            )
            for item in task.items
        }

    def labels(self, name: str) -> ImageSet:
        """The answered items of label task ``name`` with the human's labels.

        Labels are the classes themselves when the classes are integers (MNIST digits),
        else the class's position in the task's classes.

        Raises:
            ValueError: When ``name`` is a finder task.
        """
        task = self._task_of_kind(name, TaskKind.LABEL)
        positions = [i for i, item in enumerate(task.items) if item.status is ItemStatus.ANSWERED]
        values = [task.items[i].answer.value for i in positions]  # type: ignore[union-attr]
        if all(isinstance(value, int) for value in task.classes):
            labels = np.asarray(values, dtype=np.int64)
        else:
            labels = np.asarray([task.classes.index(value) for value in values], dtype=np.int64)
        images = self.item_images(name)[positions]
        return ImageSet(images, labels)

    def pairs(self, name: str) -> FinderPairs:
        """Each item of finder task ``name`` for which the human chose a proposal, with it.

        Items answered "none of these", skipped or pending are left out.

        Raises:
            ValueError: When ``name`` is a label task.
        """
        task = self._task_of_kind(name, TaskKind.FIND)
        offsets = _proposal_offsets(task)
        chosen = [
            item
            for item in task.items
            if item.status is ItemStatus.ANSWERED
            and item.answer is not None
            and item.answer.value != NONE_OF_THESE
        ]
        positions = {item.item_id: i for i, item in enumerate(task.items)}
        reference_ids = tuple(item.answer.value for item in chosen)  # type: ignore[union-attr]
        proposal_rows = [
            offsets[item.item_id] + item.proposal_ids.index(reference_id)
            for item, reference_id in zip(chosen, reference_ids, strict=True)
        ]
        with np.load(self.images_path(name), allow_pickle=False) as archive:
            critical = archive["images"][[positions[item.item_id] for item in chosen]]
            references = archive["proposal_images"][proposal_rows]
        return FinderPairs(
            item_ids=tuple(item.item_id for item in chosen),
            sample_ids=tuple(item.sample_id for item in chosen),
            reference_ids=reference_ids,
            critical_images=critical,
            reference_images=references,
        )

    def create_task(
        self,
        name: str,
        images: np.ndarray,
        *,
        classes: Sequence[int | str] | None = None,
        predictions: Sequence[int | str] | np.ndarray | None = None,
        scores: Sequence[float] | np.ndarray | None = None,
        sample_ids: Sequence[int | str] | np.ndarray | None = None,
        kind: TaskKind | str = TaskKind.LABEL,
        proposals: Sequence[Proposals | tuple[Sequence[int | str], np.ndarray]] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> LabelingTask:
        """Put a new question to the human.

        Args:
            name: Task name, a file name without extension (see :func:`new_task_name`).
            images: The items, grayscale ``(n, height, width)``, finite numbers.
            classes: The classes a label task offers (e.g. ``range(10)``); integers or
                strings, unique. Optional for finder tasks.
            predictions: The model's class for every item, shown as a hint.
            scores: How critical every item is (the drift detector's score).
            sample_ids: Where every item comes from; item ids are their string form.
                Defaults to ``0 .. n-1``.
            kind: ``label`` or ``find``.
            proposals: Finder tasks only: for every item, its candidate references as
                :class:`Proposals` or ``(reference_ids, images)``, nearest first.
            metadata: JSON-serialisable facts about the task (run id, model version...).

        Returns:
            The new task, every item pending.

        Raises:
            ValueError: When an argument is malformed; nothing is written.
            FileExistsError: When the store already has a task called ``name``.
        """
        task_kind = TaskKind(kind)
        name = checked_task_name(name)
        item_images = checked_images(images, "images")
        count = len(item_images)
        task_classes = checked_classes(classes, task_kind)
        ids = checked_sample_ids(sample_ids, count)
        item_predictions = checked_predictions(predictions, count, task_classes)
        item_scores = checked_scores(scores, count)
        item_proposals = checked_proposals(proposals, count, item_images.shape[1:], task_kind)
        task_metadata = checked_metadata(metadata)

        payload = new_task_json(
            name=name,
            kind=task_kind,
            classes=task_classes,
            image_shape=item_images.shape[1:],
            images_file=self.images_path(name).name,
            metadata=task_metadata,
            sample_ids=ids,
            predictions=item_predictions,
            scores=item_scores,
            proposal_ids=[p.reference_ids for p in item_proposals],
        )
        arrays = {"images": item_images}
        if task_kind is TaskKind.FIND:
            arrays["proposal_images"] = np.concatenate([p.images for p in item_proposals])

        with self._locked(name):
            if self.json_path(name).exists():
                raise FileExistsError(
                    f"Label store {self.root} already has a labeling task '{name}'; "
                    "labeling tasks are never overwritten, choose another name."
                )
            _write_npz_atomic(self.images_path(name), arrays)
            write_json_atomic(self.json_path(name), payload)
        return LabelingTask.from_json(payload)

    def answer(
        self,
        name: str,
        item_id: str,
        value: Any,
        *,
        annotator: str = "human",
        overwrite: bool = False,
    ) -> AnswerRecord:
        """Record the human's answer to one item.

        Args:
            name: The task.
            item_id: The item answered.
            value: One of the task's classes (label tasks), or one of the item's
                proposal reference ids or ``"none"`` (finder tasks).
            annotator: Who answered.
            overwrite: Replace an existing answer or skip (the old one stays in the history).

        Returns:
            The recorded answer.

        Raises:
            FileNotFoundError: When there is no task ``name``.
            ValueError: When the item does not exist, is not pending (without
                ``overwrite``) or ``value`` is not one of its options; nothing is written.
        """
        with self._editing(name) as payload:
            task = LabelingTask.from_json(payload)
            record = AnswerRecord(task.resolve_answer(item_id, value), annotator, utc_now())
            require_answerable(task, task.item(item_id), overwrite)
            record_change(payload, item_id, ItemStatus.ANSWERED, record, "answered", annotator)
        return record

    def answer_many(
        self,
        name: str,
        answers: Mapping[str, Any],
        *,
        annotator: str | Mapping[str, str] = "human",
        overwrite: bool = False,
    ) -> int:
        """Record many answers in one atomic write: all of them, or none.

        An item that already holds the very same answer is left as it is, so applying
        the same answers twice is harmless.

        Args:
            name: The task.
            answers: Item id -> value, as for :meth:`answer`.
            annotator: Who answered: one name for all, or a name per item id.
            overwrite: Replace existing answers and skips.

        Returns:
            How many answers were recorded.

        Raises:
            FileNotFoundError: When there is no task ``name``.
            ValueError: When any answer is invalid; the message lists every problem and
                nothing is written.
        """
        answered_at = utc_now()
        planned: list[tuple[str, AnswerRecord]] = []
        with self._editing(name) as payload:
            task = LabelingTask.from_json(payload)
            problems = []
            for item_id, value in answers.items():
                try:
                    resolved = task.resolve_answer(item_id, value)
                    item = task.item(item_id)
                    if item.status is ItemStatus.ANSWERED and item.answer.value == resolved:  # type: ignore[union-attr]
                        continue
                    require_answerable(task, item, overwrite)
                except ValueError as error:
                    problems.append(str(error))
                    continue
                who = annotator if isinstance(annotator, str) else annotator.get(item_id)
                if who is None:
                    problems.append(f"No annotator is given for item {item_id!r}.")
                    continue
                planned.append((item_id, AnswerRecord(resolved, who, answered_at)))
            if problems:
                raise ValueError(problem_list(f"No answer was recorded in '{name}'", problems))
            for item_id, record in planned:
                record_change(
                    payload, item_id, ItemStatus.ANSWERED, record, "answered", record.annotator
                )
        return len(planned)

    def skip(
        self, name: str, item_id: str, *, annotator: str = "human", overwrite: bool = False
    ) -> AnswerRecord:
        """Mark an item the human cannot answer, so it leaves the pending queue.

        Raises:
            FileNotFoundError: When there is no task ``name``.
            ValueError: When the item does not exist or is not pending (without ``overwrite``).
        """
        record = AnswerRecord(None, annotator, utc_now(), skipped=True)
        with self._editing(name) as payload:
            task = LabelingTask.from_json(payload)
            require_answerable(task, task.item(item_id), overwrite)
            record_change(payload, item_id, ItemStatus.SKIPPED, record, "skipped", annotator)
        return record

    def undo(self, name: str, item_id: str, *, annotator: str = "human") -> AnswerRecord:
        """Put an answered or skipped item back in the pending queue.

        Returns:
            The answer (or skip) that was undone; it stays in the history.

        Raises:
            FileNotFoundError: When there is no task ``name``.
            ValueError: When the item does not exist or is pending already.
        """
        with self._editing(name) as payload:
            item = LabelingTask.from_json(payload).item(item_id)
            if item.answer is None or item.status is ItemStatus.PENDING:
                raise ValueError(
                    f"Item {item_id!r} of labeling task '{name}' is pending: there is no "
                    "answer to undo."
                )
            record_change(payload, item_id, ItemStatus.PENDING, None, "undone", annotator)
        return item.answer

    def _task_of_kind(self, name: str, kind: TaskKind) -> LabelingTask:
        task = self.task(name)
        if task.kind is not kind:
            raise ValueError(
                f"Labeling task '{name}' is a '{task.kind.value}' task, not '{kind.value}'."
            )
        return task

    def _read(self, name: str) -> dict[str, Any]:
        path = self.json_path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            known = ", ".join(self.tasks()) or "none"
            raise FileNotFoundError(
                f"No labeling task '{name}' in label store {self.root} (tasks: {known})."
            ) from None
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not a labeling task: invalid JSON ({error}).") from error
        if not is_task_json(payload):
            raise ValueError(f"{path} is not a kedro-scanflow labeling task.")
        return payload

    @contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{checked_task_name(name)}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @contextmanager
    def _editing(self, name: str) -> Iterator[dict[str, Any]]:
        """Read task ``name`` under its lock, let the caller change it, write it back.

        Nothing is written when the caller raises or changes nothing.
        """
        self._read(name)
        with self._locked(name):
            payload = self._read(name)
            before = json.dumps(payload, sort_keys=True)
            yield payload
            if json.dumps(payload, sort_keys=True) != before:
                write_json_atomic(self.json_path(name), payload)


def _proposal_offsets(task: LabelingTask) -> dict[str, int]:
    """Row of every item's first proposal in ``proposal_images``."""
    offsets, start = {}, 0
    for item in task.items:
        offsets[item.item_id] = start
        start += len(item.proposal_ids)
    return offsets


def _write_npz_atomic(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` as a compressed ``.npz`` that readers never see half-made."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez_compressed(stream, **arrays)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
