"""One Kubernetes Job (one pod, no restarts in place) per task.

The task's container is the Docker backend's :func:`task_container_plan` (same
environment, same limits), run with ``python -m kedro_scanflow.tasks --spec-env``: the
orchestrator runs outside the cluster and cannot write onto the claim, so the
:class:`TaskSpec` travels in the pod's environment (a few kilobytes, no credentials).
A failing task writes its failure (node, error) to the termination message, which the
orchestrator reads from the pod status; Kubernetes falls back on the end of the log
when the process died before writing it (``FallbackToLogsOnError``).

Per-task settings from ``scanflow.yml`` map onto the Job: ``retries`` is the
``backoffLimit``, ``timeout`` the ``activeDeadlineSeconds``; resources, node selectors
and tolerations go to the pod. The task's dependencies are recorded in the annotation
``scanflow.io/depends-on``: the tasks (the ``scanflow.io/task`` label of their Jobs) that
must succeed first.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from kubernetes.client import (
    V1Container,
    V1Job,
    V1JobSpec,
    V1ObjectMeta,
    V1PersistentVolumeClaimVolumeSource,
    V1PodTemplateSpec,
    V1Volume,
    V1VolumeMount,
)

from kedro_scanflow.backends.docker.container_plan import ContainerPlan, task_container_plan
from kedro_scanflow.backends.kubernetes.cluster_names import (
    ANNOTATION_DEPENDS_ON,
    ANNOTATION_NODES,
    ANNOTATION_TASK,
    COMPONENT_SEED,
    COMPONENT_TASK,
)
from kedro_scanflow.backends.kubernetes.pod_templates import (
    TERMINATION_LOG,
    container_from_plan,
    pod_spec,
)
from kedro_scanflow.images.project_image import CONTAINER_PROJECT, variant_image_name

if TYPE_CHECKING:
    from kedro_scanflow.backends.kubernetes.cluster_names import ClusterNames
    from kedro_scanflow.backends.kubernetes.pod_templates import PodFrame
    from kedro_scanflow.config.node_settings import TaskSettings
    from kedro_scanflow.pipeline.task_plan import Task
    from kedro_scanflow.tasks.task_spec import TaskSpec

SPEC_VARIABLE = "SCANFLOW_TASK_SPEC"
TASK_CONTAINER = "task"
SEED_MOUNT = "/mnt/shared"


def pod_task_command(success_marker: str | None = None) -> list[str]:
    """What a task pod runs: the spec from the environment, failures to the termination
    message; with ``success_marker`` (exported workflows), a file written on success."""
    command = [
        "python",
        "-m",
        "kedro_scanflow.tasks",
        "--spec-env",
        SPEC_VARIABLE,
        "--project-path",
        CONTAINER_PROJECT,
        "--termination-log",
        TERMINATION_LOG,
    ]
    if success_marker is not None:
        command += ["--success-marker", success_marker]
    return command


def task_image(project_image: str, settings: TaskSettings) -> str:
    """The image of a task: its override, its requirements variant, or the project's."""
    if settings.image:
        return settings.image
    if settings.requirements:
        return variant_image_name(project_image, settings.requirements)
    return project_image


