"""``kedro scanflow init``: write a documented ``scanflow.yml`` into the project."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata

TEMPLATE = "scanflow.yml"


def default_scanflow_yml(package_name: str) -> str:
    """The documented default ``scanflow.yml`` for a project package."""
    text = resources.files("kedro_scanflow.config").joinpath(TEMPLATE).read_text(encoding="utf-8")
    return text.replace("{{ package_name }}", package_name)


@click.command(name="init")
@click.option("--env", "-e", default="base", show_default=True, help="Environment to write into.")
@click.option("--force", is_flag=True, help="Overwrite an existing scanflow.yml.")
@click.pass_obj
def init_command(metadata: ProjectMetadata, env: str, force: bool) -> None:
    """Write conf/<env>/scanflow.yml with every option and its default, documented."""
    from kedro.framework.project import settings  # noqa: PLC0415

    target = metadata.project_path / settings.CONF_SOURCE / env / TEMPLATE
    if target.exists() and not force:
        raise click.ClickException(f"{target} already exists; use --force to overwrite it.")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(default_scanflow_yml(metadata.package_name), encoding="utf-8")
    click.secho(f"Wrote {target.relative_to(metadata.project_path)}", fg="green")
