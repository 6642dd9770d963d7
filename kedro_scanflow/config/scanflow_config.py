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
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from kedro_scanflow.config.kubernetes_config import (
    KubernetesStorageOptions,
    KubernetesTrackerOptions,
    SecretEnvOptions,
    Toleration,
    check_gpu_node_selectors,
    dns_label,
    dns_subdomain,
)
from kedro_scanflow.config.service_config import AgentOptions, LabelingOptions, ServeOptions
from kedro_scanflow.config.supervision_config import SupervisionOptions

BackendName = Literal["local", "docker", "kubernetes"]
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


class ResourceRequests(_Section):
    """What Kubernetes reserves for a task's pod (its ``requests``); the ``cpus`` and
    ``memory`` of :class:`ResourceOptions` are the limits."""

    cpus: PositiveFloat | None = Field(default=None, description="CPU cores reserved.")
    memory: str | None = Field(default=None, description="Memory reserved, e.g. '512m'.")

    @field_validator("memory")
    @classmethod
    def _valid_memory(cls, value: str | None) -> str | None:
        if value is not None:
            memory_bytes(value)
        return value


class ResourceOptions(_Section):
    """Compute resources of one task's container or pod. ``None`` means no limit."""

    cpus: PositiveFloat | None = Field(default=None, description="CPU cores, e.g. 0.5 or 2.")
    memory: str | None = Field(default=None, description="Memory limit, e.g. '512m', '4g'.")
    gpus: NonNegativeInt = Field(default=0, description="GPUs to attach (NVIDIA).")
    requests: ResourceRequests | None = Field(
        default=None,
        description="Kubernetes: CPU and memory reserved for the pod; default: the limits.",
    )

    @model_validator(mode="after")
    def _requests_within_limits(self) -> ResourceOptions:
        requests = self.requests
        if requests is None:
            return self
        if self.cpus is not None and requests.cpus is not None and requests.cpus > self.cpus:
            raise ValueError(f"requests.cpus ({requests.cpus}) exceeds cpus ({self.cpus})")
        if self.memory is not None and requests.memory is not None:
            if memory_bytes(requests.memory) > memory_bytes(self.memory):
                raise ValueError(
                    f"requests.memory ({requests.memory}) exceeds memory ({self.memory})"
                )
        return self

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
    node_selector: dict[str, str] = Field(
        default_factory=dict,
        description="Kubernetes: labels of the cluster nodes these tasks may run on.",
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, description="Kubernetes: node taints these tasks tolerate."
    )
    retries: NonNegativeInt | None = Field(
        default=None,
        description="Kubernetes: pods retried before the task fails (the Job's backoffLimit).",
    )
    timeout: PositiveFloat | None = Field(
        default=None,
        description="Kubernetes: seconds after which the task is stopped and fails "
        "(the Job's activeDeadlineSeconds).",
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
        default=4,
        description="Containers started ahead of their task, with imports done, so that "
        "a task starts as soon as its inputs are ready. Each waits with its imports in "
        "memory (about 200 MiB, more with preload); they warm up while the tracker starts.",
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


class KubernetesBackendOptions(_Section):
    """Options of the Kubernetes backend: one Job (one pod) per task in a namespace, a
    PersistentVolumeClaim as the shared volume, and an MLflow tracker in the namespace.
    Secrets are referenced by name only."""

    namespace: str | None = Field(
        default=None, description="Namespace of the runs; default: scanflow-<project>."
    )
    create_namespace: bool = Field(
        default=True, description="Create the namespace when missing; false: it must exist."
    )
    context: str | None = Field(
        default=None, description="kubeconfig context; default: the current context."
    )
    registry: str | None = Field(
        default=None,
        description="Registry of the images (`kedro scanflow build --push`); the project "
        "image is then <registry>/scanflow/<project>:latest.",
    )
    image: str | None = Field(
        default=None, description="Image of the task pods; default: see registry."
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    image_pull_secrets: list[str] = Field(
        default_factory=list, description="Secrets (by name) to pull from a private registry."
    )
    image_pull_timeout: NonNegativeFloat = Field(
        default=120.0,
        description="Seconds a pod may fail to pull its image (or to find a referenced "
        "Secret) before its task fails.",
    )
    service_account: str = Field(
        default="scanflow",
        description="ServiceAccount of the runs, bound to a namespaced Role with only what "
        "a run needs; its token is never mounted into task pods.",
    )
    run_as_user: PositiveInt | None = Field(
        default=None,
        description="Non-zero uid of the pods; default: the image's user (label scanflow.uid).",
    )
    storage: KubernetesStorageOptions = KubernetesStorageOptions()
    tracker: KubernetesTrackerOptions = KubernetesTrackerOptions()
    secrets: list[SecretEnvOptions] = Field(
        default_factory=list,
        description="Secrets (by name) exposed to every task as environment variables.",
    )
    credentials_secret: str | None = Field(
        default=None,
        description="Secret mounted as conf/local, e.g. with a key credentials.yml.",
    )
    resources: ResourceOptions = ResourceOptions()
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Default node selector of every task pod."
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, description="Default tolerations of every task pod."
    )
    require_gpu_node_selector: bool = Field(
        default=False,
        description="Refuse nodes entries that request GPUs without a node_selector.",
    )
    terminate_grace_period: PositiveFloat = 10.0

    @field_validator("namespace")
    @classmethod
    def _valid_namespace(cls, value: str | None) -> str | None:
        return dns_label(value) if value is not None else None

    @field_validator("service_account", "credentials_secret")
    @classmethod
    def _valid_name(cls, value: str | None) -> str | None:
        return dns_subdomain(value) if value is not None else None

    @field_validator("image_pull_secrets")
    @classmethod
    def _valid_names(cls, value: list[str]) -> list[str]:
        return [dns_subdomain(name) for name in value]


class BackendsOptions(_Section):
    """Per-backend options."""

    local: LocalBackendOptions = LocalBackendOptions()
    docker: DockerBackendOptions = DockerBackendOptions()
    kubernetes: KubernetesBackendOptions = KubernetesBackendOptions()


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
    supervision: dict[str, SupervisionOptions] = Field(
        default_factory=dict,
        description="Special nodes (checkers, improvers, planner, tracker) per pipeline name.",
    )
    serve: ServeOptions = ServeOptions()
    labeling: LabelingOptions = LabelingOptions()
    agent: AgentOptions = AgentOptions()

    @model_validator(mode="after")
    def _distinct_namespaces(self) -> ScanflowConfig:
        seen: dict[str, str] = {}
        for pipeline, options in self.supervision.items():
            if options.namespace in seen:
                raise ValueError(
                    f"supervision of {pipeline!r} and {seen[options.namespace]!r} use the same "
                    f"namespace {options.namespace!r}; give one of them another namespace"
                )
            seen[options.namespace] = pipeline
        return self

    @model_validator(mode="after")
    def _gpu_node_selectors(self) -> ScanflowConfig:
        check_gpu_node_selectors(self.nodes, self.backends.kubernetes)
        return self
