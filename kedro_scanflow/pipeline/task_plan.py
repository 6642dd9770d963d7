"""``TaskPlan``: a Kedro pipeline cut into Scanflow task nodes.

A task is the unit a backend starts: one process, container or pod. By default every
Kedro node is its own task; grouping by namespace puts a namespace's nodes in one task.
The plan knows which tasks depend on which, and which in-memory datasets cross a task
boundary and therefore have to travel over the shared volume. Every backend runs the
same plan; only how a task is started and watched differs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

GroupBy = Literal["none", "namespace"]

_SLUG_LENGTH = 48


class TaskPlanError(ValueError):
    """The pipeline cannot be cut into runnable tasks."""


def is_parameter(dataset: str) -> bool:
    """Whether ``dataset`` is a Kedro parameter input (``parameters`` or ``params:...``)."""
    return dataset == "parameters" or dataset.startswith("params:")


@dataclass(frozen=True)
class Task:
    """One Scanflow task node: Kedro nodes that run together in one process or container.

    Attributes:
        name: Human-readable name: the node name, or the namespace of a group.
        slug: A name safe for files, containers, Kubernetes objects and MLflow keys.
        nodes: Names of the Kedro nodes, in topological order.
        dependencies: Slugs of the tasks that must finish first.
        inputs: Datasets the task reads from outside itself (parameters excluded).
        outputs: Datasets the task writes that leave it or end the pipeline.
        tags: Union of the nodes' tags.
        namespace: The group's namespace, or the node's namespace.
    """

    name: str
    slug: str
    nodes: tuple[str, ...]
    dependencies: frozenset[str]
    inputs: frozenset[str]
    outputs: frozenset[str]
    tags: frozenset[str] = frozenset()
    namespace: str | None = None


@dataclass
class TaskPlan:
    """The tasks of a pipeline, in topological order, and the shared-volume datasets.

    Attributes:
        tasks: Tasks by slug, in an order where dependencies come first.
        shared_datasets: In-memory datasets written by one task and read by another (or
            ending the pipeline), mapped to their file name on the shared volume.
        free_inputs: Datasets the pipeline reads but no task writes (parameters excluded).
        parameters: Parameter inputs of the nodes (``params:x``, ``parameters``).
    """

    tasks: dict[str, Task]
    shared_datasets: dict[str, str]
    free_inputs: frozenset[str] = field(default_factory=frozenset)
    parameters: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_pipeline(
        cls,
        pipeline: Pipeline,
        catalog: CatalogProtocol,
        group_by: GroupBy = "none",
    ) -> TaskPlan:
        """Cut ``pipeline`` into tasks.

        Args:
            pipeline: The (already filtered) pipeline to run.
            catalog: The project catalog, used to tell in-memory datasets from persisted ones.
            group_by: ``"none"`` for one task per node, ``"namespace"`` for one per
                top-level namespace.

        Raises:
            TaskPlanError: When the pipeline is empty or grouping creates a cycle.
        """
        if not pipeline.nodes:
            raise TaskPlanError(
                "The selected pipeline has no nodes; check --pipeline, --nodes, --tags, "
                "--namespaces, --from-nodes and --to-nodes."
            )
        nodes_by_name = {node.name: node for node in pipeline.nodes}
        groups = pipeline.group_nodes_by(None if group_by == "none" else group_by)
        slugs = unique_slugs([group.name for group in groups])
        slug_of_node = {node: slugs[group.name] for group in groups for node in group.nodes}
        order = {node.name: index for index, node in enumerate(pipeline.nodes)}

        producer: dict[str, str] = {}
        for node in pipeline.nodes:
            for output in node.outputs:
                producer[output] = slug_of_node[node.name]

        tasks: dict[str, Task] = {}
        consumers: dict[str, set[str]] = {}
        for group in groups:
            slug = slugs[group.name]
            members = sorted(group.nodes, key=order.__getitem__)
            nodes = [nodes_by_name[name] for name in members]
            written = {output for node in nodes for output in node.outputs}
            read = {
                dataset
                for node in nodes
                for dataset in node.inputs
                if not is_parameter(dataset) and dataset not in written
            }
            for dataset in read:
                consumers.setdefault(dataset, set()).add(slug)
            dependencies = {producer[d] for d in read if d in producer} - {slug}
            namespaces = {node.namespace for node in nodes}
            tasks[slug] = Task(
                name=group.name,
                slug=slug,
                nodes=tuple(members),
                dependencies=frozenset(dependencies),
                inputs=frozenset(read),
                outputs=frozenset(written),
                tags=frozenset(tag for node in nodes for tag in node.tags),
                namespace=namespaces.pop() if len(namespaces) == 1 else None,
            )

        pipeline_outputs = pipeline.outputs()
        for slug, task in list(tasks.items()):
            leaving = {
                d for d in task.outputs if consumers.get(d, set()) - {slug} or d in pipeline_outputs
            }
            tasks[slug] = _replace_outputs(task, leaving)

        ordered = _topological(tasks)
        shared = volume_file_names(
            dataset
            for task in ordered.values()
            for dataset in sorted(task.outputs)
            if is_ephemeral(catalog, dataset)
        )
        free_inputs = frozenset(
            d for d in pipeline.inputs() if not is_parameter(d) and d not in producer
        )
        parameters = frozenset(d for node in pipeline.nodes for d in node.inputs if is_parameter(d))
        return cls(
            tasks=ordered, shared_datasets=shared, free_inputs=free_inputs, parameters=parameters
        )

    def ready(self, done: Iterable[str], started: Iterable[str]) -> list[Task]:
        """Tasks whose dependencies are all done and that have not been started."""
        done_set, started_set = set(done), set(started)
        return [
            task
            for slug, task in self.tasks.items()
            if slug not in started_set and task.dependencies <= done_set
        ]

    def downstream(self, slug: str) -> set[str]:
        """Slugs of every task that depends, directly or not, on task ``slug``."""
        found: set[str] = set()
        frontier = {slug}
        while frontier:
            frontier = {
                other
                for other, task in self.tasks.items()
                if task.dependencies & frontier and other not in found
            }
            found |= frontier
        return found

    def task_of_node(self, node_name: str) -> Task:
        """The task that runs Kedro node ``node_name``."""
        for task in self.tasks.values():
            if node_name in task.nodes:
                return task
        raise KeyError(node_name)


def _replace_outputs(task: Task, outputs: set[str]) -> Task:
    return Task(
        name=task.name,
        slug=task.slug,
        nodes=task.nodes,
        dependencies=task.dependencies,
        inputs=task.inputs,
        outputs=frozenset(outputs),
        tags=task.tags,
        namespace=task.namespace,
    )


_EPHEMERAL_TYPES = frozenset(
    {
        "kedro.io.memory_dataset.MemoryDataset",
        "kedro.io.shared_memory_dataset.SharedMemoryDataset",
    }
)


def is_ephemeral(catalog: CatalogProtocol, dataset: str) -> bool:
    """Whether ``dataset`` lives only in memory (an explicit or implicit ``MemoryDataset``).

    Decided from the catalog's type name, without materialising the dataset, so that
    planning never imports heavy libraries (TensorFlow) just to look at the graph.
    """
    type_name = catalog.get_type(dataset)
    return type_name is None or type_name in _EPHEMERAL_TYPES


def _topological(tasks: dict[str, Task]) -> dict[str, Task]:
    ordered: dict[str, Task] = {}
    remaining = dict(tasks)
    while remaining:
        ready = sorted(s for s, t in remaining.items() if t.dependencies <= ordered.keys())
        if not ready:
            cycle = ", ".join(sorted(remaining))
            raise TaskPlanError(
                f"Grouping the nodes creates a cycle between the tasks {cycle}; "
                "use group_by: none or change the namespaces."
            )
        for slug in ready:
            ordered[slug] = remaining.pop(slug)
    return ordered


def slugify(name: str, length: int = _SLUG_LENGTH) -> str:
    """A lowercase ``[a-z0-9-]`` form of ``name`` that fits Docker, Kubernetes and files.

    ``supervision.request_labels`` becomes ``supervision-request-labels``; a name longer
    than ``length`` is shortened and gets a short hash. Different names can share a slug
    (``a.b`` and ``a_b``): :func:`unique_slugs` tells them apart.
    """
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "task"
    if len(text) <= length:
        return text
    return _with_hash(text, name, length)


def _with_hash(text: str, name: str, length: int = _SLUG_LENGTH) -> str:
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:6]
    return f"{text[: length - 7].rstrip('-')}-{digest}"


def unique_slugs(names: Iterable[str], length: int = _SLUG_LENGTH) -> dict[str, str]:
    """Slugs for ``names``; names whose slugs would collide get a hash each."""
    slugs = {name: slugify(name, length) for name in names}
    counts: dict[str, int] = {}
    for slug in slugs.values():
        counts[slug] = counts.get(slug, 0) + 1
    return {
        name: _with_hash(slug, name, length) if counts[slug] > 1 else slug
        for name, slug in slugs.items()
    }


def volume_file_names(datasets: Iterable[str]) -> dict[str, str]:
    """The files that hold in-memory datasets on the shared volume, one per dataset."""
    return {name: f"{slug}.pkl" for name, slug in unique_slugs(datasets, length=96).items()}
