"""The pipeline selectors of ``kedro run``, shared by the ``kedro scanflow`` commands.

They parse exactly as Kedro's own (comma-separated lists, node names with brackets,
``--params key=value,nested.key=value``), so a ``kedro run`` command line works the same
after ``kedro scanflow run``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from kedro.framework.cli.utils import (
    _split_load_versions,
    _split_params,
    split_node_names,
    split_string,
)

from kedro_scanflow.runs.run_request import RunRequest, is_local_conf_source

if TYPE_CHECKING:
    from collections.abc import Callable


def _conf_source(
    context: click.Context, parameter: click.Parameter, value: str | None
) -> str | None:
    """``--conf-source`` as an absolute path, so that task processes, containers and a
    resumed run find it whatever their working directory; a remote URL is kept as is."""
    if not is_local_conf_source(value):
        return value
    path = Path(value).expanduser()
    if not path.exists():
        raise click.BadParameter(f"{value} does not exist.", context, parameter)
    return str(path.resolve())


_OPTIONS: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
    click.option("--pipeline", "-p", "pipeline", default=None, help="Name of the pipeline to run."),
    click.option(
        "--pipelines", default="", callback=split_string, help="Comma-separated pipelines to run."
    ),
    click.option(
        "--nodes",
        "-n",
        "node_names",
        default="",
        callback=split_node_names,
        help="Run only these nodes (comma-separated names).",
    ),
    click.option(
        "--tags",
        "-t",
        default="",
        callback=split_string,
        help="Run only nodes with any of these tags.",
    ),
    click.option(
        "--namespaces",
        "-ns",
        default="",
        callback=split_node_names,
        help="Run only nodes in these namespaces.",
    ),
    click.option(
        "--from-nodes", default="", callback=split_node_names, help="Run from these nodes on."
    ),
    click.option(
        "--to-nodes", default="", callback=split_node_names, help="Run up to these nodes."
    ),
    click.option(
        "--from-inputs", default="", callback=split_string, help="Run from these datasets on."
    ),
    click.option(
        "--to-outputs", default="", callback=split_string, help="Run up to these datasets."
    ),
    click.option(
        "--load-versions",
        "-lv",
        default="",
        callback=_split_load_versions,
        help="Dataset versions to load: 'dataset:YYYY-MM-DDThh.mm.ss.sssZ,...'.",
    ),
    click.option("--env", "-e", default=None, help="Kedro configuration environment."),
    click.option(
        "--conf-source",
        default=None,
        callback=_conf_source,
        help="Configuration folder (or archive, local backend) instead of conf/.",
    ),
    click.option(
        "--params",
        type=click.UNPROCESSED,
        default="",
        callback=_split_params,
        help="Runtime parameters: 'key=value,nested.key=value'.",
    ),
]


def selection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the ``kedro run`` selectors to a click command."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def request_from_options(
    options: dict[str, Any],
    backend: str | None = None,
    max_workers: int | None = None,
    keep: bool = False,
) -> RunRequest:
    """Build a :class:`RunRequest` from the parsed selector options.

    Raises:
        click.UsageError: When ``--pipeline`` and ``--pipelines`` are both given.
    """
    if options["pipeline"] and options["pipelines"]:
        raise click.UsageError("Options '--pipeline' and '--pipelines' cannot be used together.")
    pipelines = [options["pipeline"]] if options["pipeline"] else list(options["pipelines"])
    return RunRequest(
        pipelines=pipelines or ["__default__"],
        node_names=list(options["node_names"]),
        tags=list(options["tags"]),
        namespaces=list(options["namespaces"]),
        from_nodes=list(options["from_nodes"]),
        to_nodes=list(options["to_nodes"]),
        from_inputs=list(options["from_inputs"]),
        to_outputs=list(options["to_outputs"]),
        load_versions=dict(options["load_versions"] or {}),
        env=options["env"],
        conf_source=options["conf_source"],
        runtime_params=dict(options["params"] or {}),
        backend=backend,
        max_workers=max_workers,
        keep=keep,
    )


SELECTION_KEYS = (
    "pipeline",
    "pipelines",
    "node_names",
    "tags",
    "namespaces",
    "from_nodes",
    "to_nodes",
    "from_inputs",
    "to_outputs",
    "load_versions",
    "env",
    "conf_source",
    "params",
)
