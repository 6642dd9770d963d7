"""``kedro scanflow label``: the labeling page, where a human answers the checkers."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

import click

from kedro_scanflow.framework.cli.project_config import project_config

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata


@click.command(name="label")
@click.argument("task", required=False)
@click.option("--host", default=None, help="Interface to bind; default: labeling.host (127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port; default: labeling.port (8777).")
@click.option("--store", default=None, help="Label store folder; default: labeling.store.")
@click.option("--env", "-e", default=None, help="Kedro configuration environment.")
@click.pass_obj
def label_command(
    metadata: ProjectMetadata,
    task: str | None,
    host: str | None,
    port: int | None,
    store: str | None,
    env: str | None,
) -> None:
    """Open the labeling page for the pending critical samples (TASK first, if given).
    Every call needs the token printed here: open the printed address."""
    import uvicorn  # noqa: PLC0415

    from kedro_scanflow.human import LabelStore  # noqa: PLC0415
    from kedro_scanflow.labeling.label_app import label_app, new_token  # noqa: PLC0415

    options = project_config(metadata, env).labeling
    label_store = LabelStore(metadata.project_path / (store or options.store))
    if task is not None and task not in label_store.tasks():
        known = ", ".join(label_store.tasks()[-5:]) or "none"
        raise click.BadParameter(
            f"no labeling task {task!r} in {label_store.root} (latest: {known})", param_hint="TASK"
        )
    token = new_token()
    bind_host, bind_port = host or options.host, port or options.port
    address_host = "127.0.0.1" if bind_host in ("0.0.0.0", "::") else bind_host  # noqa: S104
    fragment = f"#task={quote(task)}" if task else ""
    click.echo(f"Labeling tasks in {label_store.root} ({len(label_store.tasks())} tasks).")
    click.echo("Open this address (the token authorises every answer; keep it private):")
    click.echo(f"    http://{address_host}:{bind_port}/?token={token}{fragment}")
    uvicorn.run(label_app(label_store, token), host=bind_host, port=bind_port, log_level="warning")
