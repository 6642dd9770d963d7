"""``KubernetesExport``: the workflow as Kubernetes manifests, for GitOps.

The same objects the Kubernetes backend creates, built by the same functions from the
client's typed models: namespace, ServiceAccount, Role and RoleBinding, claims, the
tracker's Deployment and Service, and one Job per task (its dependencies in the
``scanflow.io/depends-on`` annotation), written as YAML files with a
``kustomization.yaml`` (``kubectl apply -k <folder>``).

No orchestrator runs an applied folder, so the workflow orders itself, as the compose
export does: a ``workflow-start`` Job creates the MLflow parent run (tasks create their
child runs under it), every task's pod first waits (an init container) for its upstream
tasks' success markers on the shared volume (and fails when one of them failed), and a
``workflow-finish`` Job ends the parent run. One export is one run: export again for the
next (Jobs are immutable).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import yaml
from kubernetes.client import ApiClient, V1Job, V1JobSpec, V1ObjectMeta, V1PodTemplateSpec

from kedro_scanflow.backends.docker.container_plan import (
    TASK_HOME,
    ContainerPlan,
    check_pod_conf_source,
)
from kedro_scanflow.backends.kubernetes.cluster_image import cluster_image, pod_uid
from kedro_scanflow.backends.kubernetes.cluster_names import COMPONENT_WORKFLOW
from kedro_scanflow.backends.kubernetes.namespace_setup import (
    administrative_objects,
    cluster_names,
    pod_frame,
    storage_objects,
    tracker_objects,
)
from kedro_scanflow.backends.kubernetes.pod_templates import (
    RUNS_SUB_PATH,
    container_from_plan,
    pod_spec,
)
from kedro_scanflow.backends.kubernetes.task_job import seed_job, task_job
from kedro_scanflow.backends.kubernetes.tracker_objects import tracker_uri
from kedro_scanflow.config.node_settings import settings_for
from kedro_scanflow.images.project_image import CONTAINER_PROJECT
from kedro_scanflow.runs.run_directory import new_run_id, success_marker_name
from kedro_scanflow.tasks.task_spec import TaskSpec, TrackingSpec

if TYPE_CHECKING:
    from kubernetes.client import V1Container

    from kedro_scanflow.backends.kubernetes.cluster_names import ClusterNames
    from kedro_scanflow.backends.kubernetes.pod_templates import PodFrame
    from kedro_scanflow.config import ScanflowConfig
    from kedro_scanflow.pipeline.task_plan import Task, TaskPlan
    from kedro_scanflow.runs.run_request import RunRequest

START, FINISH = "start", "finish"
SEED_MARKER = "seeded"


@dataclass
class KubernetesExport:
    """Manifests by file name, in the order they apply."""

    run_id: str
    namespace: str
    files: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def objects(self) -> list[Any]:
        return [obj for objects in self.files.values() for obj in objects]

    def documents(self, file_name: str) -> list[dict[str, Any]]:
        """The objects of one file as the API server receives them."""
        client = ApiClient()
        return [client.sanitize_for_serialization(obj) for obj in self.files[file_name]]

    def kustomization(self) -> dict[str, Any]:
        return {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": self.namespace,
            "resources": list(self.files),
        }

    def write(self, folder: Path) -> list[Path]:
        """Write every file and ``kustomization.yaml`` into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        header = (
            f"# Written by `kedro scanflow export --target kubernetes` (run {self.run_id}).\n"
            "# Apply the folder with: kubectl apply -k .\n"
        )
        written = []
        for name in self.files:
            path = folder / name
            path.write_text(
                header + yaml.safe_dump_all(self.documents(name), sort_keys=False, width=120),
                encoding="utf-8",
            )
            written.append(path)
        path = folder / "kustomization.yaml"
        path.write_text(header + yaml.safe_dump(self.kustomization(), sort_keys=False))
        return [*written, path]


