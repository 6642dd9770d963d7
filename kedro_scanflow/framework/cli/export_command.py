"""``kedro scanflow export``: write what a backend would run as files for other tools."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from kedro.framework.session import KedroSession

from kedro_scanflow.config import ScanflowConfigError
from kedro_scanflow.export.compose_file import export_compose
from kedro_scanflow.framework.cli.selection_options import (
    SELECTION_KEYS,
    request_from_options,
    selection_options,
)
from kedro_scanflow.pipeline.task_plan import TaskPlanError
from kedro_scanflow.runs.workflow_run import WorkflowError, prepare_workflow
from kedro_scanflow.tracking.tracking_uri import TrackingConfigError

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata

DEFAULT_OUTPUTS = {"compose": "docker-compose.scanflow.yml"}


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
    "--output", "-o", type=click.Path(path_type=Path), default=None, help="File to write."
)
@click.pass_obj
def export_command(
    metadata: ProjectMetadata, target: str, output: Path | None, **options: Any
) -> None:
    """Write the workflow as a docker-compose file: one service per task with the Docker
    backend's image, mounts, limits and security settings, the MLflow tracker, the
    network, and the task graph as dependencies. Run it with `docker compose up`."""
    request = request_from_options({key: options[key] for key in SELECTION_KEYS})
    output = (output or metadata.project_path / DEFAULT_OUTPUTS[target]).resolve()
    try:
        with KedroSession.create(
            metadata.project_path,
            env=request.env,
            runtime_params=request.runtime_params or None,
            conf_source=request.conf_source,
        ) as session:
            prepared = prepare_workflow(
                session, metadata.project_path, metadata.package_name, request, check_inputs=False
            )
    except (WorkflowError, ScanflowConfigError, TaskPlanError, TrackingConfigError) as error:
        raise click.ClickException(str(error)) from None
    exported = export_compose(
        plan=prepared.plan,
        config=prepared.config,
        request=request,
        project_path=metadata.project_path,
        package_name=metadata.package_name,
        experiment=prepared.tracking.experiment,
        output=output,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(exported.to_yaml(), encoding="utf-8")
    finish = exported.document["services"]["workflow-finish"]["container_name"]
    click.echo(
        f"Wrote {output} ({len(prepared.plan.tasks)} task service(s)); task specs are in "
        f"{exported.run_directory.root}.\n"
        f"Run it with: docker compose -f {output.name} up -d && docker wait {finish}"
    )
