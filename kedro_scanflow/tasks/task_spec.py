"""``TaskSpec``: everything a task process needs to run its nodes, as one JSON file.

The orchestrator writes the spec into the run directory; the task process (a forked
child, a fresh interpreter, a container or a pod) reads it from the shared volume. Paths
are relative to the project root, so the same spec works on the host and in a container
where the project lives elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kedro_scanflow.runs.run_directory import write_json_atomic


class TrackingSpec(BaseModel):
    """The tracker edge: where the task logs and under which parent run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    uri: str
    experiment_id: str
    parent_run_id: str
    run_id: str = Field(description="The MLflow run of this task, created by the orchestrator.")


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
