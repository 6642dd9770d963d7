"""``ComposeExport``: a docker-compose file that runs what the Docker backend runs.

One service per task (same image, command, mounts, limits and security settings as the
backend, from the same :class:`ContainerPlan`), the MLflow tracker service with its
volume, a private network, and the task graph as ``depends_on`` conditions. Because no
orchestrator runs, a ``workflow-start`` service creates the parent MLflow run (tasks
create their own child runs under it) and ``workflow-finish`` ends it. The task specs are
written into a run directory on the shared volume next to the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import yaml

from kedro_scanflow.backends.docker.container_plan import (
    ContainerPlan,
    check_conf_source,
    container_conf_source,
    shared_mounts,
    task_container_plan,
    tracker_container_plan,
)
from kedro_scanflow.backends.docker.run_labels import (
    ROLE_TASK,
    ROLE_TRACKER,
    TRACKER_ALIAS,
    TRACKER_PORT,
    RunLabels,
)
from kedro_scanflow.backends.docker.shared_folders import hand_over_shared_folders
from kedro_scanflow.config.node_settings import settings_for
from kedro_scanflow.images.project_image import (
    CONTAINER_PROJECT,
    image_user_ids,
    project_image_name,
    variant_image_name,
)
from kedro_scanflow.runs.run_directory import RunDirectory
from kedro_scanflow.tasks.task_spec import TaskSpec, TrackingSpec

if TYPE_CHECKING:
    from kedro_scanflow.config import ScanflowConfig
    from kedro_scanflow.pipeline.task_plan import TaskPlan
    from kedro_scanflow.runs.run_request import RunRequest

NETWORK = "scanflow"
TRACKER_VOLUME_KEY = "tracker-store"
START, FINISH = "workflow-start", "workflow-finish"


@dataclass(frozen=True)
class ComposeExport:
    """The compose document and the run directory its services use."""

    document: dict[str, Any]
    run_directory: RunDirectory

    def to_yaml(self) -> str:
        finish = self.document["services"][FINISH]["container_name"]
        header = (
            "# Written by `kedro scanflow export --target compose`: the workflow as the Docker\n"
            "# backend runs it. Run it, then wait for its end (the tracker keeps running):\n"
            "#   docker compose -f <this file> up -d && docker wait " + finish + "\n"
            "#   docker compose -f <this file> down\n"
        )
        return header + yaml.safe_dump(self.document, sort_keys=False, width=120)


def export_compose(
    *,
    plan: TaskPlan,
    config: ScanflowConfig,
    request: RunRequest,
    project_path: Path,
    package_name: str,
    experiment: str,
    output: Path,
) -> ComposeExport:
    """Build the compose document for ``plan`` and write the task specs it needs.

    Args:
        plan: The tasks to run.
        config: The project's ``scanflow.yml``.
        request: The pipelines, env and parameters the tasks run with.
        project_path: Root of the project.
        package_name: The project's package.
        experiment: MLflow experiment of the runs.
        output: Where the compose file will be written; mount paths are relative to it.

    Raises:
        ConfSourceError: When ``--conf-source`` is an archive, not a folder to mount.
    """
    check_conf_source(request.conf_source, "a compose file")
    options = config.backends.docker
    run_directory = RunDirectory.create(project_path / config.run.directory, request)
    run_directory.save_record(run_directory.record())
    labels = RunLabels(package_name, project_path, run_directory.run_id)
    image = options.image or project_image_name(package_name)
    uid, gid = image_user_ids()
    user = f"{uid}:{gid}"
    tracker_uri = f"http://{TRACKER_ALIAS}:{TRACKER_PORT}"
    parent_file = PurePosixPath(
        os.path.relpath(run_directory.root / "parent_run.json", project_path)
    )
    base = output.parent.resolve()
    mounts = shared_mounts(project_path, run_directory.root, request.conf_source)

    services: dict[str, Any] = {}
    tracker = tracker_container_plan(
        name=labels.container("tracker"),
        image=image,
        user=user,
        labels=labels.labels(ROLE_TRACKER),
        port=TRACKER_PORT,
        volume=TRACKER_VOLUME_KEY,
    )
    services[TRACKER_ALIAS] = _service(tracker, base) | {
        "ports": [f"127.0.0.1:{options.tracker.host_port or TRACKER_PORT}:{TRACKER_PORT}"],
        "healthcheck": {
            "test": [
                "CMD",
                "python",
                "-c",
                f"import urllib.request; urllib.request.urlopen('{tracker_uri.replace(TRACKER_ALIAS, 'localhost')}/health')",
            ],
            "interval": "5s",
            "timeout": "5s",
            "retries": 30,
        },
    }
    workflow_command = [
        "python",
        "-m",
        "kedro_scanflow.tasks.compose_workflow",
        "--tracking-uri",
        tracker_uri,
        "--experiment",
        experiment,
        "--run-id",
        run_directory.run_id,
        "--pipelines",
        ",".join(request.pipelines),
        "--parent-run-file",
        f"{CONTAINER_PROJECT}/{parent_file}",
    ]
    for name, action in ((START, "start"), (FINISH, "finish")):
        plan_ = ContainerPlan(
            name=labels.container(name),
            image=image,
            command=workflow_command[:3] + [action] + workflow_command[3:],
            user=user,
            labels=labels.labels(name),
            mounts=mounts,
            environment={"HOME": "/tmp/home"},
        )
        services[name] = _service(plan_, base)
    services[START]["depends_on"] = {TRACKER_ALIAS: {"condition": "service_healthy"}}

    for task in plan.tasks.values():
        settings = settings_for(task, config.nodes, options.resources)
        spec_path = run_directory.spec_path(task.slug)
        _task_spec(
            task, plan, request, run_directory, project_path, tracker_uri, experiment, parent_file
        ).save(spec_path)
        container = task_container_plan(
            name=labels.container(task.slug),
            image=settings.image
            or (
                variant_image_name(image, settings.requirements) if settings.requirements else image
            ),
            user=user,
            labels=labels.labels(ROLE_TASK, task.slug),
            spec_path=PurePosixPath(os.path.relpath(spec_path, project_path)),
            mounts=mounts,
            settings=settings,
            preload=[],
            await_spec=False,
        )
        service = _service(container, base)
        service["depends_on"] = {START: {"condition": "service_completed_successfully"}} | {
            upstream: {"condition": "service_completed_successfully"}
            for upstream in sorted(task.dependencies)
        }
        services[task.slug] = service
    hand_over_shared_folders(project_path, run_directory.root, uid)
    services[FINISH]["depends_on"] = {
        slug: {"condition": "service_completed_successfully"} for slug in plan.tasks
    }
    document = {
        "services": services,
        "networks": {NETWORK: {"name": labels.network, "labels": labels.labels("network")}},
        "volumes": {
            TRACKER_VOLUME_KEY: {"name": labels.tracker_volume, "labels": labels.project_selector()}
        },
    }
    return ComposeExport(document=document, run_directory=run_directory)


def _task_spec(
    task: Any,
    plan: TaskPlan,
    request: RunRequest,
    run_directory: RunDirectory,
    project_path: Path,
    tracker_uri: str,
    experiment: str,
    parent_file: PurePosixPath,
) -> TaskSpec:
    return TaskSpec.for_task(
        task,
        plan,
        request,
        run_id=run_directory.run_id,
        run_directory=os.path.relpath(run_directory.root, project_path),
        backend="compose",
        conf_source=container_conf_source(request.conf_source),
        tracking=TrackingSpec(
            uri=tracker_uri, experiment=experiment, parent_run_file=str(parent_file)
        ),
    )


def _service(plan: ContainerPlan, base: Path) -> dict[str, Any]:
    """A compose service with the same settings as the container the backend creates."""
    service: dict[str, Any] = {
        "image": plan.image,
        "container_name": plan.name,
        "command": plan.command,
        "user": plan.user,
        "working_dir": plan.working_dir,
        "labels": plan.labels,
        "environment": plan.environment,
        "volumes": [
            _volume(mount.source, mount.target, mount.read_only, base) for mount in plan.mounts
        ],
        "networks": [NETWORK],
        "read_only": plan.read_only,
        "tmpfs": list(plan.tmpfs),
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
    }
    if plan.cpus is not None:
        service["cpus"] = plan.cpus
    if plan.memory_bytes is not None:
        service["mem_limit"] = plan.memory_bytes
    if plan.cpu_shares is not None:
        service["cpu_shares"] = plan.cpu_shares
    if plan.gpus:
        service["deploy"] = {
            "resources": {
                "reservations": {
                    "devices": [{"driver": "nvidia", "count": plan.gpus, "capabilities": ["gpu"]}]
                }
            }
        }
    return service


def _volume(source: Path | str, target: str, read_only: bool, base: Path) -> str:
    if isinstance(source, Path):
        relative = os.path.relpath(source.resolve(), base)
        source = relative if relative.startswith(".") else f"./{relative}"
    return f"{source}:{target}{':ro' if read_only else ''}"
