"""Human in the loop: labeling tasks for the Human Labeler and Human Finder checkers.

A :class:`LabelStore` keeps the questions put to a human (label these critical samples;
pick the clean training sample most like each of them) and the answers, safe for several
writers at once. Answers come from the local labeling page, from Label Studio
(:func:`export_label_studio` / :func:`import_label_studio`) or, in experiments and tests,
from a :class:`SimulatedOracle`. :func:`propose_references` finds the candidates a finder
task shows.
"""

from __future__ import annotations

from kedro_scanflow.human.label_store import LabelStore
from kedro_scanflow.human.label_studio import (
    LabelStudioExport,
    LabelStudioImport,
    LabelStudioImportError,
    export_label_studio,
    import_label_studio,
    label_studio_config,
    label_studio_tasks,
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
    TaskItem,
    TaskKind,
    new_task_name,
)
from kedro_scanflow.human.neighbour_finder import propose_neighbours, propose_references
from kedro_scanflow.human.simulated_oracle import OracleReport, SimulatedOracle

__all__ = [
    "NONE_OF_THESE",
    "AnswerEvent",
    "AnswerRecord",
    "FinderPairs",
    "ItemStatus",
    "LabelStore",
    "LabelStudioExport",
    "LabelStudioImport",
    "LabelStudioImportError",
    "LabelingTask",
    "OracleReport",
    "Progress",
    "Proposals",
    "SimulatedOracle",
    "TaskItem",
    "TaskKind",
    "export_label_studio",
    "import_label_studio",
    "label_studio_config",
    "label_studio_tasks",
    "new_task_name",
    "propose_neighbours",
    "propose_references",
]
