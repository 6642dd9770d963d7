"""``kedro scanflow runs``: what the tracker knows about workflow runs."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from kedro_scanflow.tracking.tracker_query import TrackerQuery

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata

    from kedro_scanflow.tracking.tracker_query import RunMetadata


@click.command(name="runs")
@click.argument("run_id", required=False)
@click.option("--pipeline", "-p", default=None, help="Only runs of this pipeline.")
@click.option("--limit", default=10, show_default=True, help="How many runs to list.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--env", "-e", default=None, help="Kedro configuration environment.")
@click.pass_obj
def runs_command(
    metadata: ProjectMetadata,
    run_id: str | None,
    pipeline: str | None,
    limit: int,
    as_json: bool,
    env: str | None,
) -> None:
    """List recent workflow runs, or show one run (a Scanflow run id or an MLflow run id)
    with its task runs: status, duration, process or container, metrics."""
    query = TrackerQuery.for_project(metadata.project_path, env=env)
    if run_id is None:
        runs = query.workflow_runs(pipeline=pipeline, max_results=limit)
        _print(runs, as_json, "Workflow runs")
        return
    parents = query.workflow_runs(scanflow_run_id=run_id, max_results=100)
    if not parents:
        try:
            parents = [query.gather(run_id)]
        except Exception:  # noqa: BLE001 - any lookup failure means "not found"
            raise click.ClickException(
                f"No workflow run '{run_id}' in the tracker at {query.tracking_uri}."
            ) from None
    for parent in reversed(parents):
        tasks = query.task_runs(parent.run_id)
        if as_json:
            click.echo(
                json.dumps(
                    {"workflow": _as_dict(parent), "tasks": [_as_dict(t) for t in tasks]}, indent=2
                )
            )
        else:
            _print([parent], False, f"Workflow run {parent.run_id}")
            _print(tasks, False, "Task runs")


def _as_dict(run: RunMetadata) -> dict[str, object]:
    return {
        "run_id": run.run_id,
        "name": run.name,
        "status": run.status,
        "duration_s": run.duration_s,
        "params": run.params,
        "metrics": run.metrics,
        "tags": run.tags,
    }


def _print(runs: list[RunMetadata], as_json: bool, title: str) -> None:
    if as_json:
        click.echo(json.dumps([_as_dict(run) for run in runs], indent=2))
        return
    console = Console(highlight=False)
    table = Table(title=title, title_justify="left")
    for column in ("name", "status", "started (UTC)", "seconds", "where", "MLflow run"):
        table.add_column(column, overflow="fold")
    for run in runs:
        started = (
            datetime.fromtimestamp(run.start_time / 1000, tz=timezone.utc).strftime(
                "%Y-%m-%d %H:%M:%S"
            )
            if run.start_time
            else ""
        )
        where = (
            run.tags.get("scanflow.container_id")
            or run.tags.get("scanflow.pid")
            or run.tags.get("scanflow.backend", "")
        )
        duration = f"{run.duration_s:.1f}" if run.duration_s is not None else ""
        table.add_row(run.name, run.status, started, duration, where, run.run_id)
    console.print(table)
    for run in runs:
        if run.metrics:
            shown = ", ".join(f"{k}={v:.4g}" for k, v in sorted(run.metrics.items()))
            console.print(f"  {run.name}: {shown}", soft_wrap=True)
