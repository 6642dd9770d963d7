"""``kedro scanflow graph``: print the Scanflow multigraph of a pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kedro_scanflow.framework.cli.project_config import planned_workflow
from kedro_scanflow.framework.cli.selection_options import (
    SELECTION_KEYS,
    request_from_options,
    selection_options,
)
from kedro_scanflow.pipeline.scanflow_graph import ScanflowGraph

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata


@click.command(name="graph")
@selection_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    help="Readable text or JSON for other tools.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of printing.",
)
@click.pass_obj
def graph_command(
    metadata: ProjectMetadata, output_format: str, output: Path | None, **options: Any
) -> None:
    """Show the Scanflow multigraph of a pipeline: its task nodes, the volume edges
    (datasets between tasks) and the tracker edges (metadata to MLflow)."""
    request = request_from_options({key: options[key] for key in SELECTION_KEYS})
    prepared = planned_workflow(metadata, request)
    graph = ScanflowGraph.from_plan(
        prepared.plan, prepared.catalog, request.pipelines, prepared.tracking.uri
    )
    text = graph.to_json() if output_format == "json" else graph.to_text()
    if output is None:
        click.echo(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text + "\n", encoding="utf-8")
        click.echo(f"Wrote the Scanflow graph to {output}")
