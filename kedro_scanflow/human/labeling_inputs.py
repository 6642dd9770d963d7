"""Checks on what callers give a label store, so that a bad task or answer writes nothing.

:meth:`~kedro_scanflow.human.label_store.LabelStore.create_task` checks every argument with
the ``checked_*`` functions before it writes a file; the answering methods check that an
item may be answered with :func:`require_answerable` and gather every problem of a batch
with :func:`problem_list`. Each error names what the caller got wrong.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from kedro_scanflow.human.labeling_task import (
    MAX_LISTED,
    ItemStatus,
    Proposals,
    TaskKind,
    is_identifier,
    is_task_name,
    plain_value,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from kedro_scanflow.human.labeling_task import LabelingTask, TaskItem


def checked_task_name(name: str) -> str:
    """The task name ``name``, once it is known to be safe as a file name.

    Args:
        name: The name a caller gave a task.

    Returns:
        ``name`` unchanged.

    Raises:
        ValueError: When ``name`` is not a string of letters, digits, ``.``, ``_`` and ``-``
            starting with a letter or digit.
    """
    if not isinstance(name, str) or not is_task_name(name):
        raise ValueError(
            f"{name!r} is not a valid labeling task name: use letters, digits, '.', '_' "
            "and '-', starting with a letter or digit (e.g. new_task_name('critical'))."
        )
    return name


def checked_images(images: Any, what: str) -> np.ndarray:
    """The images to show the human, as a ``(n, height, width)`` array.

    Args:
        images: Grayscale images, ``(n, height, width)`` or ``(n, height, width, 1)``.
        what: What the images are, for the error messages (``images``, ``proposal images``).

    Returns:
        The images, with a trailing channel axis of 1 dropped.

    Raises:
        ValueError: When the images are not ``(n, height, width)``, are empty, are not real
            numbers or hold NaN or infinite values.
    """
    array = np.asarray(images)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise ValueError(
            f"Labeling task {what} must be grayscale images shaped (n, height, width), "
            f"got shape {array.shape}."
        )
    if len(array) == 0:
        raise ValueError(f"Labeling task {what} are empty: there is nothing to ask.")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"Labeling task {what} must be real numbers, got dtype {array.dtype}.")
    if np.issubdtype(array.dtype, np.floating):
        bad = np.flatnonzero(~np.isfinite(array).all(axis=(1, 2)))
        if len(bad):
            raise ValueError(
                f"Labeling task {what} contain NaN or infinite values "
                f"(image(s) at position {bad[:MAX_LISTED].tolist()})."
            )
    return array


def checked_classes(classes: Sequence[int | str] | None, kind: TaskKind) -> tuple[int | str, ...]:
    """The classes a task offers, as plain Python values.

    Args:
        classes: The classes the caller gave, or ``None``.
        kind: The task's kind: label tasks need classes, finder tasks may go without.

    Returns:
        The classes, NumPy scalars turned into the Python values they hold.

    Raises:
        ValueError: When a label task has no classes, or the classes are not all integers
            or all strings, or repeat.
    """
    if classes is None:
        if kind is TaskKind.LABEL:
            raise ValueError("A label task needs its classes, e.g. classes=range(10).")
        return ()
    values = tuple(plain_value(value) for value in classes)
    if kind is TaskKind.LABEL and not values:
        raise ValueError("A label task needs at least one class.")
    for value in values:
        if not is_identifier(value):
            raise ValueError(f"Classes must be integers or strings, got {value!r}.")
    if len({type(value) for value in values}) > 1:
        raise ValueError(f"Classes must be all integers or all strings, got {list(values)}.")
    if len(set(values)) != len(values):
        repeated = sorted({value for value in values if values.count(value) > 1}, key=str)
        raise ValueError(f"Classes must be unique; repeated: {repeated}.")
    return values


def checked_sample_ids(sample_ids: Any, count: int) -> list[int | str]:
    """Where every item comes from.

    Args:
        sample_ids: One integer or string per item, or ``None``.
        count: How many items the task has.

    Returns:
        The sample ids as plain Python values; ``0 .. count-1`` when none are given.

    Raises:
        ValueError: When there is not one id per item, an id is neither an integer nor a
            string, or two ids have the same string form (the item id).
    """
    if sample_ids is None:
        return list(range(count))
    ids = [plain_value(value) for value in sample_ids]
    if len(ids) != count:
        raise ValueError(f"{count} images but {len(ids)} sample ids.")
    for value in ids:
        if not is_identifier(value):
            raise ValueError(f"Sample ids must be integers or strings, got {value!r}.")
    item_ids = [str(value) for value in ids]
    if len(set(item_ids)) != count:
        repeated = sorted({value for value in item_ids if item_ids.count(value) > 1})
        raise ValueError(f"Sample ids must be unique; repeated: {repeated[:MAX_LISTED]}.")
    return ids


def checked_predictions(
    predictions: Any, count: int, classes: tuple[int | str, ...]
) -> list[int | str | None]:
    """The model's class for every item, shown to the human as a hint.

    Args:
        predictions: One class per item, or ``None``.
        count: How many items the task has.
        classes: The task's checked classes.

    Returns:
        The predictions as plain Python values; ``None`` for every item when none are given.

    Raises:
        ValueError: When there is not one prediction per item or one is not a class.
    """
    if predictions is None:
        return [None] * count
    values = [plain_value(value) for value in predictions]
    if len(values) != count:
        raise ValueError(f"{count} images but {len(values)} predictions.")
    for position, value in enumerate(values):
        if not any(type(value) is type(option) and value == option for option in classes):
            raise ValueError(
                f"Prediction {value!r} at position {position} is not one of the classes "
                f"{list(classes)}."
            )
    return values


def checked_scores(scores: Any, count: int) -> list[float | None]:
    """How critical every item is (the drift detector's score).

    Args:
        scores: One number per item, or ``None``.
        count: How many items the task has.

    Returns:
        The scores as floats; ``None`` for every item when none are given.

    Raises:
        ValueError: When the scores are not numbers, not one per item, or not finite.
    """
    if scores is None:
        return [None] * count
    try:
        values = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"Scores must be numbers: {error}.") from error
    if values.shape != (count,):
        raise ValueError(f"{count} images but scores shaped {values.shape}.")
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise ValueError(f"Scores must be finite; not at position {bad[:MAX_LISTED].tolist()}.")
    return [float(value) for value in values]


def checked_proposals(
    proposals: Any, count: int, image_shape: tuple[int, ...], kind: TaskKind
) -> list[Proposals]:
    """The candidate references a finder task shows for every item.

    Args:
        proposals: For every item, :class:`Proposals` or ``(reference_ids, images)``;
            ``None`` for label tasks.
        count: How many items the task has.
        image_shape: ``(height, width)`` of the items, which the proposals must share.
        kind: The task's kind: only finder tasks have proposals.

    Returns:
        Every item's proposals; an empty list for label tasks.

    Raises:
        ValueError: When a label task gets proposals or a finder task none, there are not
            proposals for every item, an item has none, or their images do not fit.
    """
    if kind is TaskKind.LABEL:
        if proposals is not None:
            raise ValueError("Proposals belong to finder tasks (kind='find'), not label tasks.")
        return []
    if proposals is None:
        raise ValueError("A finder task needs proposals: candidate references for every item.")
    checked = [p if isinstance(p, Proposals) else Proposals(*p) for p in proposals]
    if len(checked) != count:
        raise ValueError(f"{count} images but proposals for {len(checked)} items.")
    for position, item_proposals in enumerate(checked):
        if len(item_proposals) == 0:
            raise ValueError(f"Item at position {position} has no proposals.")
        if item_proposals.images.shape[1:] != tuple(image_shape):
            raise ValueError(
                f"Proposal images of the item at position {position} are "
                f"{item_proposals.images.shape[1:]}, not {tuple(image_shape)} like the items."
            )
        checked_images(item_proposals.images, f"proposal images (item at position {position})")
    return checked


def checked_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """Facts about a task, as they will read back from its JSON file.

    Args:
        metadata: JSON-serialisable facts (run id, model version...), or ``None``.

    Returns:
        A copy of the metadata as JSON gives it back; empty when none is given.

    Raises:
        ValueError: When the metadata is not JSON-serialisable (NaN and infinities included).
    """
    if metadata is None:
        return {}
    try:
        return json.loads(json.dumps(dict(metadata), allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ValueError(f"Labeling task metadata must be JSON-serialisable: {error}.") from error


def require_answerable(task: LabelingTask, item: TaskItem, overwrite: bool) -> None:
    """Make sure an answer or skip may be recorded for ``item``.

    Args:
        task: The task the item belongs to.
        item: The item about to be answered or skipped.
        overwrite: Whether the caller means to replace an existing answer or skip.

    Raises:
        ValueError: When the item is answered or skipped already and ``overwrite`` is
            false; the message says who answered what, and when.
    """
    if item.status is ItemStatus.PENDING or overwrite:
        return
    answer = item.answer
    if answer is None:
        done = item.status.value
    elif item.status is ItemStatus.SKIPPED:
        done = f"skipped by {answer.annotator} at {answer.answered_at}"
    else:
        done = f"answered {answer.value!r} by {answer.annotator} at {answer.answered_at}"
    raise ValueError(
        f"Item {item.item_id!r} of labeling task '{task.name}' is not pending ({done}); "
        "pass overwrite=True to replace the answer, or undo it first."
    )


def problem_list(headline: str, problems: Sequence[str]) -> str:
    """One error message for every problem found in a batch of answers.

    Args:
        headline: What went wrong as a whole, e.g. "No answer was recorded in 'task'".
        problems: One message per problem.

    Returns:
        The headline and the first problems as a bulleted list, with how many more there are.
    """
    lines = [f"  - {problem}" for problem in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        lines.append(f"  ... and {len(problems) - MAX_LISTED} more")
    return f"{headline}:\n" + "\n".join(lines)
