"""The MLflow tracking server of a run, in one process.

``python -m kedro_scanflow.tracking.tracking_server`` is what tracker containers and pods
run. It serves MLflow's own application (``mlflow.server.fastapi_app:app``) with uvicorn,
like ``mlflow server``, for the options Scanflow's trackers use: a SQL backend store,
artifacts proxied to ``--artifacts-destination``, and ``--allowed-hosts``.

Why not ``mlflow server`` itself: it is two processes, one after the other. The command
imports MLflow's server to check its stores, then starts uvicorn, whose process imports
it again. That is about 2 CPU-seconds and 2 seconds of waiting at the start of every run.
Here one process checks the stores (with MLflow's ``initialize_backend_stores``) and
serves.

MLflow's server reads its stores and artifact settings from environment variables that
``mlflow server`` sets for its uvicorn process. Their names are taken from MLflow's own
constants at start. When an MLflow version lacks one of them, or its server would start
without its security middleware, this process runs ``mlflow server`` instead: the tracker
still starts, only slower, and says why in its log.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from kedro_scanflow.heap_freeze import collection_paused

logger = logging.getLogger(__name__)

#: This module, as ``python -m`` runs it (``__name__`` is ``__main__`` there).
MODULE = "kedro_scanflow.tracking.tracking_server"
#: The ASGI application ``mlflow server`` serves with uvicorn.
SERVER_APP = "mlflow.server.fastapi_app:app"


@dataclass(frozen=True)
class ServerOptions:
    """What a Scanflow tracker serves, with the names of ``mlflow server``'s options."""

    backend_store_uri: str
    artifacts_destination: str
    host: str
    port: int
    allowed_hosts: str

    def arguments(self) -> list[str]:
        """These options on a command line, for this module and for ``mlflow server``."""
        return [
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--backend-store-uri",
            self.backend_store_uri,
            "--artifacts-destination",
            self.artifacts_destination,
            "--allowed-hosts",
            self.allowed_hosts,
        ]


class ServerContractError(RuntimeError):
    """This MLflow version does not offer what a one-process server needs."""


def server_command(options: ServerOptions) -> list[str]:
    """The command that serves ``options`` with this module."""
    return ["python", "-m", MODULE, *options.arguments()]


def mlflow_server_command(options: ServerOptions) -> list[str]:
    """The ``mlflow server`` command that serves the same as ``options``."""
    return ["mlflow", "server", *options.arguments(), "--serve-artifacts", "--workers", "1"]


def worker_environment(options: ServerOptions, default_artifact_root: str) -> dict[str, str]:
    """The environment ``mlflow server`` gives its uvicorn process for ``options``.

    Raises:
        ServerContractError: When this MLflow version lacks a name it needs.
    """
    try:
        from mlflow import environment_variables  # noqa: PLC0415
        from mlflow.server import constants  # noqa: PLC0415

        return {
            constants.BACKEND_STORE_URI_ENV_VAR: options.backend_store_uri,
            constants.REGISTRY_STORE_URI_ENV_VAR: options.backend_store_uri,
            constants.ARTIFACT_ROOT_ENV_VAR: default_artifact_root,
            constants.SERVE_ARTIFACTS_ENV_VAR: "true",
            constants.ARTIFACTS_DESTINATION_ENV_VAR: options.artifacts_destination,
            # One id per server start, as ``mlflow server`` makes for its workers.
            environment_variables._MLFLOW_SERVER_BOOT_ID.name: uuid.uuid4().hex,
            environment_variables._MLFLOW_IN_JOB_EXECUTOR.name: "false",
            environment_variables._MLFLOW_SGI_NAME.name: "uvicorn",
        }
    except (ImportError, AttributeError) as error:
        raise ServerContractError(f"MLflow's server settings changed ({error})") from error


