"""Which ``nodes:`` entries of ``scanflow.yml`` apply to a task, merged into one setting.

Every container backend (Docker, the compose export, Kubernetes) asks the same question
("what resources, image and extra requirements does this task get?") and gets the same
answer from :func:`settings_for`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kedro_scanflow.config.scanflow_config import NodeSelector, ResourceOptions

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kedro_scanflow.config.scanflow_config import NodeSettings
    from kedro_scanflow.pipeline.task_plan import Task


@dataclass(frozen=True)
class TaskSettings:
    """The settings one task runs with, after defaults and every matching entry."""

    resources: ResourceOptions = ResourceOptions()
    image: str | None = None
    requirements: tuple[str, ...] = field(default_factory=tuple)


def selects(selector: NodeSelector, task: Task) -> bool:
    """Whether ``selector`` picks ``task``: one of its nodes by name, one of its tags, or
    its namespace (or a parent namespace)."""
    if set(selector.nodes) & set(task.nodes):
        return True
    if set(selector.tags) & task.tags:
        return True
    namespaces = {task.namespace} | {name.rsplit(".", 1)[0] for name in task.nodes if "." in name}
    return any(
        namespace == wanted or namespace.startswith(f"{wanted}.")
        for namespace in filter(None, namespaces)
        for wanted in selector.namespaces
    )


def settings_for(
    task: Task, entries: Sequence[NodeSettings], defaults: ResourceOptions | None = None
) -> TaskSettings:
    """Merge ``defaults`` and the entries that select ``task``, later entries winning
    field by field."""
    resources = (defaults or ResourceOptions()).model_dump(exclude_unset=False)
    image = None
    requirements: list[str] = []
    for entry in entries:
        if not selects(entry.select, task):
            continue
        if entry.resources is not None:
            resources.update(entry.resources.model_dump(exclude_unset=True))
        image = entry.image or image
        requirements.extend(r for r in entry.requirements if r not in requirements)
    return TaskSettings(
        resources=ResourceOptions.model_validate(resources),
        image=image,
        requirements=tuple(requirements),
    )
