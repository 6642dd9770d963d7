"""``kedro scanflow tracker`` and ``kedro scanflow clean``: the Docker backend's upkeep."""

from __future__ import annotations

import shutil
import time
from typing import TYPE_CHECKING

import click
from rich.console import Console

from kedro_scanflow.backends.base import BackendError
from kedro_scanflow.backends.docker.leftovers import remove_leftovers
from kedro_scanflow.backends.docker.run_labels import RunLabels
from kedro_scanflow.backends.docker.tracker_server import serve_tracker_volume
from kedro_scanflow.framework.cli.interrupts import interrupt_on_sigterm
from kedro_scanflow.framework.cli.project_config import project_config
from kedro_scanflow.images.docker_engine import docker_client
from kedro_scanflow.images.project_image import LABEL_UID, project_image_name
from kedro_scanflow.runs.process_lock import exclusive_lock
from kedro_scanflow.runs.run_directory import RunDirectory, new_run_id

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata

    from kedro_scanflow.config.scanflow_config import DockerBackendOptions


@click.command(name="tracker")
@click.option("--port", default=5000, show_default=True, help="Port on 127.0.0.1.")
@click.option("--env", "-e", default=None, help="Kedro configuration environment.")
@click.pass_obj
def tracker_command(metadata: ProjectMetadata, port: int, env: str | None) -> None:
    """Serve the Docker backend's tracker store (its volume) on 127.0.0.1 to browse past
    runs with the MLflow UI or query them (`kedro scanflow runs` with
    MLFLOW_TRACKING_URI set to the printed address). Stops on Ctrl-C."""
    config = project_config(metadata, env)
    options = config.backends.docker
    interrupt_on_sigterm()
    labels = RunLabels(metadata.package_name, metadata.project_path, f"ui-{new_run_id()}")
    # Held while serving, so that Docker runs share this tracker and never remove it as a
    # leftover; once this command is gone (even killed), the container is a leftover.
    serving = RunDirectory(metadata.project_path / config.run.directory / labels.run_id)
    serving.root.mkdir(parents=True, exist_ok=True)
    try:
        with exclusive_lock(serving.lock_path):
            _serve(metadata, options, labels, port)
    finally:
        shutil.rmtree(serving.root, ignore_errors=True)


def _serve(
    metadata: ProjectMetadata, options: DockerBackendOptions, labels: RunLabels, port: int
) -> None:
    """Serve the tracker volume until Ctrl-C or the container stops; then remove it."""
    image = options.image or project_image_name(metadata.package_name)
    console = Console(highlight=False)
    try:
        client = docker_client()
        uid = client.images.get(image).labels.get(LABEL_UID, "10001")
        container = serve_tracker_volume(
            client,
            labels,
            image,
            f"{uid}:{uid}",
            options.tracker.volume or labels.tracker_volume,
            port,
        )
    except BackendError as error:
        raise click.ClickException(str(error)) from None
    except Exception as error:  # noqa: BLE001 - docker SDK errors: image missing, port taken
        raise click.ClickException(f"Could not serve the tracker: {error}") from None
    console.print(
        f"MLflow tracker of {metadata.package_name}: http://127.0.0.1:{port} (Ctrl-C to stop). "
        "Docker runs of the project log to it while it serves."
    )
    try:
        while container.reload() or container.status == "running":
            time.sleep(1)
        console.print(container.logs(tail=20).decode(errors="replace"))
    except KeyboardInterrupt:
        pass
    finally:
        container.remove(force=True)


@click.command(name="clean")
@click.option("--all", "include_kept", is_flag=True, help="Also remove runs kept with --keep.")
@click.option("--env", "-e", default=None, help="Kedro configuration environment.")
@click.pass_obj
def clean_command(metadata: ProjectMetadata, include_kept: bool, env: str | None) -> None:
    """Remove the containers and networks that Docker runs of this project left behind
    (runs killed outright; with --all, runs kept with --keep). Runs in progress and the
    tracker's volume are never touched."""
    config = project_config(metadata, env)
    labels = RunLabels(metadata.package_name, metadata.project_path, "clean")
    try:
        removed = remove_leftovers(
            docker_client(),
            labels,
            metadata.project_path / config.run.directory,
            include_kept=include_kept,
        )
    except BackendError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"Removed {len(removed.containers)} container(s) and {len(removed.networks)} network(s)."
    )
    for name in removed.containers + removed.networks:
        click.echo(f"  {name}")
