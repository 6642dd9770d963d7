"""Reading a project's ``scanflow.yml`` from a command that does not run a pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from kedro.framework.session import KedroSession

from kedro_scanflow.config import ScanflowConfigError, load_scanflow_config

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata

    from kedro_scanflow.config import ScanflowConfig


def project_config(metadata: ProjectMetadata, env: str | None = None) -> ScanflowConfig:
    """The validated ``scanflow.yml`` of the project (environment ``env``).

    Raises:
        click.ClickException: When the file is invalid; the message names file and key.
    """
    try:
        with KedroSession.create(metadata.project_path, env=env) as session:
            return load_scanflow_config(session.load_context().config_loader)
    except ScanflowConfigError as error:
        raise click.ClickException(str(error)) from None
