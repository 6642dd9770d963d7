"""``kedro scanflow rollback``: give the champion alias back to the previous model."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from kedro_scanflow.tracking.model_registry import CHAMPION, ModelRegistry
from kedro_scanflow.tracking.tracker_query import TrackerQuery

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata


@click.command(name="rollback")
@click.argument("model_name")
@click.option("--alias", default=CHAMPION, show_default=True, help="The alias to move.")
@click.option(
    "--to",
    "to_version",
    default=None,
    help="Version to move it to; default: the previous champion.",
)
@click.option("--env", "-e", default=None, help="Kedro configuration environment.")
@click.pass_obj
def rollback_command(
    metadata: ProjectMetadata, model_name: str, alias: str, to_version: str | None, env: str | None
) -> None:
    """Move a registered model's alias (the champion, by default) back to the previous
    champion, or to --to VERSION. Nothing is deleted: every version stays reachable and
    the move is recorded in the model's champion history."""
    query = TrackerQuery.for_project(metadata.project_path, env=env)
    registry = ModelRegistry(query.client)
    try:
        before, after = registry.rollback(model_name, alias, to_version)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{model_name}@{alias}: version {before} -> version {after}")
