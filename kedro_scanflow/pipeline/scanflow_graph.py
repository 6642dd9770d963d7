"""``ScanflowGraph``: the Scanflow multigraph of a pipeline.

Task nodes are joined by two kinds of edges, as in the Scanflow paper: *volume* edges
carry data (a catalog dataset written by one task and read by another, either persisted
by its catalog entry or put on the run's shared volume by the runner) and *tracker*
edges carry metadata (every task logs to the MLflow tracker node). Special nodes
(checkers, improvers, planners) are task nodes whose kind comes from their
``scanflow.<kind>`` tag.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol

    from kedro_scanflow.pipeline.task_plan import TaskPlan

TRACKER_ID = "tracker"
SPECIAL_KINDS = ("tracker", "checker", "improver", "planner")


def node_kind(tags: frozenset[str] | set[str]) -> str:
    """``task``, or the special kind named by a ``scanflow.<kind>`` tag."""
    for kind in SPECIAL_KINDS:
        if f"scanflow.{kind}" in tags:
            return kind
    return "task"


@dataclass(frozen=True)
class GraphNode:
    """A task node of the multigraph (or the tracker node)."""

    id: str
    name: str
    kind: str
    kedro_nodes: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    namespace: str | None = None
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GraphEdge:
    """A labelled edge: ``volume`` (a dataset) or ``tracker`` (metadata)."""

    source: str
    target: str
    kind: str
    dataset: str | None = None
    dataset_type: str | None = None
    persisted_by: str | None = None
    """``catalog`` (the dataset's own entry) or ``shared_volume`` (the run directory)."""


@dataclass
class ScanflowGraph:
    """Task nodes, the tracker node, and the volume and tracker edges between them."""

    pipelines: list[str]
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    tracker_uri: str | None = None

    @classmethod
    def from_plan(
        cls,
        plan: TaskPlan,
        catalog: CatalogProtocol,
        pipelines: list[str],
        tracker_uri: str | None = None,
    ) -> ScanflowGraph:
        """Build the multigraph of a task plan."""
        producer = {d: task.slug for task in plan.tasks.values() for d in task.outputs}
        nodes = [
            GraphNode(
                id=task.slug,
                name=task.name,
                kind=node_kind(task.tags),
                kedro_nodes=list(task.nodes),
                tags=sorted(task.tags),
                namespace=task.namespace,
                inputs=sorted(task.inputs),
                outputs=sorted(task.outputs),
            )
            for task in plan.tasks.values()
        ]
        nodes.append(GraphNode(id=TRACKER_ID, name="MLflow tracker", kind="tracker"))
        edges: list[GraphEdge] = []
        for task in plan.tasks.values():
            for dataset in sorted(task.inputs):
                if dataset not in producer:
                    continue
                edges.append(
                    GraphEdge(
                        source=producer[dataset],
                        target=task.slug,
                        kind="volume",
                        dataset=dataset,
                        dataset_type=_dataset_type(catalog, dataset),
                        persisted_by="shared_volume"
                        if dataset in plan.shared_datasets
                        else "catalog",
                    )
                )
        edges.extend(
            GraphEdge(source=task.slug, target=TRACKER_ID, kind="tracker")
            for task in plan.tasks.values()
        )
        return cls(pipelines=pipelines, nodes=nodes, edges=edges, tracker_uri=tracker_uri)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipelines": self.pipelines,
            "tracker_uri": self.tracker_uri,
            "nodes": [asdict(node) for node in self.nodes],
            "edges": [asdict(edge) for edge in self.edges],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_text(self) -> str:
        """A readable listing: task nodes with their inputs, then both kinds of edges."""
        tasks = [node for node in self.nodes if node.id != TRACKER_ID]
        volume = [edge for edge in self.edges if edge.kind == "volume"]
        names = {node.id: node.name for node in self.nodes}
        lines = [
            f"Scanflow graph of pipeline(s) {', '.join(self.pipelines)}: "
            f"{len(tasks)} task node(s), {len(volume)} volume edge(s), "
            f"{len(tasks)} tracker edge(s)",
            "",
            "Task nodes:",
        ]
        for node in tasks:
            label = f" [{node.kind}]" if node.kind != "task" else ""
            tags = f"  tags: {', '.join(node.tags)}" if node.tags else ""
            lines.append(f"  {node.name}{label}{tags}")
            external = [
                d
                for d in node.inputs
                if not any(e.dataset == d and e.target == node.id for e in volume)
            ]
            if external:
                lines.append(f"      reads from the catalog: {', '.join(external)}")
        lines += ["", "Volume edges (data):"]
        for edge in volume:
            lines.append(
                f"  {names[edge.source]} --[{edge.dataset}: {edge.dataset_type}, "
                f"{edge.persisted_by.replace('_', ' ') if edge.persisted_by else ''}]--> "
                f"{names[edge.target]}"
            )
        if not volume:
            lines.append("  (none)")
        lines += ["", f"Tracker edges (metadata): every task node --> MLflow ({self.tracker_uri})"]
        return "\n".join(lines)


def _dataset_type(catalog: CatalogProtocol, dataset: str) -> str:
    type_name = catalog.get_type(dataset)
    return type_name.rsplit(".", 1)[-1] if type_name else "MemoryDataset"
