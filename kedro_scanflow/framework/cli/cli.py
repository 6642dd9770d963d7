"""The ``kedro scanflow`` command group (entry point ``kedro.project_commands``)."""

from __future__ import annotations

import warnings

import click

from kedro_scanflow.framework.cli.agent_command import agent_command
from kedro_scanflow.framework.cli.deploy_command import deploy_command
from kedro_scanflow.framework.cli.docker_commands import clean_command, tracker_command
from kedro_scanflow.framework.cli.export_command import export_command
from kedro_scanflow.framework.cli.graph_command import graph_command
from kedro_scanflow.framework.cli.image_commands import base_image_command, build_command
from kedro_scanflow.framework.cli.init_command import init_command
from kedro_scanflow.framework.cli.label_command import label_command
from kedro_scanflow.framework.cli.rollback_command import rollback_command
from kedro_scanflow.framework.cli.run_command import run_command
from kedro_scanflow.framework.cli.runs_command import runs_command
from kedro_scanflow.framework.cli.serve_command import serve_command


@click.group(name="Scanflow")
def commands() -> None:
    """Commands that kedro-scanflow adds to a Kedro project."""


@commands.group(name="scanflow")
def scanflow() -> None:
    """Scanflow workflows: run every node in its own process, container or pod, track
    it all in MLflow, and supervise deployed models."""
    # Kedro's OmegaConf loader calls a resolver API that recent OmegaConf deprecates; the
    # warning is about Kedro, not the project, and every session would print it again.
    warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated")


for _command in (
    init_command,
    run_command,
    graph_command,
    runs_command,
    base_image_command,
    build_command,
    tracker_command,
    clean_command,
    export_command,
    rollback_command,
    serve_command,
    label_command,
    agent_command,
    deploy_command,
):
    scanflow.add_command(_command)
