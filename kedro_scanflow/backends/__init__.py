"""Backends: how the tasks of a workflow are started (process, container, pod)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from kedro_scanflow.backends.base import AbstractBackend, BackendContext, BackendError, TaskExit

if TYPE_CHECKING:
    from collections.abc import Iterable

_BACKENDS = {
    "local": "kedro_scanflow.backends.local.local_backend:LocalBackend",
    "docker": "kedro_scanflow.backends.docker.docker_backend:DockerBackend",
    "kubernetes": "kedro_scanflow.backends.kubernetes.kubernetes_backend:KubernetesBackend",
}


def backend_names() -> Iterable[str]:
    """Names accepted by ``--backend`` and ``run.backend``."""
    return tuple(_BACKENDS)


def backend_class(name: str) -> type[AbstractBackend]:
    """The backend class called ``name``.

    Raises:
        ValueError: For an unknown name; the message lists the known ones.
    """
    try:
        module_name, class_name = _BACKENDS[name].split(":")
    except KeyError:
        known = ", ".join(_BACKENDS)
        raise ValueError(f"Unknown backend {name!r}; choose one of: {known}.") from None
    backend: type[AbstractBackend] = getattr(import_module(module_name), class_name)
    return backend


__all__ = [
    "AbstractBackend",
    "BackendContext",
    "BackendError",
    "TaskExit",
    "backend_class",
    "backend_names",
]
