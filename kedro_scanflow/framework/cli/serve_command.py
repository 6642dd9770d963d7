"""``kedro scanflow serve``: the champion model over HTTP, every prediction recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from kedro_scanflow.framework.cli.project_config import project_settings

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata

    from kedro_scanflow.config import ScanflowConfig


def served_model_name(config: ScanflowConfig, explicit: str | None) -> str:
    """The registered model to serve: ``--model``, ``serve.model_name``, or the planner's.

    Raises:
        click.UsageError: When none of them names one.
    """
    names = {o.planner.model_name for o in config.supervision.values() if o.planner is not None}
    name = explicit or config.serve.model_name or (names.pop() if len(names) == 1 else None)
    if name is None:
        raise click.UsageError(
            "Name the registered model to serve: --model NAME or serve.model_name in scanflow.yml."
        )
    return name


@click.command(name="serve")
@click.option(
    "--model", "model_name", default=None, help="Registered model; default: serve.model_name."
)
@click.option("--alias", default=None, help="Registry alias to serve; default: champion.")
@click.option("--host", default=None, help="Interface to bind; default: 127.0.0.1.")
@click.option("--port", type=int, default=None, help="Port; default: serve.port (8000).")
@click.option("--env", "-e", default=None, help="Kedro configuration environment.")
@click.pass_obj
def serve_command(
    metadata: ProjectMetadata,
    model_name: str | None,
    alias: str | None,
    host: str | None,
    port: int | None,
    env: str | None,
) -> None:
    """Serve the champion model: POST images to /predict (JSON or an upload), see /metrics.
    Every prediction is recorded for `kedro scanflow agent`; the served model follows the
    alias, so a new champion is picked up without a restart or a dropped request."""
    import keras  # noqa: F401, PLC0415 - before kedro-mlflow's import hooks, which warn otherwise
    import uvicorn  # noqa: PLC0415

    from kedro_scanflow.serving.champion_model import ChampionModel  # noqa: PLC0415
    from kedro_scanflow.serving.prediction_store import PredictionStore  # noqa: PLC0415
    from kedro_scanflow.serving.serve_app import serve_app  # noqa: PLC0415

    config, tracking = project_settings(metadata, env)
    options = config.serve
    champion = ChampionModel(
        tracking.uri,
        served_model_name(config, model_name),
        alias or options.alias,
        options.poll_seconds,
    )
    try:
        loaded = champion.load()
    except LookupError as error:
        raise click.ClickException(str(error)) from None
    store = PredictionStore(metadata.project_path / options.store)
    app = serve_app(champion, store, options.max_images, options.max_body_bytes)
    bind_host, bind_port = host or options.host, port or options.port
    click.echo(
        f"Serving {champion.model_name}@{champion.alias} (version {loaded.version}) on "
        f"http://{bind_host}:{bind_port}; predictions recorded in {store.path}"
    )
    uvicorn.run(app, host=bind_host, port=bind_port, log_level="warning", access_log=False)
