"""``kedro scanflow agent``: the supervision loop on the predictions ``serve`` records."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.console import Console

from kedro_scanflow.backends import BackendError, backend_names
from kedro_scanflow.framework.cli.interrupts import interrupt_on_sigterm
from kedro_scanflow.framework.cli.project_config import project_config

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata


@click.command(name="agent")
@click.option("--env", "-e", default=None, help="Kedro configuration environment.")
@click.option(
    "--backend",
    "-b",
    type=click.Choice(list(backend_names())),
    default=None,
    help="Where the agent's runs execute; default: agent.backend, else run.backend.",
)
@click.option(
    "--max-cycles",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many finished cycles.",
)
@click.option("--until-idle", is_flag=True, help="Stop as soon as there is nothing to do but wait.")
@click.pass_obj
def agent_command(
    metadata: ProjectMetadata,
    env: str | None,
    backend: str | None,
    max_cycles: int | None,
    until_idle: bool,
) -> None:
    """Watch the recorded predictions and keep the served model healthy: past
    agent.min_new_predictions new ones, check them for drift; with enough critical points,
    get them labelled (`kedro scanflow label`, or the oracle), retrain, and promote the
    better model. Each step is a tracked Kedro run; stop and restart at any time."""
    import keras  # noqa: F401, PLC0415 - before kedro-mlflow's import hooks, which warn otherwise

    from kedro_scanflow.agent.supervision_agent import AgentError, SupervisionAgent  # noqa: PLC0415
    from kedro_scanflow.runs.workflow_run import WorkflowError  # noqa: PLC0415

    config = project_config(metadata, env)
    console = Console(highlight=False)
    try:
        agent = SupervisionAgent(
            metadata.project_path, metadata.package_name, config, console, env=env, backend=backend
        )
    except AgentError as error:
        raise click.ClickException(str(error)) from None
    options = config.agent
    console.print(
        f"Agent on [bold]{agent.agent.name}[/]: a cycle starts at {options.min_new_predictions} new "
        f"predictions in {agent.predictions.path}; state in {agent.state_path}."
    )
    interrupt_on_sigterm()
    try:
        state = agent.run(max_cycles=max_cycles, until_idle=until_idle)
    except KeyboardInterrupt:
        console.print(f"Agent stopped; restart it to carry on ({agent.state_path}).")
        raise click.exceptions.Exit(130) from None
    except (AgentError, WorkflowError, BackendError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    console.print(
        f"Agent done: {state.cycles_done} cycles so far, cursor at prediction {state.cursor}."
    )
