"""The schema of ``conf/<env>/scanflow.yml``.

Every default lives here, in the models, so that a project without ``scanflow.yml``
behaves exactly like one whose file only contains defaults. Unknown keys are rejected:
a typo in a key must fail loudly rather than be ignored.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

BackendName = Literal["local"]
"""Backends that can run a workflow. Each backend module adds its name here."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrackerOptions(_Section):
    """Where the tracker edge (MLflow) of a workflow goes.

    ``uri`` and ``experiment`` fall back on kedro-mlflow's ``mlflow.yml`` when that file
    sets them, then on a sqlite database under the project and the package name.
    """

    uri: str | None = Field(
        default=None,
        description="MLflow tracking URI. Relative sqlite paths resolve against the project.",
    )
    experiment: str | None = Field(
        default=None, description="MLflow experiment of the workflow runs."
    )
    artifact_location: str = Field(
        default="mlartifacts",
        description="Artifact root of a newly created experiment, relative to the project.",
    )


class RunOptions(_Section):
    """How ``kedro scanflow run`` turns a pipeline into tasks and schedules them."""

    backend: BackendName = "local"
    max_workers: PositiveInt | None = Field(
        default=None, description="Tasks running at once; default: number of CPUs."
    )
    group_by: Literal["none", "namespace"] = Field(
        default="none",
        description="'none': one task per node; 'namespace': one task per top-level namespace.",
    )
    directory: str = Field(
        default="data/scanflow/runs",
        description="Run directories (persisted intermediates, task states, logs), "
        "relative to the project. This is the shared volume of the workflow.",
    )
    stream_logs: bool = Field(
        default=True, description="Print every task's log lines live, prefixed by its name."
    )


class LocalBackendOptions(_Section):
    """Options of the local backend: one operating-system process per task."""

    start_method: Literal["fork", "spawn"] | None = Field(
        default=None,
        description="'fork' forks tasks from a warm fork server (POSIX, fast); 'spawn' "
        "starts a fresh interpreter per task. Default: fork where available.",
    )
    preload: list[str] = Field(
        default_factory=list,
        description="Modules the fork server imports once before forking tasks, "
        "e.g. [tensorflow], so that no task pays for the import.",
    )
    terminate_grace_period: PositiveFloat = Field(
        default=10.0, description="Seconds between SIGTERM and SIGKILL when stopping a task."
    )


class BackendsOptions(_Section):
    """Per-backend options."""

    local: LocalBackendOptions = LocalBackendOptions()


class ScanflowConfig(_Section):
    """The whole of ``scanflow.yml``."""

    run: RunOptions = RunOptions()
    tracker: TrackerOptions = TrackerOptions()
    backends: BackendsOptions = BackendsOptions()