def serve(options: ServerOptions) -> None:
    """Check the stores and serve until uvicorn is told to stop (SIGTERM, SIGINT).

    Raises:
        ServerContractError: When this MLflow version lacks what serving in one process
            needs; nothing has been served then.
    """
    # MLflow's server loads with garbage collection paused and what it loaded frozen:
    # about a sixth of the start-up CPU, and later collections skip it.
    with collection_paused():
        _load_server(options)
    import mlflow.server  # noqa: PLC0415 - loaded above
    import uvicorn  # noqa: PLC0415

    # MLflow's log format for uvicorn, as ``mlflow server`` passes it; uvicorn's own if
    # an MLflow version has none.
    log_config = Path(mlflow.server.__file__).with_name("uvicorn_log_config.yaml")
    logging_options = {"log_config": str(log_config)} if log_config.is_file() else {}
    uvicorn.run(SERVER_APP, host=options.host, port=options.port, workers=1, **logging_options)


def _load_server(options: ServerOptions) -> None:
    """Import MLflow's server for ``options``, set its environment and check its stores.

    Raises:
        ServerContractError: When this MLflow version lacks what serving in one process
            needs.
    """
    # uvicorn first: MLflow's server module installs its security middleware (allowed
    # hosts, CORS) when it finds itself imported by a server.
    import uvicorn  # noqa: F401, PLC0415

    try:
        from mlflow.environment_variables import (  # noqa: PLC0415
            MLFLOW_ENABLE_WORKSPACES,
            MLFLOW_SERVER_ALLOWED_HOSTS,
        )

        # Read when MLflow's server module is imported, as ``mlflow server`` sets them.
        os.environ[MLFLOW_SERVER_ALLOWED_HOSTS.name] = options.allowed_hosts
        os.environ[MLFLOW_ENABLE_WORKSPACES.name] = "false"
        import mlflow.server  # noqa: PLC0415
        from mlflow.server.handlers import initialize_backend_stores  # noqa: PLC0415
        from mlflow.utils.server_cli_utils import (  # noqa: PLC0415
            resolve_default_artifact_root,
        )
    except ImportError as error:
        raise ServerContractError(f"MLflow's server changed ({error})") from error
    if not getattr(mlflow.server, "is_running_as_server", False):
        raise ServerContractError("MLflow's server would start without its security middleware")
    default_artifact_root = resolve_default_artifact_root(True, None, options.backend_store_uri)
    os.environ.update(worker_environment(options, default_artifact_root))
    # Creates a new store's tables, or checks an existing store's schema, as
    # ``mlflow server`` does before it serves.
    initialize_backend_stores(
        options.backend_store_uri, options.backend_store_uri, default_artifact_root
    )


def _parse(argv: list[str] | None) -> ServerOptions:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description="Serve an MLflow tracking server in one process.",
    )
    parser.add_argument("--backend-store-uri", required=True, help="SQL store of runs.")
    parser.add_argument(
        "--artifacts-destination", required=True, help="Where proxied artifacts are stored."
    )
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
    parser.add_argument("--port", type=int, default=5000, help="Port to listen on.")
    parser.add_argument(
        "--allowed-hosts",
        default="localhost,localhost:*,127.0.0.1,127.0.0.1:*",
        help="Host headers the server answers (comma-separated, as for mlflow server).",
    )
    return ServerOptions(**vars(parser.parse_args(argv)))


def main(argv: list[str] | None = None) -> None:
    """Serve ``argv``'s options in one process, or with ``mlflow server`` when this MLflow
    version does not allow it."""
    options = _parse(argv)
    try:
        serve(options)
    except ServerContractError as error:
        # uvicorn's logging is not set up yet: this process logs on its own.
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s: %(message)s")
        command = mlflow_server_command(options)
        logger.warning("%s: running `%s` instead.", error, " ".join(command[:2]))
        sys.stdout.flush()
        sys.stderr.flush()
        os.execvp(command[0], command)  # noqa: S606 - MLflow's own command, fixed arguments


if __name__ == "__main__":
    main()