def task_job(
    *,
    names: ClusterNames,
    frame: PodFrame,
    task: Task,
    settings: TaskSettings,
    spec: TaskSpec,
    keep: bool = False,
    init_containers: list[V1Container] | None = None,
    success_marker: str | None = None,
    job_name: str | None = None,
    ttl_seconds: int | None = None,
) -> V1Job:
    """The Job that runs ``task`` from ``spec``.

    Args:
        names: Names and labels of the project and run.
        frame: What every pod of the project shares.
        task: The task.
        settings: The task's merged ``nodes:`` settings (over the backend's defaults).
        spec: What the task process runs; it travels in the pod's environment.
        keep: Label the Job as kept (``--keep``).
        init_containers: Run before the task (an exported workflow's upstream gate).
        success_marker: File the task writes on success (exported workflows).
        job_name: The Job's name; default: the task's plain Job name.
        ttl_seconds: Let Kubernetes delete the finished Job after this long, should the
            orchestrator die before it does.
    """
    name = job_name or names.job(task.slug)
    spec_path = PurePosixPath(spec.run_directory) / "tasks" / f"{task.slug}.spec.json"
    plan = task_container_plan(
        name=name,
        image=task_image(frame.image, settings),
        user=f"{frame.uid}:{frame.uid}",
        labels={},
        spec_path=spec_path,
        mounts=[],
        settings=settings,
        preload=[],
        await_spec=False,
        environment={SPEC_VARIABLE: spec.model_dump_json()},
    )
    plan = replace(plan, command=pod_task_command(success_marker))
    container = container_from_plan(plan, frame, settings.resources, name=TASK_CONTAINER)
    labels = names.run_labels(COMPONENT_TASK, task.slug, keep)
    annotations = {
        ANNOTATION_TASK: task.name,
        ANNOTATION_NODES: ",".join(task.nodes),
        ANNOTATION_DEPENDS_ON: ",".join(sorted(task.dependencies)),
    }
    return V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=V1ObjectMeta(
            name=name, namespace=names.namespace, labels=labels, annotations=annotations
        ),
        spec=V1JobSpec(
            backoff_limit=settings.retries or 0,
            active_deadline_seconds=math.ceil(settings.timeout) if settings.timeout else None,
            completions=1,
            parallelism=1,
            ttl_seconds_after_finished=ttl_seconds,
            template=V1PodTemplateSpec(
                metadata=V1ObjectMeta(labels=labels, annotations=annotations),
                spec=pod_spec(
                    [container],
                    frame,
                    plan.tmpfs,
                    init_containers=init_containers,
                    node_selector=settings.node_selector,
                    extra_tolerations=settings.tolerations,
                ),
            ),
        ),
    )


def seed_job(
    names: ClusterNames,
    frame: PodFrame,
    folders: list[str],
    keep: bool = False,
    name: str | None = None,
    marker: str | None = None,
) -> V1Job:
    """A Job that copies ``folders`` (under ``data/``, baked into the image) onto the
    claim, leaving every file that is already there untouched; with ``marker`` (a path
    relative to ``data/``), it then writes that file on the claim."""
    name = name or names.seed_job()
    command = [
        "python",
        "-m",
        "kedro_scanflow.backends.kubernetes.volume_seed",
        "--source",
        CONTAINER_PROJECT,
        "--target",
        SEED_MOUNT,
        *(["--marker", f"{SEED_MOUNT}/{marker}"] if marker else []),
        *folders,
    ]
    plan = ContainerPlan(
        name=name,
        image=frame.image,
        command=command,
        user=f"{frame.uid}:{frame.uid}",
        labels={},
        environment={"HOME": "/tmp/home", "PYTHONUNBUFFERED": "1"},
    )
    mount = V1VolumeMount(name="seed-target", mount_path=SEED_MOUNT)
    container = container_from_plan(
        plan, frame, with_shared_volume=False, with_secrets=False, extra_mounts=[mount]
    )
    volume = V1Volume(
        name="seed-target",
        persistent_volume_claim=V1PersistentVolumeClaimVolumeSource(claim_name=frame.data_claim),
    )
    labels = names.run_labels(COMPONENT_SEED, keep=keep)
    return V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=V1ObjectMeta(name=name, namespace=names.namespace, labels=labels),
        spec=V1JobSpec(
            backoff_limit=0,
            template=V1PodTemplateSpec(
                metadata=V1ObjectMeta(labels=labels),
                spec=pod_spec(
                    [container], frame, plan.tmpfs, extra_volumes=[volume], with_shared_volume=False
                ),
            ),
        ),
    )
