"""Which image the cluster runs, and as which user.

The cluster pulls the project image from a registry: ``backends.kubernetes.image``, or
``<registry>/scanflow/<package>:latest`` when ``backends.kubernetes.registry`` is set
(``kedro scanflow build --push REGISTRY`` pushes exactly that), or the local name
``scanflow/<package>:latest`` for clusters that load images directly (kind, k3d,
minikube). Pods run as the image's unprivileged uid (its ``scanflow.uid`` label, read
from the local engine when there is one) unless ``run_as_user`` says otherwise.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kedro_scanflow.images.image_push import registry_image
from kedro_scanflow.images.project_image import LABEL_UID, UNPRIVILEGED_ID, project_image_name

if TYPE_CHECKING:
    from kedro_scanflow.config.scanflow_config import KubernetesBackendOptions

logger = logging.getLogger(__name__)


def cluster_image(options: KubernetesBackendOptions, package_name: str) -> str:
    """The project image as the cluster pulls it."""
    if options.image:
        return options.image
    local = project_image_name(package_name)
    return registry_image(options.registry, local) if options.registry else local


def pod_uid(
    options: KubernetesBackendOptions, package_name: str, local_image: str | None = None
) -> int:
    """The non-zero uid of the pods: ``run_as_user``, else the user of the image, as the
    local engine knows it (under its cluster name, or ``local_image``, the name
    ``kedro scanflow build`` gave it)."""
    if options.run_as_user:
        return options.run_as_user
    candidates = [
        cluster_image(options, package_name),
        local_image or project_image_name(package_name),
    ]
    uid = next((u for u in map(_image_uid, dict.fromkeys(candidates)) if u is not None), None)
    if uid is None:
        logger.info(
            "Cannot read the image's user from a local Docker engine; pods run as uid %d "
            "(set backends.kubernetes.run_as_user to choose).",
            UNPRIVILEGED_ID,
        )
        return UNPRIVILEGED_ID
    return uid


def _image_uid(image: str) -> int | None:
    try:
        import docker  # noqa: PLC0415

        client = docker.from_env(timeout=5)
        labels = client.images.get(image).labels or {}
    except Exception:  # noqa: BLE001 - no engine, no image: fall back on the default
        return None
    uid = int(labels.get(LABEL_UID, "0") or 0)
    return uid or None
