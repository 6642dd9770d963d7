"""Container images built without a registry: the base image, wheelhouse and project image."""

from __future__ import annotations

from kedro_scanflow.images.base_image import BaseImageBuilder, BaseImageError
from kedro_scanflow.images.docker_engine import DockerEngineError, docker_client
from kedro_scanflow.images.project_image import (
    ImageBuildError,
    ProjectImageBuilder,
    project_image_name,
    variant_image_name,
)
from kedro_scanflow.images.wheelhouse import Wheelhouse, WheelhouseError

__all__ = [
    "BaseImageBuilder",
    "BaseImageError",
    "DockerEngineError",
    "ImageBuildError",
    "ProjectImageBuilder",
    "Wheelhouse",
    "WheelhouseError",
    "docker_client",
    "project_image_name",
    "variant_image_name",
]