def export_kubernetes(
    *,
    plan: TaskPlan,
    config: ScanflowConfig,
    request: RunRequest,
    project_path: Path,
    package_name: str,
    experiment: str,
) -> KubernetesExport:
    """Build the manifests of ``plan`` as one run of the workflow.

    Args:
        plan: The tasks to run.
        config: The project's ``scanflow.yml``.
        request: The pipelines, env and parameters the tasks run with.
        project_path: Root of the project.
        package_name: The project's package.
        experiment: MLflow experiment of the runs.

    Raises:
        ConfSourceError: When the request has a ``--conf-source``.
    """
    check_pod_conf_source(request.conf_source, "exported manifests")
    options = config.backends.kubernetes
    names = cluster_names(options, package_name, project_path, new_run_id())
    frame = pod_frame(
        config,
        names,
        cluster_image(options, package_name),
        pod_uid(options, package_name, config.backends.docker.image),
    )
    tracking_uri = options.tracker.uri or tracker_uri(names)
    run_directory = PurePosixPath(config.run.directory.strip("/")) / names.run_id
    parent_file = run_directory / "parent_run.json"
    waits_for = [parent_file]

    export = KubernetesExport(names.run_id, names.namespace)
    administrative = administrative_objects(options, names)
    if options.create_namespace:
        export.files["00-namespace.yaml"] = administrative[:1]
        administrative = administrative[1:]
    export.files["01-rbac.yaml"] = administrative
    export.files["02-storage.yaml"] = storage_objects(options, names)
    tracker = tracker_objects(options, names, frame)
    if tracker:
        export.files["03-tracker.yaml"] = tracker
    if options.storage.seed:
        on_claim = (
            run_directory.relative_to("data")
            if run_directory.parts[0] == "data"
            else PurePosixPath(RUNS_SUB_PATH, names.run_id)
        )
        marker = str(on_claim / SEED_MARKER)
        export.files["05-seed.yaml"] = [seed_job(names, frame, options.storage.seed, marker=marker)]
        waits_for.append(run_directory / SEED_MARKER)

    workflow_command = [
        "python",
        "-m",
        "kedro_scanflow.tasks.compose_workflow",
        "--tracking-uri",
        tracking_uri,
        "--experiment",
        experiment,
        "--run-id",
        names.run_id,
        "--pipelines",
        ",".join(request.pipelines),
        "--parent-run-file",
        f"{CONTAINER_PROJECT}/{parent_file}",
    ]
    export.files["10-workflow-start.yaml"] = [
        _workflow_job(names, frame, START, _with_action(workflow_command, START))
    ]
    for index, task in enumerate(plan.tasks.values()):
        spec = _task_spec(task, plan, request, run_directory, tracking_uri, experiment, parent_file)
        gate = _gate(frame, run_directory, sorted(task.dependencies), waits_for)
        job = task_job(
            names=names,
            frame=frame,
            task=task,
            settings=settings_for(task, config.nodes, options.resources),
            spec=spec,
            init_containers=[gate],
            success_marker=f"{CONTAINER_PROJECT}/{_marker(run_directory, task.slug)}",
        )
        export.files[f"20-task-{index:02d}-{task.slug}.yaml"] = [job]
    export.files["30-workflow-finish.yaml"] = [
        _workflow_job(
            names,
            frame,
            FINISH,
            _with_action(workflow_command, FINISH),
            gate=_gate(frame, run_directory, sorted(plan.tasks), waits_for),
        )
    ]
    return export


def _with_action(command: list[str], action: str) -> list[str]:
    return [*command[:3], action, *command[3:]]


def _marker(run_directory: PurePosixPath, slug: str) -> PurePosixPath:
    return run_directory / "tasks" / success_marker_name(slug)


def _gate(
    frame: PodFrame, run_directory: PurePosixPath, upstream: list[str], files: list[PurePosixPath]
) -> V1Container:
    """An init container that waits for the upstream tasks (and ``files``)."""
    command = [
        "python",
        "-m",
        "kedro_scanflow.tasks.upstream_gate",
        "--run-directory",
        f"{CONTAINER_PROJECT}/{run_directory}",
    ]
    for path in files:
        command += ["--file", f"{CONTAINER_PROJECT}/{path}"]
    plan = ContainerPlan(
        name="wait-for-upstream",
        image=frame.image,
        command=command + upstream,
        user=f"{frame.uid}:{frame.uid}",
        labels={},
        environment={"HOME": TASK_HOME, "PYTHONUNBUFFERED": "1"},
    )
    return container_from_plan(plan, frame, with_secrets=False, name="wait-for-upstream")


def _workflow_job(
    names: ClusterNames,
    frame: PodFrame,
    action: str,
    command: list[str],
    gate: V1Container | None = None,
) -> V1Job:
    """``workflow-start`` (creates the parent run) or ``workflow-finish`` (ends it)."""
    plan = ContainerPlan(
        name=names.workflow_job(action),
        image=frame.image,
        command=command,
        user=f"{frame.uid}:{frame.uid}",
        labels={},
        environment={"HOME": TASK_HOME, "PYTHONUNBUFFERED": "1"},
    )
    container = container_from_plan(plan, frame, name="workflow")
    labels = names.run_labels(COMPONENT_WORKFLOW)
    return V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=V1ObjectMeta(
            name=names.workflow_job(action), namespace=names.namespace, labels=labels
        ),
        spec=V1JobSpec(
            backoff_limit=2 if action == START else 0,
            template=V1PodTemplateSpec(
                metadata=V1ObjectMeta(labels=labels),
                spec=pod_spec(
                    [container], frame, plan.tmpfs, init_containers=[gate] if gate else None
                ),
            ),
        ),
    )


def _task_spec(
    task: Task,
    plan: TaskPlan,
    request: RunRequest,
    run_directory: PurePosixPath,
    tracking_uri: str,
    experiment: str,
    parent_file: PurePosixPath,
) -> TaskSpec:
    return TaskSpec.for_task(
        task,
        plan,
        request,
        run_id=run_directory.name,
        run_directory=str(run_directory),
        backend="kubernetes",
        conf_source=None,  # pods read the configuration built into the image
        tracking=TrackingSpec(
            uri=tracking_uri, experiment=experiment, parent_run_file=str(parent_file)
        ),
    )
