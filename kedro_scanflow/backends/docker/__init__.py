"""The Docker backend: one container per task on a private network of the run."""

from __future__ import annotations

from kedro_scanflow.backends.docker.container_runtime import DockerBackendError
from kedro_scanflow.backends.docker.docker_backend import DockerBackend

__all__ = ["DockerBackend", "DockerBackendError"]
