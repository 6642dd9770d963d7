"""Create containers from :class:`ContainerPlan` values with the Docker SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from kedro_scanflow.backends.docker.container_plan import ContainerPlan


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
    if plan.gpus:
        arguments["device_requests"] = [DeviceRequest(count=plan.gpus, capabilities=[["gpu"]])]
    return arguments


def create_container(
    client: docker.DockerClient,
    plan: ContainerPlan,
    network: str,
    aliases: list[str] | None = None,
    ports: dict[str, tuple[str, int | None]] | None = None,
) -> Container:
    """Create (not start) the container of ``plan`` on ``network``."""
    arguments = container_arguments(plan)
    arguments["network"] = network
    if aliases:
        arguments["networking_config"] = {
            network: client.api.create_endpoint_config(aliases=aliases)
        }
    if ports:
        arguments["ports"] = ports
    return client.containers.create(**arguments)
