"""``kedro scanflow run``: run a pipeline with every task in its own process, container or pod."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from kedro_scanflow.backends import BackendError, backend_names
from kedro_scanflow.config import ScanflowConfigError
from kedro_scanflow.framework.cli.interrupts import interrupt_on_sigterm
from kedro_scanflow.framework.cli.selection_options import (
    SELECTION_KEYS,
    request_from_options,
    selection_options,
)
from kedro_scanflow.pipeline.task_plan import TaskPlanError
from kedro_scanflow.runs.workflow_run import WorkflowError, run_workflow
from kedro_scanflow.tracking.tracking_uri import TrackingConfigError

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata

    from kedro_scanflow.runs.workflow_run import WorkflowResult


@click.command(name="run")
@selection_options
@click.option(
    "--backend",
    "-b",
    type=click.Choice(list(backend_names())),
    default=None,
    help="Where each task runs; default: run.backend in scanflow.yml ('local').",
)
@click.option(
    "--max-workers",
    "-w",
    type=click.IntRange(min=1),
    default=None,
    help="Tasks running at once; default: run.max_workers or the number of CPUs.",
)
@click.option(
    "--keep",
    is_flag=True,
    help="Keep the run's containers and network (Docker) or pods (Kubernetes) to inspect them.",
)
@click.option(
    "--resume",
    "resume",
    default=None,
    metavar="RUN_ID",
    help="Run the unfinished tasks of an earlier run ('latest' for the most recent); "
    "the earlier run's pipeline, selectors and parameters are reused.",
)
@click.pass_obj
def run_command(
    metadata: ProjectMetadata,
    backend: str | None,
    max_workers: int | None,
    keep: bool,
    resume: str | None,
    **options: Any,
) -> None:
    """Run a pipeline as a Scanflow workflow: each node is a task in its own process
    (or container, or pod), tasks run in parallel where the graph allows, data between
    tasks goes over the run's shared volume, and everything is tracked in MLflow."""
    selection = {key: options[key] for key in SELECTION_KEYS}
    if resume and _selects_something(selection):
        raise click.UsageError(
            "--resume repeats the earlier run's selection; drop the selector options."
        )
    request = request_from_options(selection, backend=backend, max_workers=max_workers, keep=keep)
    interrupt_on_sigterm()
    console = Console(highlight=False)
    try:
        result = run_workflow(
            metadata.project_path, metadata.package_name, request, console, resume=resume
        )
    except (WorkflowError, ScanflowConfigError, TaskPlanError, TrackingConfigError) as error:
        raise click.ClickException(str(error)) from None
    except BackendError as error:
        raise click.ClickException(f"{type(error).__name__}: {error}") from None
    _report(console, result)
    if not result.succeeded:
        raise click.exceptions.Exit(1)


def _selects_something(selection: dict[str, Any]) -> bool:
    return any(value for key, value in selection.items() if key not in ("env", "conf_source"))


def _report(console: Console, result: WorkflowResult) -> None:
    table = Table(title=f"Scanflow run {result.run_id}", title_justify="left")
    for column in ("task", "status", "seconds", result.backend, "MLflow run"):
        table.add_column(column)
    for slug in result.plan.tasks:
        state = result.run_directory.task_state(slug)
        if state is None:
            continue
        status_style = {"succeeded": "green", "failed": "bold red", "cancelled": "yellow"}.get(
            state.status.value, ""
        )
        table.add_row(
            state.name,
            f"[{status_style}]{state.status.value}[/]" if status_style else state.status.value,
            f"{state.duration_s:.1f}" if state.duration_s is not None else "",
            (state.handle or "")[:12],
            state.mlflow_run_id or "",
        )
    console.print(table)
    status = "FINISHED" if result.succeeded else "FAILED"
    if result.tracker_note:
        where = f"({result.tracker_note})"
    else:
        where = (
            f"at {result.tracking.uri}\n"
            f"  browse: mlflow ui --backend-store-uri '{result.tracking.uri}'\n"
            f"  query:  kedro scanflow runs {result.run_id}"
        )
    console.print(
        f"MLflow parent run {result.parent_run_id} ({status}) in experiment "
        f"'{result.tracking.experiment}' {where}"
    )
    outcome = result.outcome
    for failure in outcome.failed:
        console.print(f"[bold red]Error:[/] {failure.describe()}", soft_wrap=True)
    if outcome.cancelled:
        console.print(f"Not run because of the failure: {', '.join(outcome.cancelled)}")
    if not result.succeeded:
        console.print(
            f"Outputs of finished tasks are kept in {result.run_directory.root}.\n"
            f"Resume with: [bold]kedro scanflow run --resume {result.run_id}[/bold]"
        )
