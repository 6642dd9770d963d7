"""Create containers from :class:`ContainerPlan` values with the Docker SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kedro_scanflow.backends.base import BackendError
from kedro_scanflow.images.project_image import LABEL_UID

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from kedro_scanflow.backends.docker.container_plan import ContainerPlan


class DockerBackendError(BackendError):
    """The Docker backend cannot run this workflow (missing image, engine trouble)."""


def project_image_uid(client: docker.DockerClient, image: str) -> int:
    """The unprivileged uid that containers of ``image`` run as.

    Raises:
        DockerBackendError: When the image does not exist, or was not built by ``kedro
            scanflow build`` (it does not name its user).
    """
    import docker.errors  # noqa: PLC0415

    try:
        found = client.images.get(image)
    except docker.errors.ImageNotFound:
        raise DockerBackendError(
            f"The project image {image} does not exist: build it with "
            "`kedro scanflow build` (or set backends.docker.image)."
        ) from None
    uid = int(found.labels.get(LABEL_UID, "0") or 0)
    if uid == 0:
        raise DockerBackendError(
            f"The image {image} does not say which unprivileged user it runs as "
            f"(label {LABEL_UID}); rebuild it with `kedro scanflow build`."
        )
    return uid


def container_arguments(plan: ContainerPlan) -> dict[str, Any]:
    """``containers.create`` keyword arguments for ``plan``, with the security defaults:
    no privileges, every capability dropped, no new privileges, read-only root."""
    from docker.types import DeviceRequest  # noqa: PLC0415

    arguments: dict[str, Any] = {
        "image": plan.image,
        "command": plan.command,
        "name": plan.name,
        "user": plan.user,
        "labels": plan.labels,
        "environment": plan.environment,
        "working_dir": plan.working_dir,
        "volumes": {
            str(mount.source): {"bind": mount.target, "mode": "ro" if mount.read_only else "rw"}
            for mount in plan.mounts
        },
        "privileged": False,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "read_only": plan.read_only,
        "tmpfs": dict.fromkeys(plan.tmpfs, "rw,exec"),
        "detach": True,
    }
    if plan.cpus is not None:
        arguments["nano_cpus"] = int(plan.cpus * 1e9)
    if plan.memory_bytes is not None:
        arguments["mem_limit"] = plan.memory_bytes
    if plan.cpu_shares is not None:
        arguments["cpu_shares"] = plan.cpu_shares
    if plan.gpus:
        arguments["device_requests"] = [DeviceRequest(count=plan.gpus, capabilities=[["gpu"]])]
    return arguments


def create_container(
    client: docker.DockerClient,
    plan: ContainerPlan,
    network: str,
    aliases: list[str] | None = None,
    ports: dict[str, tuple[str, int | None]] | None = None,
    restart: bool = False,
) -> Container:
    """Create (not start) the container of ``plan`` on ``network``; with ``restart``, the
    engine restarts it when it stops, until it is removed (long-running services)."""
    arguments = container_arguments(plan)
    arguments["network"] = network
    if aliases:
        arguments["networking_config"] = {
            network: client.api.create_endpoint_config(aliases=aliases)
        }
    if ports:
        arguments["ports"] = ports
    if restart:
        arguments["restart_policy"] = {"Name": "unless-stopped"}
    return client.containers.create(**arguments)
