"""``kedro scanflow base-image`` and ``kedro scanflow build``: images without a registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from kedro_scanflow.backends.base import BackendError
from kedro_scanflow.framework.cli.project_config import project_config
from kedro_scanflow.images import (
    BaseImageBuilder,
    BaseImageError,
    ImageBuildError,
    ProjectImageBuilder,
    WheelhouseError,
)

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata


@click.command(name="base-image")
@click.option("--tag", default=None, help="Image to make; default: backends.docker.base_image.")
@click.option("--suite", default="bookworm", show_default=True, help="Debian suite to bootstrap.")
@click.option("--mirror", default=None, help="Debian mirror; default: the host's apt source.")
@click.option("--force", is_flag=True, help="Rebuild even if the image exists.")
@click.option("--env", "-e", default=None, help="Kedro configuration environment.")
@click.pass_obj
def base_image_command(
    metadata: ProjectMetadata,
    tag: str | None,
    suite: str,
    mirror: str | None,
    force: bool,
    env: str | None,
) -> None:
    """Make a Python base image with debootstrap and `docker import`, for hosts that
    cannot pull from a registry (needs root and the debootstrap package). An existing
    image is kept."""
    config = project_config(metadata, env)
    console = Console(highlight=False)
    builder = BaseImageBuilder(tag or config.backends.docker.base_image, suite=suite, mirror=mirror)
    try:
        with console.status("Making the base image..."):
            result = builder.build(force=force, say=console.print)
    except (BaseImageError, BackendError) as error:
        raise click.ClickException(str(error)) from None
    console.print(f"[green]{result.tag}[/green]: Python {result.python_version}")


@click.command(name="build")
@click.option("--env", "-e", default=None, help="Kedro configuration environment.")
@click.option(
    "--push",
    "registry",
    default=None,
    metavar="REGISTRY",
    help="Then tag the images as REGISTRY/<image> and push them (for a cluster); "
    "set backends.kubernetes.registry to the same value to run them.",
)
@click.pass_obj
def build_command(metadata: ProjectMetadata, env: str | None, registry: str | None) -> None:
    """Build the project image (and the variants of nodes with extra requirements) from
    the base image, installing every package offline from a wheelhouse built here."""
    config = project_config(metadata, env)
    console = Console(highlight=False)
    builder = ProjectImageBuilder(
        metadata.project_path, metadata.package_name, config.backends.docker, config.nodes
    )
    try:
        with console.status(f"Building {builder.image}..."):
            built = builder.build(say=console.print)
    except (ImageBuildError, WheelhouseError, BackendError) as error:
        raise click.ClickException(str(error)) from None
    table = Table(title="Images", title_justify="left")
    for column in ("image", "id", "packages"):
        table.add_column(column)
    for image in built:
        table.add_row(
            image.tag, image.image_id.removeprefix("sha256:")[:12], str(len(image.requirements))
        )
    console.print(table)
    if registry:
        _push(console, [image.tag for image in built], registry)


def _push(console: Console, images: list[str], registry: str) -> None:
    from kedro_scanflow.images.image_push import ImagePushError, push_images  # noqa: PLC0415

    try:
        pushed = push_images(images, registry, say=console.print)
    except (ImagePushError, BackendError) as error:
        raise click.ClickException(str(error)) from None
    for name in pushed:
        console.print(f"[green]pushed[/green] {name}")
