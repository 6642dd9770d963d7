"""The schema of ``conf/<env>/scanflow.yml``.

Every default lives here, in the models, so that a project without ``scanflow.yml``
behaves exactly like one whose file only contains defaults. Unknown keys are rejected:
a typo in a key must fail loudly rather than be ignored.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
)

BackendName = Literal["local", "docker"]
"""Backends that can run a workflow. Each backend module adds its name here."""

_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?$", re.IGNORECASE)
_MEMORY_UNITS = {"": 1}
for _power, _unit in enumerate("kmgt", 1):
    _MEMORY_UNITS[_unit] = _MEMORY_UNITS[f"{_unit}i"] = 1024**_power


def memory_bytes(text: str) -> int:
    """``"512m"``, ``"2g"``, ``"1.5Gi"`` or ``"1000000"`` as a number of bytes.

    Units are binary, as Docker reads them (``512m`` is 512 MiB); ``Mi``/``Gi`` are
    accepted for Kubernetes habits and mean the same.

    Raises:
        ValueError: For anything else, or a size that is not positive.
    """
    match = _MEMORY.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a memory size such as '512m', '2g' or '1.5Gi'")
    number, unit = match.groups()
    size = int(float(number) * _MEMORY_UNITS[(unit or "").lower()])
    if size <= 0:
        raise ValueError(f"memory must be positive, got {text!r}")
    return size


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


class ResourceOptions(_Section):
    """Compute resources of one task's container or pod. ``None`` means no limit."""

    cpus: PositiveFloat | None = Field(default=None, description="CPU cores, e.g. 0.5 or 2.")
    memory: str | None = Field(default=None, description="Memory limit, e.g. '512m', '4g'.")
    gpus: NonNegativeInt = Field(default=0, description="GPUs to attach (NVIDIA).")

    @field_validator("memory")
    @classmethod
    def _valid_memory(cls, value: str | None) -> str | None:
        if value is not None:
            memory_bytes(value)
        return value

    @property
    def memory_bytes(self) -> int | None:
        return memory_bytes(self.memory) if self.memory is not None else None


class NodeSelector(_Section):
    """Which tasks a :class:`NodeSettings` entry applies to: any listed node name, any
    listed tag, or any listed namespace (and its sub-namespaces)."""

    nodes: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    namespaces: list[str] = Field(default_factory=list)


class NodeSettings(_Section):
    """Settings for the tasks a selector picks; later entries override earlier ones."""

    select: NodeSelector
    resources: ResourceOptions | None = None
    image: str | None = Field(default=None, description="Run these tasks in this image.")
    requirements: list[str] = Field(
        default_factory=list,
        description="Extra pip requirements: `kedro scanflow build` makes an image variant.",
    )


class TrackerContainerOptions(_Section):
    """The MLflow tracking server container a Docker run starts on its network."""

    volume: str | None = Field(
        default=None,
        description="Docker volume that holds the tracker's store and artifacts and "
        "outlives runs; default: scanflow-<project>-tracker.",
    )
    host_port: NonNegativeInt = Field(
        default=0, description="Port on 127.0.0.1 for the orchestrator; 0 picks a free one."
    )
    startup_timeout: PositiveFloat = 120.0


class DockerBackendOptions(_Section):
    """Options of the Docker backend: one container per task on a private network."""

    image: str | None = Field(
        default=None, description="Project image; default: scanflow-<project>:latest."
    )
    base_image: str = Field(
        default="scanflow-base:bookworm",
        description="Image with Python that `kedro scanflow build` starts from; "
        "`kedro scanflow base-image` makes it without a registry.",
    )
    resources: ResourceOptions = ResourceOptions()
    prewarm: NonNegativeInt = Field(
        default=2,
        description="Containers started ahead of their task, with imports done, so that "
        "a task starts as soon as its inputs are ready.",
    )
    preload: list[str] = Field(
        default_factory=list, description="Modules a container imports while it waits."
    )
    tracker: TrackerContainerOptions = TrackerContainerOptions()
    requirements: list[str] | None = Field(
        default=None,
        description="Requirements installed in the project image; default: the project's "
        "requirements.txt, else its pyproject dependencies.",
    )
    include: list[str] = Field(
        default_factory=list,
        description="Extra project files or folders copied into the image (src/, conf/ "
        "without conf/local, and pyproject.toml always are).",
    )
    terminate_grace_period: PositiveFloat = 10.0


class BackendsOptions(_Section):
    """Per-backend options."""

    local: LocalBackendOptions = LocalBackendOptions()
    docker: DockerBackendOptions = DockerBackendOptions()


class ScanflowConfig(_Section):
    """The whole of ``scanflow.yml``."""

    run: RunOptions = RunOptions()
    tracker: TrackerOptions = TrackerOptions()
    backends: BackendsOptions = BackendsOptions()
    nodes: list[NodeSettings] = Field(
        default_factory=list,
        description="Per-task settings (resources, image, requirements) selected by node "
        "name, tag or namespace; later entries win.",
    )
