"""The labeling task: what a human checker asks a human, the answers, and its JSON file.

A labeling task is the question put to a human: "which class is each of these critical
samples?" (Human Labeler Checker, kind ``label``) or "which of these clean training samples
is most like each critical sample?" (Human Finder Checker, kind ``find``). This module holds
the records a task is made of (:class:`LabelingTask`, :class:`TaskItem`,
:class:`AnswerRecord`, :class:`AnswerEvent`, :class:`Progress`, the finder's
:class:`Proposals` and :class:`FinderPairs`) and the format of the task's JSON file: how a
new file is laid out, how an answer changes it and how it reads back. Where the files live
and who may write them when is :class:`~kedro_scanflow.human.label_store.LabelStore`'s
business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np

from kedro_scanflow.runs.run_directory import new_run_id, utc_now

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

NONE_OF_THESE = "none"
"""The answer to a finder item when no proposal looks like it."""

TASK_FORMAT = "kedro-scanflow/labeling-task"
"""The ``format`` field that marks a JSON file as a labeling task."""
TASK_FORMAT_VERSION = 1
MAX_LISTED = 10
"""How many ids or problems an error message lists before it says "and more"."""

_TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class TaskKind(str, Enum):
    """What the human is asked for in a labeling task."""

    LABEL = "label"
    """Give every item its class (Human Labeler Checker)."""
    FIND = "find"
    """Pick, among every item's proposals, the most similar one (Human Finder Checker)."""


class ItemStatus(str, Enum):
    """Where an item of a labeling task is."""

    PENDING = "pending"
    ANSWERED = "answered"
    SKIPPED = "skipped"
    """The human could not tell; it takes ``undo`` or ``overwrite=True`` to answer it."""


@dataclass(frozen=True)
class AnswerRecord:
    """One answer to one item: what was answered, by whom and when.

    ``value`` is a class for label tasks, the reference id of a proposal or
    :data:`NONE_OF_THESE` for finder tasks, and ``None`` when the item was skipped.
    """

    value: Any
    annotator: str
    answered_at: str
    skipped: bool = False

    def to_json(self) -> dict[str, Any]:
        """The record as stored in the task's JSON file."""
        return {
            "value": self.value,
            "annotator": self.annotator,
            "answered_at": self.answered_at,
            "skipped": self.skipped,
        }

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> AnswerRecord:
        """Read a record written by :meth:`to_json`."""
        return cls(
            value=payload["value"],
            annotator=payload["annotator"],
            answered_at=payload["answered_at"],
            skipped=bool(payload.get("skipped", False)),
        )


@dataclass(frozen=True)
class AnswerEvent:
    """One entry of a task's answer history: an item answered, skipped or undone."""

    event: str
    """``answered``, ``skipped`` or ``undone``."""
    item_id: str
    annotator: str
    at: str
    value: Any = None
    replaced: AnswerRecord | None = None
    """The answer this event replaced or undid, if any."""


@dataclass(frozen=True)
class TaskItem:
    """One sample put to the human, with what the model said about it and the answer."""

    item_id: str
    sample_id: int | str
    """Where the sample comes from (e.g. its index in the prediction log)."""
    prediction: int | str | None
    score: float | None
    """How critical the drift detector found the sample."""
    status: ItemStatus
    answer: AnswerRecord | None
    proposal_ids: tuple[int | str, ...] = ()
    """Finder tasks: reference ids of the proposals, nearest first."""


@dataclass(frozen=True)
class Progress:
    """How far the human got through a labeling task."""

    answered: int
    skipped: int
    total: int

    @property
    def pending(self) -> int:
        return self.total - self.answered - self.skipped

    @property
    def fraction(self) -> float:
        """Answered items over all items."""
        return self.answered / self.total if self.total else 1.0

    @property
    def is_complete(self) -> bool:
        return self.pending == 0

    def __str__(self) -> str:
        skipped = f", {self.skipped} skipped" if self.skipped else ""
        return f"{self.answered}/{self.total} answered{skipped}"


