"""``ScanflowTaskRunner``: the Kedro runner inside a task process.

It is a ``SequentialRunner`` that first swaps the task's in-memory edges for
:class:`~kedro_scanflow.io.SharedVolumeDataset` so that data written by one task is read
by the next, and registers a :class:`TaskObserver` that records what each node did.
"""

from __future__ import annotations

import logging
from time import perf_counter
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl
from kedro.runner import SequentialRunner

from kedro_scanflow.io.shared_volume_dataset import SharedVolumeDataset
from kedro_scanflow.tracking.run_tags import flatten_params

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node
    from pluggy import PluginManager

logger = logging.getLogger(__name__)


class TaskObserver:
    """Kedro hooks, registered only in task processes, that record what each node did.

    Collects every node's parameters and duration (written to the task's MLflow run in
    one batch when the task ends, since each write to a sqlite tracker costs a round
    trip) and remembers the node that failed, so that the error the user sees names it.
    """

    def __init__(self) -> None:
        self._started: dict[str, float] = {}
        self.params: dict[str, str] = {}
        self.node_durations: list[tuple[str, float]] = []
        self.failed_node: str | None = None

    @property
    def completed_nodes(self) -> list[str]:
        return [name for name, _ in self.node_durations]

    @hook_impl
    def before_node_run(self, node: Node, inputs: dict[str, Any]) -> None:
        self._started[node.name] = perf_counter()
        params: dict[str, Any] = {}
        for name, value in inputs.items():
            if name == "parameters":
                params.update(value if isinstance(value, dict) else {name: value})
            elif name.startswith("params:"):
                params[name.removeprefix("params:")] = value
        self.params.update(flatten_params(params))

    @hook_impl
    def after_node_run(self, node: Node) -> None:
        elapsed = perf_counter() - self._started.pop(node.name, perf_counter())
        self.node_durations.append((node.name, elapsed))

    @hook_impl
    def on_node_error(self, node: Node) -> None:
        self.failed_node = node.name


class ScanflowTaskRunner(SequentialRunner):
    """Runs the nodes of one task, reading and writing in-memory edges on the shared volume."""

    def __init__(
        self,
        volume: Path,
        shared_datasets: Mapping[str, str],
        observer: TaskObserver | None = None,
    ):
        """Create the runner.

        Args:
            volume: The run's shared volume directory.
            shared_datasets: In-memory datasets -> file name on the volume.
            observer: Hooks to register for the run, if any.
        """
        super().__init__()
        self._volume = volume
        self._shared = dict(shared_datasets)
        self._observer = observer

    def run(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol,
        hook_manager: PluginManager | None = None,
        run_id: str | None = None,
        only_missing_outputs: bool = False,
    ) -> dict[str, Any]:
        """Bind the shared-volume edges into ``catalog`` and run ``pipeline`` sequentially."""
        for dataset in sorted(pipeline.datasets() & self._shared.keys()):
            catalog[dataset] = SharedVolumeDataset(self._volume / self._shared[dataset])
        if hook_manager is not None and self._observer is not None:
            hook_manager.register(self._observer)
        try:
            return super().run(pipeline, catalog, hook_manager, run_id, only_missing_outputs)
        finally:
            if hook_manager is not None and self._observer is not None:
                hook_manager.unregister(self._observer)
