"""``TaskSpec``: everything a task process needs to run its nodes, as one JSON file.

The orchestrator writes the spec into the run directory; the task process (a forked
child, a fresh interpreter, a container or a pod) reads it from the shared volume. Paths
are relative to the project root, so the same spec works on the host and in a container
where the project lives elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kedro_scanflow.runs.run_directory import write_json_atomic


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

    def save(self, path: Path) -> None:
        """Write the spec to ``path`` (atomically)."""
        write_json_atomic(path, self.model_dump(mode="json"))

    @classmethod
    def load(cls, path: Path) -> TaskSpec:
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))
