"""The connection to the Docker engine, with an error that says what to do when it is down."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kedro_scanflow.backends.base import BackendError

if TYPE_CHECKING:
    import docker


class DockerEngineError(BackendError):
    """No Docker engine answers."""


def docker_client() -> docker.DockerClient:
    """A client of the engine that ``DOCKER_HOST`` (or the default socket) points to.

    Raises:
        DockerEngineError: When the engine does not answer; the message says how to fix it.
    """
    import docker  # noqa: PLC0415 - the docker SDK is only needed by container backends
    import docker.errors  # noqa: PLC0415

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as error:
        raise DockerEngineError(
            "Cannot reach the Docker engine "
            f"({error}). Start it (e.g. `sudo dockerd &` or `systemctl start docker`) or set "
            "DOCKER_HOST."
        ) from None
    return client
