"""Reading a project's ``scanflow.yml`` (and its tracker) from a command that does not
run a pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from kedro.framework.session import KedroSession

from kedro_scanflow.config import ScanflowConfigError, load_scanflow_config
from kedro_scanflow.pipeline.task_plan import TaskPlanError
from kedro_scanflow.runs.workflow_run import PreparedWorkflow, WorkflowError, prepare_workflow
from kedro_scanflow.tracking.tracking_uri import TrackingConfigError, resolve_tracking_target

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata

    from kedro_scanflow.config import ScanflowConfig
    from kedro_scanflow.runs.run_request import RunRequest
    from kedro_scanflow.tracking.tracking_uri import TrackingTarget


def project_config(metadata: ProjectMetadata, env: str | None = None) -> ScanflowConfig:
    """The validated ``scanflow.yml`` of the project (environment ``env``).

    Raises:
        click.ClickException: When the file is invalid; the message names file and key.
    """
    return project_settings(metadata, env)[0]


def project_settings(
    metadata: ProjectMetadata, env: str | None = None
) -> tuple[ScanflowConfig, TrackingTarget]:
    """The validated ``scanflow.yml`` and the resolved tracker of the project.

    Raises:
        click.ClickException: When the configuration is invalid.
    """
    try:
        with KedroSession.create(metadata.project_path, env=env) as session:
            loader = session.load_context().config_loader
            config = load_scanflow_config(loader)
            tracking = resolve_tracking_target(
                config.tracker, loader, metadata.project_path, metadata.package_name
            )
    except (ScanflowConfigError, TrackingConfigError) as error:
        raise click.ClickException(str(error)) from None
    return config, tracking


def planned_workflow(metadata: ProjectMetadata, request: RunRequest) -> PreparedWorkflow:
    """The task plan of ``request``, for commands that describe a run without starting it
    (inputs are not checked: nothing is loaded).

    Raises:
        click.ClickException: For an unknown pipeline, an empty selection or an invalid
            configuration.
    """
    try:
        with KedroSession.create(
            metadata.project_path,
            env=request.env,
            runtime_params=request.runtime_params or None,
            conf_source=request.conf_source,
        ) as session:
            return prepare_workflow(
                session, metadata.project_path, metadata.package_name, request, check_inputs=False
            )
    except (WorkflowError, ScanflowConfigError, TaskPlanError, TrackingConfigError) as error:
        raise click.ClickException(str(error)) from None