@dataclass(frozen=True, eq=False)
class Proposals:
    """The candidate references shown for one item of a finder task, nearest first.

    Raises:
        ValueError: When ids and images do not match one to one, images are not
            ``(k, height, width)``, ids repeat or are neither integers nor strings, or an
            id is ``"none"`` (reserved for "none of these").
    """

    reference_ids: tuple[int | str, ...]
    images: np.ndarray

    def __post_init__(self) -> None:
        ids = tuple(plain_value(reference_id) for reference_id in self.reference_ids)
        for reference_id in ids:
            if not is_identifier(reference_id):
                raise ValueError(
                    f"Reference ids must be integers or strings, got {reference_id!r}."
                )
        if NONE_OF_THESE in ids:
            raise ValueError(f"'{NONE_OF_THESE}' is reserved for 'none of these' answers.")
        if len(set(ids)) != len(ids):
            raise ValueError(f"Reference ids of one item must be unique, got {list(ids)}.")
        images = np.asarray(self.images)
        if images.ndim != 3 or len(images) != len(ids):
            raise ValueError(
                f"Proposals need one image (height, width) per reference id: {len(ids)} ids "
                f"but images shaped {images.shape}."
            )
        object.__setattr__(self, "reference_ids", ids)
        object.__setattr__(self, "images", images)

    def __len__(self) -> int:
        return len(self.reference_ids)


@dataclass(frozen=True, eq=False)
class FinderPairs:
    """What a finder task yields: each critical item with the reference the human chose.

    These are the (corrupted, clean) pairs a denoising autoencoder learns from.
    """

    item_ids: tuple[str, ...]
    sample_ids: tuple[int | str, ...]
    reference_ids: tuple[int | str, ...]
    critical_images: np.ndarray
    reference_images: np.ndarray

    def __len__(self) -> int:
        return len(self.item_ids)


@dataclass(frozen=True)
class LabelingTask:
    """A snapshot of one labeling task: what is asked, about which items, and the answers."""

    name: str
    kind: TaskKind
    classes: tuple[int | str, ...]
    created_at: str
    image_shape: tuple[int, int]
    items: tuple[TaskItem, ...]
    metadata: dict[str, Any] = field(default_factory=dict)

    def item(self, item_id: str) -> TaskItem:
        """The item ``item_id``.

        Raises:
            ValueError: When the task has no such item; the message shows some that exist.
        """
        for item in self.items:
            if item.item_id == item_id:
                return item
        known = ", ".join(repr(item.item_id) for item in self.items[:MAX_LISTED])
        more = ", ..." if len(self.items) > MAX_LISTED else ""
        raise ValueError(
            f"Labeling task '{self.name}' has no item {item_id!r} (items: {known}{more})."
        )

    @property
    def pending(self) -> list[str]:
        """Ids of the items still waiting for an answer, in task order."""
        return [item.item_id for item in self.items if item.status is ItemStatus.PENDING]

    @property
    def progress(self) -> Progress:
        statuses = [item.status for item in self.items]
        return Progress(
            answered=statuses.count(ItemStatus.ANSWERED),
            skipped=statuses.count(ItemStatus.SKIPPED),
            total=len(statuses),
        )

    def options(self, item_id: str) -> tuple[int | str, ...]:
        """The answers item ``item_id`` accepts: the classes, or its proposals and "none"."""
        if self.kind is TaskKind.LABEL:
            return self.classes
        return (*self.item(item_id).proposal_ids, NONE_OF_THESE)

    def resolve_answer(self, item_id: str, value: Any) -> int | str:
        """The option of item ``item_id`` that ``value`` designates.

        NumPy scalars count as the Python value they hold; ``3`` and ``"3"`` differ.

        Raises:
            ValueError: When there is no such item or ``value`` is not one of its options.
        """
        plain = plain_value(value)
        options = self.options(item_id)
        for option in options:
            if type(option) is type(plain) and option == plain:
                return option
        listed = ", ".join(repr(option) for option in options)
        if self.kind is TaskKind.LABEL:
            raise ValueError(
                f"{value!r} is not a class of labeling task '{self.name}' (classes: {listed})."
            )
        raise ValueError(
            f"{value!r} is not a proposal of item {item_id!r} in labeling task "
            f"'{self.name}' (choose one of: {listed})."
        )

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> LabelingTask:
        """Read the content of a task's JSON file."""
        items = tuple(
            TaskItem(
                item_id=entry["item_id"],
                sample_id=entry["sample_id"],
                prediction=entry.get("prediction"),
                score=entry.get("score"),
                status=ItemStatus(entry["status"]),
                answer=AnswerRecord.from_json(entry["answer"]) if entry.get("answer") else None,
                proposal_ids=tuple(entry.get("proposals", ())),
            )
            for entry in payload["items"]
        )
        height, width = payload["image_shape"]
        return cls(
            name=payload["name"],
            kind=TaskKind(payload["kind"]),
            classes=tuple(payload["classes"]),
            created_at=payload["created_at"],
            image_shape=(height, width),
            items=items,
            metadata=dict(payload.get("metadata", {})),
        )


def new_task_name(purpose: str) -> str:
    """A sortable, unique task name such as ``20261122-101530-3fa9-critical``.

    Args:
        purpose: What the task is for, appended to the timestamp (``critical``, ``finder``).
    """
    return f"{new_run_id()}-{purpose}"


