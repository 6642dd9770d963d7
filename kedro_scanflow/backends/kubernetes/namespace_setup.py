"""What a project has in its namespace, from ``backends.kubernetes``: the pod frame and
the project-level objects, in the order they must exist.

The backend creates the missing ones before a run; ``kedro scanflow export --target
kubernetes`` writes the same objects, so that an administrator can apply them once.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from kedro_scanflow.backends.kubernetes.cluster_names import COMPONENT_TRACKER, ClusterNames
from kedro_scanflow.backends.kubernetes.pod_templates import PodFrame
from kedro_scanflow.backends.kubernetes.project_objects import (
    namespace,
    runner_role,
    runner_role_binding,
    service_account,
    volume_claim,
)
from kedro_scanflow.backends.kubernetes.tracker_objects import (
    tracker_deployment,
    tracker_service,
)

if TYPE_CHECKING:
    from pathlib import Path

    from kedro_scanflow.config.scanflow_config import KubernetesBackendOptions, ScanflowConfig


def cluster_names(
    options: KubernetesBackendOptions, package_name: str, project_path: Path, run_id: str
) -> ClusterNames:
    """Names and labels of the project's objects in its configured namespace."""
    return ClusterNames(package_name, project_path, run_id, options.namespace)


def data_claim_name(options: KubernetesBackendOptions, names: ClusterNames) -> str:
    """The shared volume's claim: ``storage.claim``, else the project's default name."""
    return options.storage.claim or names.data_claim


def pod_frame(config: ScanflowConfig, names: ClusterNames, image: str, uid: int) -> PodFrame:
    """What every pod of the project shares, from ``scanflow.yml``."""
    options = config.backends.kubernetes
    return PodFrame(
        image=image,
        uid=uid,
        data_claim=data_claim_name(options, names),
        runs_directory=PurePosixPath(config.run.directory.strip("/")),
        service_account=options.service_account,
        image_pull_policy=options.image_pull_policy,
        image_pull_secrets=tuple(options.image_pull_secrets),
        secrets=tuple(options.secrets),
        credentials_secret=options.credentials_secret,
        node_selector=dict(options.node_selector),
        tolerations=tuple(options.tolerations),
        terminate_grace_period=options.terminate_grace_period,
    )


def administrative_objects(options: KubernetesBackendOptions, names: ClusterNames) -> list[Any]:
    """Namespace (when scanflow makes it), ServiceAccount, Role and RoleBinding: usually
    applied once by an administrator."""
    objects: list[Any] = [namespace(names)] if options.create_namespace else []
    objects += [
        service_account(names, options.service_account),
        runner_role(names),
        runner_role_binding(names, options.service_account),
    ]
    return objects


def storage_objects(options: KubernetesBackendOptions, names: ClusterNames) -> list[Any]:
    """The shared-volume claim and, with an in-cluster tracker, the tracker's claim."""
    storage = options.storage
    objects = [
        volume_claim(
            names,
            data_claim_name(options, names),
            storage.size,
            storage.storage_class,
            list(storage.access_modes),
            "shared-volume",
        )
    ]
    if options.tracker.uri is None:
        tracker = options.tracker
        objects.append(
            volume_claim(
                names,
                names.tracker_claim,
                tracker.size,
                tracker.storage_class,
                ["ReadWriteOnce"],
                COMPONENT_TRACKER,
            )
        )
    return objects


def tracker_objects(
    options: KubernetesBackendOptions, names: ClusterNames, frame: PodFrame
) -> list[Any]:
    """The tracker's Deployment and Service, unless the tracker is external."""
    if options.tracker.uri is not None:
        return []
    return [tracker_deployment(names, frame), tracker_service(names)]
