"""``kedro scanflow deploy``: ``serve`` and ``agent`` as long-running services."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.console import Console

from kedro_scanflow.backends.base import BackendError
from kedro_scanflow.framework.cli.project_config import project_config

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata

    from kedro_scanflow.backends.services import ServiceContext, ServiceDeployer


@click.command(name="deploy")
@click.option(
    "--backend",
    "-b",
    type=click.Choice(["docker", "kubernetes"]),
    default="docker",
    show_default=True,
    help="Where the services run.",
)
@click.option(
    "--down", is_flag=True, help="Remove the services instead (data and tracker store stay)."
)
@click.option("--env", "-e", default=None, help="Kedro configuration environment of the services.")
@click.pass_obj
def deploy_command(metadata: ProjectMetadata, backend: str, down: bool, env: str | None) -> None:
    """Deploy `kedro scanflow serve` and `kedro scanflow agent` next to the tracker:
    containers on this Docker engine (serve published on 127.0.0.1 only), or Deployments
    on the configured Kubernetes cluster. Build (and, for Kubernetes, push) the project
    image first: `kedro scanflow build`."""
    from kedro_scanflow.backends.services import ServiceContext  # noqa: PLC0415

    console = Console(highlight=False)
    context = ServiceContext(
        metadata.project_path, metadata.package_name, project_config(metadata, env), env, console
    )
    deployer = _deployer(backend, context)
    try:
        if down:
            removed = deployer.remove()
            console.print(
                f"Removed {len(removed)} object(s)" + "".join(f"\n  {name}" for name in removed)
            )
            return
        with console.status(f"Deploying serve and agent on {backend}..."):
            report = deployer.deploy()
    except BackendError as error:
        raise click.ClickException(f"{type(error).__name__}: {error}") from None
    console.print(
        f"[bold]Deployed on {backend}[/]:" + "".join(f"\n  {name}" for name in report.objects)
    )
    console.print(f"serve:   {report.serve_address}")
    if report.tracker_address:
        console.print(f"tracker: {report.tracker_address}")
    for note in report.notes:
        console.print(note)
    console.print(f"Remove with: kedro scanflow deploy --backend {backend} --down")


def _deployer(backend: str, context: ServiceContext) -> ServiceDeployer:
    if backend == "docker":
        from kedro_scanflow.backends.docker.service_deployment import DockerServiceDeployer  # noqa: PLC0415

        return DockerServiceDeployer(context)
    from kedro_scanflow.backends.kubernetes.service_deployment import KubernetesServiceDeployer  # noqa: PLC0415

    return KubernetesServiceDeployer(context)
