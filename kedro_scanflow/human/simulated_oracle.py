"""``SimulatedOracle``: a stand-in for the human of the human checkers, answering from ground truth.

The paper's experiments (DDC+HLC, RND+HLC, MDWI+HFC with label budgets of 10 to 500) need
a human who answers thousands of labeling tasks the same way every time; tests need one
too. The oracle knows the true labels and answers through the same :class:`LabelStore`
API as a person would, with the annotator ``simulated-oracle`` on every answer, so a
simulated answer is never mistaken for a human one. An ``error_rate`` makes it a noisy
human.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from kedro_scanflow.human.labeling_task import NONE_OF_THESE, TaskKind
from kedro_scanflow.io.image_set import ImageSet

if TYPE_CHECKING:
    from kedro_scanflow.human.label_store import LabelStore
    from kedro_scanflow.human.labeling_task import LabelingTask, Proposals, TaskItem

GroundTruth = Mapping[Any, Any] | Sequence[Any] | np.ndarray
"""True values by sample id: a mapping, or an array indexed by integer sample ids."""


@dataclass(frozen=True)
class OracleReport:
    """What the oracle did to one labeling task."""

    task: str
    answered: int
    wrong: int
    """Answers made wrong on purpose to honour ``error_rate``."""


class SimulatedOracle:
    """Answers the pending items of labeling tasks from ground truth.

    Label tasks get every item's true label. Finder tasks get, for every item, the
    proposal that is its known clean counterpart when it is among the proposals; else,
    among the proposals with the item's true label, the one closest to the item in pixel
    space; else "none of these".

    Example::

        oracle = SimulatedOracle(test_set.labels, error_rate=0.05, seed=7)
        oracle.answer_pending(store, task_name)  # OracleReport(answered=50, wrong=2, ...)
    """

    annotator = "simulated-oracle"

    def __init__(
        self,
        true_labels: GroundTruth,
        *,
        reference_labels: GroundTruth | None = None,
        clean_counterparts: Mapping[Any, Any] | None = None,
        error_rate: float = 0.0,
        seed: int | None = None,
    ):
        """Create an oracle.

        Args:
            true_labels: The true label of every item, by sample id (or item id).
            reference_labels: Finder tasks: the label of every reference, by reference id.
            clean_counterparts: Finder tasks: the reference id each item was made from
                (e.g. the clean image a corruption was applied to), by sample id.
            error_rate: Probability of answering a wrong option instead, in ``[0, 1]``.
            seed: Seed of the random choice of wrong answers.

        Raises:
            ValueError: When ``error_rate`` is not a probability.
        """
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"error_rate must be between 0 and 1, got {error_rate!r}.")
        self.true_labels = true_labels
        self.reference_labels = reference_labels
        self.clean_counterparts = clean_counterparts
        self.error_rate = error_rate
        self.seed = seed

    def answer_pending(self, store: LabelStore, name: str) -> OracleReport:
        """Answer every pending item of task ``name`` in one atomic write.

        Returns:
            How many items were answered, and how many of them wrongly on purpose.

        Raises:
            ValueError: When the ground truth misses an item (or, for finder tasks, a
                proposed reference); nothing is written then.
        """
        task = store.task(name)
        items = [task.item(item_id) for item_id in task.pending]
        if task.kind is TaskKind.LABEL:
            correct = self._true_values(self.true_labels, items, "true_labels")
        else:
            correct = self._finder_choices(store, task, items)

        rng = np.random.default_rng(self.seed)
        answers: dict[str, Any] = {}
        wrong = 0
        for item in items:
            value = correct[item.item_id]
            if rng.random() < self.error_rate:
                others = [option for option in task.options(item.item_id) if option != value]
                if others:
                    value = others[rng.integers(len(others))]
                    wrong += 1
            answers[item.item_id] = value
        answered = store.answer_many(name, answers, annotator=self.annotator)
        return OracleReport(task=name, answered=answered, wrong=wrong)

    def _finder_choices(
        self, store: LabelStore, task: LabelingTask, items: list[TaskItem]
    ) -> dict[str, Any]:
        proposals = store.proposals(task.name)
        critical = dict(
            zip((item.item_id for item in task.items), store.item_images(task.name), strict=True)
        )
        counterparts = self.clean_counterparts or {}
        labels = (
            self._true_values(self.true_labels, items, "true_labels")
            if self.reference_labels is not None
            else {}
        )
        choices = {}
        for item in items:
            counterpart = _scalar(counterparts.get(item.sample_id, counterparts.get(item.item_id)))
            if counterpart is not None and counterpart in item.proposal_ids:
                choices[item.item_id] = counterpart
            elif self.reference_labels is None:
                choices[item.item_id] = NONE_OF_THESE
            else:
                choices[item.item_id] = self._closest_with_label(
                    critical[item.item_id], proposals[item.item_id], labels[item.item_id]
                )
        return choices

    def _closest_with_label(self, image: np.ndarray, proposals: Proposals, label: Any) -> Any:
        reference_labels = [
            _look_up(self.reference_labels, reference_id, str(reference_id))
            for reference_id in proposals.reference_ids
        ]
        missing = [
            reference_id
            for reference_id, found in zip(proposals.reference_ids, reference_labels, strict=True)
            if found is _MISSING
        ]
        if missing:
            raise ValueError(f"reference_labels has no label for reference id(s) {missing[:10]}.")
        matching = [position for position, found in enumerate(reference_labels) if found == label]
        if not matching:
            return NONE_OF_THESE
        # Items and proposals may be stored differently (float in [0, 1], uint8): compare grey levels.
        item = ImageSet(image[None]).as_float()[0]
        candidates = ImageSet(proposals.images[matching]).as_float()
        distances = ((candidates - item) ** 2).sum(axis=(1, 2))
        return proposals.reference_ids[matching[int(np.argmin(distances))]]

    @staticmethod
    def _true_values(truth: GroundTruth, items: list[TaskItem], what: str) -> dict[str, Any]:
        values = {item.item_id: _look_up(truth, item.sample_id, item.item_id) for item in items}
        missing = [item_id for item_id, value in values.items() if value is _MISSING]
        if missing:
            raise ValueError(
                f"{what} has no value for item(s) {missing[:10]}; nothing was answered."
            )
        return values


_MISSING = object()


def _look_up(truth: GroundTruth | None, key: Any, fallback_key: str) -> Any:
    """``truth[key]`` (or ``truth[fallback_key]`` for mappings), else ``_MISSING``."""
    if isinstance(truth, Mapping):
        for candidate in (key, fallback_key):
            if candidate in truth:
                return _scalar(truth[candidate])
        return _MISSING
    if truth is not None and isinstance(key, int) and 0 <= key < len(truth):
        return _scalar(truth[key])
    return _MISSING


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