def is_task_name(name: str) -> bool:
    """Whether ``name`` can name a task: letters, digits, ``.``, ``_``, ``-``, no leading dot.

    Args:
        name: The candidate name, e.g. the stem of a file found in the store.

    Returns:
        ``True`` when ``name`` is safe as the stem of the task's files.
    """
    return bool(_TASK_NAME.match(name))


def plain_value(value: Any) -> Any:
    """The Python value a NumPy scalar holds; anything else unchanged.

    Args:
        value: A class, id or answer as the caller gave it.

    Returns:
        ``value`` as it is compared with, and stored in, the task's JSON file.
    """
    return value.item() if isinstance(value, np.generic) else value


def is_identifier(value: Any) -> bool:
    """Whether ``value`` may be a class, sample id or reference id: an integer or a string.

    Args:
        value: A plain value (see :func:`plain_value`); booleans are not integers here.
    """
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def is_task_json(payload: Any) -> bool:
    """Whether ``payload``, read from a JSON file, is a labeling task.

    Args:
        payload: The decoded content of the file.
    """
    return isinstance(payload, dict) and payload.get("format") == TASK_FORMAT


def new_task_json(
    *,
    name: str,
    kind: TaskKind,
    classes: Sequence[int | str],
    image_shape: Sequence[int],
    images_file: str,
    metadata: dict[str, Any],
    sample_ids: Sequence[int | str],
    predictions: Sequence[int | str | None],
    scores: Sequence[float | None],
    proposal_ids: Sequence[Sequence[int | str]],
) -> dict[str, Any]:
    """The JSON content of a new task, every item pending and the history empty.

    The arguments must have been checked (see :mod:`kedro_scanflow.human.labeling_inputs`).

    Args:
        name: The task's name.
        kind: What the human is asked for.
        classes: The classes a label task offers.
        image_shape: ``(height, width)`` of the items.
        images_file: Name of the ``.npz`` file beside the JSON file holding the images.
        metadata: JSON-serialisable facts about the task.
        sample_ids: Where every item comes from; item ids are their string form.
        predictions: The model's class for every item, or ``None``.
        scores: How critical every item is, or ``None``.
        proposal_ids: Finder tasks: every item's proposal reference ids, nearest first.

    Returns:
        The content to write to the task's JSON file.
    """
    items = []
    for position, sample_id in enumerate(sample_ids):
        entry: dict[str, Any] = {
            "item_id": str(sample_id),
            "sample_id": sample_id,
            "prediction": predictions[position],
            "score": scores[position],
            "status": ItemStatus.PENDING.value,
            "answer": None,
        }
        if kind is TaskKind.FIND:
            entry["proposals"] = list(proposal_ids[position])
        items.append(entry)
    return {
        "format": TASK_FORMAT,
        "format_version": TASK_FORMAT_VERSION,
        "name": name,
        "kind": kind.value,
        "classes": list(classes),
        "created_at": utc_now(),
        "image_shape": list(image_shape),
        "images_file": images_file,
        "metadata": metadata,
        "items": items,
        "history": [],
    }


def record_change(
    payload: dict[str, Any],
    item_id: str,
    status: ItemStatus,
    record: AnswerRecord | None,
    event: str,
    annotator: str,
) -> None:
    """Set an item's status and answer in a task's JSON content, and append it to the history.

    Args:
        payload: The task's JSON content, changed in place.
        item_id: The item answered, skipped or undone; it must exist.
        status: The item's new status.
        record: The item's new answer, or ``None`` when it is undone.
        event: ``answered``, ``skipped`` or ``undone``.
        annotator: Who made the change.
    """
    entry = next(entry for entry in payload["items"] if entry["item_id"] == item_id)
    replaced = entry.get("answer")
    entry["status"] = status.value
    entry["answer"] = record.to_json() if record else None
    payload["history"].append(
        {
            "event": event,
            "item_id": item_id,
            "annotator": annotator,
            "at": record.answered_at if record else utc_now(),
            "value": record.value if record else None,
            "replaced": replaced,
        }
    )


def history_from_json(payload: Mapping[str, Any]) -> list[AnswerEvent]:
    """Read the answer history of a task's JSON content.

    Args:
        payload: The task's JSON content.

    Returns:
        Every answer, skip and undo recorded, oldest first.
    """
    return [
        AnswerEvent(
            event=entry["event"],
            item_id=entry["item_id"],
            annotator=entry["annotator"],
            at=entry["at"],
            value=entry.get("value"),
            replaced=AnswerRecord.from_json(entry["replaced"]) if entry.get("replaced") else None,
        )
        for entry in payload["history"]
    ]
