"""``kedro scanflow export``: write what a backend would run as files for other tools."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kedro_scanflow.backends.docker.container_plan import ConfSourceError
from kedro_scanflow.export.compose_file import export_compose
from kedro_scanflow.framework.cli.project_config import planned_workflow
from kedro_scanflow.framework.cli.selection_options import (
    SELECTION_KEYS,
    request_from_options,
    selection_options,
)

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata

    from kedro_scanflow.runs.run_request import RunRequest
    from kedro_scanflow.runs.workflow_run import PreparedWorkflow

DEFAULT_OUTPUTS = {"compose": "docker-compose.scanflow.yml", "kubernetes": "kubernetes"}


@click.command(name="export")
@selection_options
@click.option(
    "--target",
    "-t",
    type=click.Choice(sorted(DEFAULT_OUTPUTS)),
    default="compose",
    show_default=True,
    help="What to write.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="File to write (compose) or folder (kubernetes).",
)
@click.pass_obj
def export_command(
    metadata: ProjectMetadata, target: str, output: Path | None, **options: Any
) -> None:
    """Write the workflow as a docker-compose file: one service per task with the Docker
    backend's image, mounts, limits and security settings, the MLflow tracker, the
    network, and the task graph as dependencies. Run it with `docker compose up`.

    With --target kubernetes: a folder of manifests with a kustomization.yaml (namespace,
    ServiceAccount and Role, claims, tracker, one Job per task), for kubectl apply -k."""
    request = request_from_options({key: options[key] for key in SELECTION_KEYS})
    output = (output or metadata.project_path / DEFAULT_OUTPUTS[target]).resolve()
    prepared = planned_workflow(metadata, request)
    try:
        if target == "kubernetes":
            _export_kubernetes(metadata, prepared, request, output)
            return
        exported = export_compose(**_workflow_arguments(metadata, prepared, request), output=output)
    except ConfSourceError as error:
        raise click.ClickException(str(error)) from None
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(exported.to_yaml(), encoding="utf-8")
    finish = exported.document["services"]["workflow-finish"]["container_name"]
    click.echo(
        f"Wrote {output} ({len(prepared.plan.tasks)} task service(s)); task specs are in "
        f"{exported.run_directory.root}.\n"
        f"Run it with: docker compose -f {output.name} up -d && docker wait {finish}"
    )


def _export_kubernetes(
    metadata: ProjectMetadata, prepared: PreparedWorkflow, request: RunRequest, output: Path
) -> None:
    from kedro_scanflow.export.kubernetes_manifests import export_kubernetes  # noqa: PLC0415

    exported = export_kubernetes(**_workflow_arguments(metadata, prepared, request))
    files = exported.write(output)
    click.echo(
        f"Wrote {len(files)} file(s) to {output} ({len(prepared.plan.tasks)} task Job(s), "
        f"run {exported.run_id}, namespace {exported.namespace}).\n"
        f"Apply them with: kubectl apply -k {output}"
    )


def _workflow_arguments(
    metadata: ProjectMetadata, prepared: PreparedWorkflow, request: RunRequest
) -> dict[str, Any]:
    """What both exporters are given: the planned workflow, the request and the project."""
    return {
        "plan": prepared.plan,
        "config": prepared.config,
        "request": request,
        "project_path": metadata.project_path,
        "package_name": metadata.package_name,
        "experiment": prepared.tracking.experiment,
    }
