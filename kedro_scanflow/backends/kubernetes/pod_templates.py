"""Pods from :class:`ContainerPlan` values: the same plan the Docker backend runs, on a cluster.

A :class:`PodFrame` holds what every pod of a project shares (image, unprivileged user,
shared-volume claim, pull settings, Secrets by name). :func:`pod_spec` turns a
container plan into a pod spec with the security defaults of every scanflow pod:

- non-root (the image's numeric uid), no privilege escalation, every capability dropped,
  a read-only root file system (``/tmp`` is an ``emptyDir``), the ``RuntimeDefault``
  seccomp profile;
- no ServiceAccount token mounted (a task never talks to the Kubernetes API) and no
  service links in the environment;
- Secrets only as references (``secretKeyRef``, ``envFrom``, a Secret volume for
  ``conf/local``): no credential value is ever part of a manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from kubernetes.client import (
    V1Capabilities,
    V1Container,
    V1EmptyDirVolumeSource,
    V1EnvFromSource,
    V1EnvVar,
    V1EnvVarSource,
    V1LocalObjectReference,
    V1PersistentVolumeClaimVolumeSource,
    V1PodSecurityContext,
    V1PodSpec,
    V1SeccompProfile,
    V1SecretEnvSource,
    V1SecretKeySelector,
    V1SecretVolumeSource,
    V1SecurityContext,
    V1Toleration,
    V1Volume,
    V1VolumeMount,
)

from kedro_scanflow.backends.kubernetes.resource_quantities import resource_requirements
from kedro_scanflow.images.project_image import CONTAINER_PROJECT

if TYPE_CHECKING:
    from kedro_scanflow.backends.docker.container_plan import ContainerPlan
    from kedro_scanflow.config.kubernetes_config import SecretEnvOptions, Toleration
    from kedro_scanflow.config.scanflow_config import ResourceOptions

TERMINATION_LOG = "/dev/termination-log"
DATA_VOLUME = "shared-data"
CONF_LOCAL_VOLUME = "conf-local"
RUNS_SUB_PATH = "scanflow-runs"


def container_security_context(uid: int) -> V1SecurityContext:
    """Non-root, no escalation, no capabilities, read-only root, RuntimeDefault seccomp."""
    return V1SecurityContext(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        allow_privilege_escalation=False,
        privileged=False,
        capabilities=V1Capabilities(drop=["ALL"]),
        read_only_root_filesystem=True,
        seccomp_profile=V1SeccompProfile(type="RuntimeDefault"),
    )


def pod_security_context(uid: int) -> V1PodSecurityContext:
    """The pod-level counterpart; ``fsGroup`` lets the user write the shared claim."""
    return V1PodSecurityContext(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=uid,
        fs_group_change_policy="OnRootMismatch",
        seccomp_profile=V1SeccompProfile(type="RuntimeDefault"),
    )


def tolerations(items: list[Toleration] | tuple[Toleration, ...]) -> list[V1Toleration]:
    """``scanflow.yml`` tolerations as the client's typed model."""
    return [
        V1Toleration(
            key=item.key,
            operator=item.operator,
            value=item.value,
            effect=item.effect,
            toleration_seconds=item.toleration_seconds,
        )
        for item in items
    ]


