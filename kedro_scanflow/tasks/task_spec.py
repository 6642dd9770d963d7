"""``TaskSpec``: everything a task process needs to run its nodes, as one JSON file.

The orchestrator writes the spec into the run directory; the task process (a forked
child, a fresh interpreter, a container or a pod) reads it from the shared volume. Paths
are relative to the project root, so the same spec works on the host and in a container
where the project lives elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kedro_scanflow.runs.run_directory import write_json_atomic

if TYPE_CHECKING:
    from kedro_scanflow.pipeline.task_plan import Task, TaskPlan
    from kedro_scanflow.runs.run_request import RunRequest


class TrackingSpec(BaseModel):
    """The tracker edge: where the task logs and under which parent run.

    With an orchestrator, ``run_id`` is the task's run, created before the task starts.
    Without one (a compose file), the task creates its own run in ``experiment``, under
    the parent run whose id a first service wrote to ``parent_run_file``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    uri: str
    experiment_id: str | None = None
    experiment: str | None = None
    parent_run_id: str | None = None
    run_id: str | None = Field(
        default=None, description="The MLflow run of this task, created by the orchestrator."
    )
    parent_run_file: str | None = Field(
        default=None, description="File (relative to the project) holding the parent run id."
    )

    @model_validator(mode="after")
    def _run_or_experiment(self) -> TrackingSpec:
        if self.run_id is None and self.experiment is None and self.experiment_id is None:
            raise ValueError("a tracking spec needs a run_id or an experiment")
        return self


class TaskSpec(BaseModel):
    """One task of one workflow run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    slug: str
    name: str
    nodes: list[str]
    pipelines: list[str]
    env: str | None = None
    conf_source: str | None = None
    runtime_params: dict[str, Any] = Field(default_factory=dict)
    load_versions: dict[str, str] = Field(default_factory=dict)
    run_directory: str = Field(description="The run directory, relative to the project root.")
    shared_datasets: dict[str, str] = Field(
        default_factory=dict, description="In-memory datasets of this task -> volume file."
    )
    backend: str = "local"
    tracking: TrackingSpec | None = None

    @classmethod
    def for_task(
        cls,
        task: Task,
        plan: TaskPlan,
        request: RunRequest,
        *,
        run_id: str,
        run_directory: str,
        backend: str,
        conf_source: str | None,
        tracking: TrackingSpec | None,
    ) -> TaskSpec:
        """The spec of ``task`` in a run of ``request``.

        Every backend and export builds its specs here, so that what a task runs (its
        nodes, environment, configuration, parameters, dataset versions, shared
        datasets) never depends on where it runs; only the places differ.

        Args:
            task: The task.
            plan: The run's task plan (which datasets go over the shared volume).
            request: What the user asked to run.
            run_id: The Scanflow run id.
            run_directory: The run directory, relative to the project root.
            backend: The backend's name, recorded in the spec.
            conf_source: The configuration source as the task process sees it
                (``None``: the project's ``conf/``).
            tracking: Where the task logs, or ``None`` without tracking.
        """
        touched = task.inputs | task.outputs
        return cls(
            run_id=run_id,
            slug=task.slug,
            name=task.name,
            nodes=list(task.nodes),
            pipelines=request.pipelines,
            env=request.env,
            conf_source=conf_source,
            runtime_params=request.runtime_params,
            load_versions=request.load_versions,
            run_directory=run_directory,
            shared_datasets={
                name: file for name, file in plan.shared_datasets.items() if name in touched
            },
            backend=backend,
            tracking=tracking,
        )

    def save(self, path: Path) -> None:
        """Write the spec to ``path`` (atomically)."""
        write_json_atomic(path, self.model_dump(mode="json"))

    @classmethod
    def load(cls, path: Path) -> TaskSpec:
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))
