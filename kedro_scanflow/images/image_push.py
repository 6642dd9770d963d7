"""Pushing the project image (and its variants) to a registry a cluster pulls from.

``kedro scanflow build --push REGISTRY`` tags every image it built as
``REGISTRY/<image>`` (``registry.example.com/team/scanflow/<package>:latest``) and pushes
it with the Docker SDK; the engine's own credentials (``docker login``) are used, never
anything from ``scanflow.yml``. ``backends.kubernetes.registry: REGISTRY`` makes the
Kubernetes backend run exactly these names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kedro_scanflow.images.docker_engine import docker_client

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


class ImagePushError(RuntimeError):
    """An image could not be pushed; the message has the registry's answer."""


def registry_image(registry: str, image: str) -> str:
    """``image`` (``scanflow/pkg:latest``) under ``registry`` (``registry.example.com/team``)."""
    return f"{registry.rstrip('/')}/{image}"


def split_reference(reference: str) -> tuple[str, str]:
    """``host:5000/a/b:tag`` -> (``host:5000/a/b``, ``tag``); the tag defaults to latest."""
    repository, _, tag = reference.rpartition(":")
    if not repository or "/" in tag:
        return reference, "latest"
    return repository, tag


def push_images(
    images: Iterable[str], registry: str, say: Callable[[str], None] = lambda _: None
) -> list[str]:
    """Tag each local image under ``registry`` and push it; return the pushed names.

    Raises:
        ImagePushError: When the engine or the registry refuses a push.
        DockerEngineError: When no Docker engine answers.
    """
    import docker.errors  # noqa: PLC0415

    client = docker_client()
    pushed = []
    for image in images:
        target = registry_image(registry, image)
        repository, tag = split_reference(target)
        try:
            client.images.get(image).tag(repository, tag)
        except docker.errors.ImageNotFound:
            raise ImagePushError(f"{image} does not exist: build it first.") from None
        say(f"Pushing {target}...")
        try:
            for line in client.images.push(repository, tag=tag, stream=True, decode=True):
                if "error" in line:
                    detail = line.get("errorDetail", {}).get("message", line["error"])
                    raise ImagePushError(f"Pushing {target} failed: {detail}")
        except docker.errors.APIError as error:
            raise ImagePushError(f"Pushing {target} failed: {error.explanation or error}") from None
        pushed.append(target)
    return pushed