@dataclass(frozen=True)
class PodFrame:
    """What every pod of a project shares.

    Attributes:
        image: The project image, as the cluster pulls it.
        uid: The image's unprivileged user (never 0).
        data_claim: The shared volume, mounted as the project's ``data/``.
        runs_directory: ``run.directory`` relative to the project; mounted from the
            claim too when it is not under ``data/``.
        service_account: The pods' ServiceAccount (its token is never mounted).
    """

    image: str
    uid: int
    data_claim: str
    runs_directory: PurePosixPath
    service_account: str
    image_pull_policy: str = "IfNotPresent"
    image_pull_secrets: tuple[str, ...] = ()
    secrets: tuple[SecretEnvOptions, ...] = ()
    credentials_secret: str | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    terminate_grace_period: float = 10.0

    def __post_init__(self) -> None:
        if self.uid <= 0:
            raise ValueError(f"pods never run as root: uid {self.uid} is not allowed")

    def volumes(self) -> list[V1Volume]:
        """The shared claim, ``/tmp`` and ``conf/local`` (a Secret or an empty folder)."""
        conf_local = (
            V1Volume(
                name=CONF_LOCAL_VOLUME,
                secret=V1SecretVolumeSource(secret_name=self.credentials_secret),
            )
            if self.credentials_secret
            else V1Volume(name=CONF_LOCAL_VOLUME, empty_dir=V1EmptyDirVolumeSource())
        )
        return [
            V1Volume(
                name=DATA_VOLUME,
                persistent_volume_claim=V1PersistentVolumeClaimVolumeSource(
                    claim_name=self.data_claim
                ),
            ),
            conf_local,
        ]

    def volume_mounts(self) -> list[V1VolumeMount]:
        """``data/`` (and the runs directory when elsewhere) read-write, ``conf/local``
        read-only. The image holds ``conf/`` without ``conf/local``, which Kedro needs."""
        mounts = [
            V1VolumeMount(name=DATA_VOLUME, mount_path=f"{CONTAINER_PROJECT}/data"),
            V1VolumeMount(
                name=CONF_LOCAL_VOLUME,
                mount_path=f"{CONTAINER_PROJECT}/conf/local",
                read_only=True,
            ),
        ]
        if self.runs_directory.parts[:1] != ("data",):
            mounts.append(
                V1VolumeMount(
                    name=DATA_VOLUME,
                    mount_path=f"{CONTAINER_PROJECT}/{self.runs_directory}",
                    sub_path=RUNS_SUB_PATH,
                )
            )
        return mounts

    def secret_environment(self) -> tuple[list[V1EnvVar], list[V1EnvFromSource]]:
        """Environment variables that come from Secrets, by reference only."""
        variables: list[V1EnvVar] = []
        sources: list[V1EnvFromSource] = []
        for entry in self.secrets:
            if not entry.keys:
                sources.append(V1EnvFromSource(secret_ref=V1SecretEnvSource(name=entry.secret)))
                continue
            for variable, key in sorted(entry.keys.items()):
                variables.append(
                    V1EnvVar(
                        name=variable,
                        value_from=V1EnvVarSource(
                            secret_key_ref=V1SecretKeySelector(name=entry.secret, key=key)
                        ),
                    )
                )
        return variables, sources


def container_from_plan(
    plan: ContainerPlan,
    frame: PodFrame,
    resources: ResourceOptions | None = None,
    extra_mounts: list[V1VolumeMount] | None = None,
    with_shared_volume: bool = True,
    with_secrets: bool = True,
    name: str = "main",
) -> V1Container:
    """The container of ``plan``: its image, command, environment and limits, with the
    security defaults, ``/tmp`` as an ``emptyDir``, and the termination message that
    the task process writes on failure (else the end of its log)."""
    secret_variables, secret_sources = frame.secret_environment() if with_secrets else ([], [])
    mounts = frame.volume_mounts() if with_shared_volume else []
    mounts += [
        V1VolumeMount(name=_tmpfs_volume_name(index), mount_path=path)
        for index, path in enumerate(plan.tmpfs)
    ]
    mounts += extra_mounts or []
    return V1Container(
        name=name,
        image=plan.image,
        image_pull_policy=frame.image_pull_policy,
        command=list(plan.command),
        working_dir=plan.working_dir,
        env=[V1EnvVar(name=k, value=v) for k, v in plan.environment.items()] + secret_variables,
        env_from=secret_sources or None,
        resources=resource_requirements(resources) if resources is not None else None,
        security_context=container_security_context(frame.uid),
        volume_mounts=mounts,
        termination_message_path=TERMINATION_LOG,
        termination_message_policy="FallbackToLogsOnError",
    )


def pod_spec(
    containers: list[V1Container],
    frame: PodFrame,
    tmpfs: tuple[str, ...] = ("/tmp",),
    init_containers: list[V1Container] | None = None,
    extra_volumes: list[V1Volume] | None = None,
    with_shared_volume: bool = True,
    restart_policy: str = "Never",
    node_selector: dict[str, str] | None = None,
    extra_tolerations: tuple[Toleration, ...] = (),
) -> V1PodSpec:
    """A pod of the project: no API token, the frame's volumes, pull secrets, selectors."""
    volumes = frame.volumes() if with_shared_volume else []
    volumes += [
        V1Volume(name=_tmpfs_volume_name(index), empty_dir=V1EmptyDirVolumeSource())
        for index in range(len(tmpfs))
    ]
    volumes += extra_volumes or []
    selector = {**frame.node_selector, **(node_selector or {})}
    all_tolerations = list(frame.tolerations) + [
        t for t in extra_tolerations if t not in frame.tolerations
    ]
    return V1PodSpec(
        containers=containers,
        init_containers=init_containers or None,
        volumes=volumes,
        restart_policy=restart_policy,
        service_account_name=frame.service_account,
        automount_service_account_token=False,
        enable_service_links=False,
        security_context=pod_security_context(frame.uid),
        image_pull_secrets=[V1LocalObjectReference(name=n) for n in frame.image_pull_secrets]
        or None,
        node_selector=selector or None,
        tolerations=tolerations(all_tolerations) or None,
        termination_grace_period_seconds=max(1, round(frame.terminate_grace_period)),
    )


def _tmpfs_volume_name(index: int) -> str:
    return "tmp" if index == 0 else f"tmp-{index}"
