"""``scanflow.yml`` resources as Kubernetes quantities.

``scanflow.yml`` writes memory the Docker way (``512m`` is 512 MiB); Kubernetes would
read ``512m`` as 0.512 *bytes*. Sizes are therefore always converted from bytes, never
copied: ``512m`` becomes ``512Mi``, ``1.5g`` becomes ``1536Mi``. CPUs become
millicores (``0.5`` is ``500m``); GPUs are the ``nvidia.com/gpu`` extended resource,
which Kubernetes only accepts as a limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubernetes.client import V1ResourceRequirements

from kedro_scanflow.config.scanflow_config import memory_bytes

if TYPE_CHECKING:
    from kedro_scanflow.config.scanflow_config import ResourceOptions

GPU_RESOURCE = "nvidia.com/gpu"
_MI = 1024**2


def cpu_quantity(cpus: float) -> str:
    """``2`` -> ``"2"``, ``0.5`` -> ``"500m"``."""
    millicores = round(cpus * 1000)
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def memory_quantity(size: str) -> str:
    """``"512m"`` -> ``"512Mi"``, ``"2g"`` -> ``"2048Mi"``, odd sizes in bytes."""
    count = memory_bytes(size)
    return f"{count // _MI}Mi" if count % _MI == 0 else str(count)


def resource_requirements(resources: ResourceOptions) -> V1ResourceRequirements | None:
    """Requests and limits of a task's container; ``None`` when nothing is set."""
    limits: dict[str, str] = {}
    requests: dict[str, str] = {}
    if resources.cpus is not None:
        limits["cpu"] = cpu_quantity(resources.cpus)
    if resources.memory is not None:
        limits["memory"] = memory_quantity(resources.memory)
    if resources.gpus:
        limits[GPU_RESOURCE] = str(resources.gpus)
    if resources.requests is not None:
        if resources.requests.cpus is not None:
            requests["cpu"] = cpu_quantity(resources.requests.cpus)
        if resources.requests.memory is not None:
            requests["memory"] = memory_quantity(resources.requests.memory)
    if not limits and not requests:
        return None
    return V1ResourceRequirements(limits=limits or None, requests=requests or None)
