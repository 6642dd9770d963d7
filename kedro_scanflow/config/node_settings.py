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

    from kedro_scanflow.config.kubernetes_config import Toleration
    from kedro_scanflow.config.scanflow_config import NodeSettings
    from kedro_scanflow.pipeline.task_plan import Task


@dataclass(frozen=True)
class TaskSettings:
    """The settings one task runs with, after defaults and every matching entry."""

    resources: ResourceOptions = ResourceOptions()
    image: str | None = None
    requirements: tuple[str, ...] = field(default_factory=tuple)
    node_selector: dict[str, str] = field(default_factory=dict)
    """Kubernetes: labels of the cluster nodes the task may run on."""
    tolerations: tuple[Toleration, ...] = field(default_factory=tuple)
    retries: int | None = None
    """Kubernetes: pod retries (``backoffLimit``); ``None`` for the backend's default."""
    timeout: float | None = None
    """Kubernetes: seconds before the task is stopped (``activeDeadlineSeconds``)."""


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
    node_selector: dict[str, str] = {}
    tolerations: list[Toleration] = []
    retries: int | None = None
    timeout: float | None = None
    for entry in entries:
        if not selects(entry.select, task):
            continue
        if entry.resources is not None:
            resources.update(entry.resources.model_dump(exclude_unset=True))
        image = entry.image or image
        requirements.extend(r for r in entry.requirements if r not in requirements)
        node_selector.update(entry.node_selector)
        tolerations.extend(t for t in entry.tolerations if t not in tolerations)
        retries = entry.retries if entry.retries is not None else retries
        timeout = entry.timeout if entry.timeout is not None else timeout
    return TaskSettings(
        resources=ResourceOptions.model_validate(resources),
        image=image,
        requirements=tuple(requirements),
        node_selector=node_selector,
        tolerations=tuple(tolerations),
        retries=retries,
        timeout=timeout,
    )
