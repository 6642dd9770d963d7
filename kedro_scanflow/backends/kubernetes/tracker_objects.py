"""The MLflow tracking server of a project's namespace: a Deployment and a Service.

The same server the Docker backend runs (:func:`tracker_container_plan`: sqlite store
and proxied artifacts), on its own claim, one replica (``Recreate``: the claim may be
``ReadWriteOnce``). Tasks log to ``http://<service>:5000``; the orchestrator, outside
the cluster, reaches it through a port-forward (:mod:`.tracker_tunnel`). The tracker is
a service of the project: runs create it when missing and leave it running, so past runs
stay browsable (``kubectl port-forward service/<name> 5000``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from kubernetes.client import (
    V1ContainerPort,
    V1Deployment,
    V1DeploymentSpec,
    V1DeploymentStrategy,
    V1HTTPGetAction,
    V1HTTPHeader,
    V1LabelSelector,
    V1ObjectMeta,
    V1PersistentVolumeClaimVolumeSource,
    V1PodTemplateSpec,
    V1Probe,
    V1Service,
    V1ServicePort,
    V1ServiceSpec,
    V1Volume,
    V1VolumeMount,
)

from kedro_scanflow.backends.docker.container_plan import tracker_container_plan
from kedro_scanflow.backends.kubernetes.cluster_names import COMPONENT_TRACKER, TRACKER_PORT
from kedro_scanflow.backends.kubernetes.pod_templates import container_from_plan, pod_spec
from kedro_scanflow.images.project_image import CONTAINER_TRACKER

if TYPE_CHECKING:
    from kedro_scanflow.backends.kubernetes.cluster_names import ClusterNames
    from kedro_scanflow.backends.kubernetes.pod_templates import PodFrame

STORE_VOLUME = "tracker-store"


def tracker_hosts(names: ClusterNames) -> list[str]:
    """Host names MLflow's server accepts (its DNS-rebinding protection): the Service's
    in-cluster names, and localhost for the port-forward and the readiness probe."""
    service = names.tracker
    dns = [
        service,
        f"{service}.{names.namespace}",
        f"{service}.{names.namespace}.svc",
        f"{service}.{names.namespace}.svc.cluster.local",
        "localhost",
        "127.0.0.1",
    ]
    return [host for name in dns for host in (name, f"{name}:*")]


def tracker_uri(names: ClusterNames) -> str:
    """Where task pods reach the tracker."""
    return f"http://{names.tracker}:{TRACKER_PORT}"


def tracker_selector(names: ClusterNames) -> dict[str, str]:
    return names.project_labels(COMPONENT_TRACKER)


def tracker_deployment(names: ClusterNames, frame: PodFrame) -> V1Deployment:
    """One MLflow server replica, its store on the tracker claim."""
    labels = tracker_selector(names)
    plan = tracker_container_plan(
        name=names.tracker,
        image=frame.image,
        user=f"{frame.uid}:{frame.uid}",
        labels=labels,
        port=TRACKER_PORT,
        volume=names.tracker_claim,
    )
    command = list(plan.command)
    command[command.index("--allowed-hosts") + 1] = ",".join(tracker_hosts(names))
    plan = replace(plan, command=command)
    container = container_from_plan(
        plan,
        frame,
        with_shared_volume=False,
        with_secrets=False,
        extra_mounts=[V1VolumeMount(name=STORE_VOLUME, mount_path=CONTAINER_TRACKER)],
        name="tracker",
    )
    container.ports = [V1ContainerPort(name="http", container_port=TRACKER_PORT)]
    container.readiness_probe = V1Probe(
        http_get=V1HTTPGetAction(
            path="/health",
            port=TRACKER_PORT,
            http_headers=[V1HTTPHeader(name="Host", value="localhost")],
        ),
        period_seconds=3,
        failure_threshold=3,
    )
    spec = pod_spec(
        [container],
        frame,
        plan.tmpfs,
        extra_volumes=[
            V1Volume(
                name=STORE_VOLUME,
                persistent_volume_claim=V1PersistentVolumeClaimVolumeSource(
                    claim_name=names.tracker_claim
                ),
            )
        ],
        with_shared_volume=False,
        restart_policy="Always",
    )
    return V1Deployment(
        api_version="apps/v1",
        kind="Deployment",
        metadata=V1ObjectMeta(name=names.tracker, namespace=names.namespace, labels=labels),
        spec=V1DeploymentSpec(
            replicas=1,
            selector=V1LabelSelector(match_labels=labels),
            strategy=V1DeploymentStrategy(type="Recreate"),
            template=V1PodTemplateSpec(metadata=V1ObjectMeta(labels=labels), spec=spec),
        ),
    )


def tracker_service(names: ClusterNames) -> V1Service:
    """A cluster-internal Service in front of the tracker (never exposed outside)."""
    labels = tracker_selector(names)
    return V1Service(
        api_version="v1",
        kind="Service",
        metadata=V1ObjectMeta(name=names.tracker, namespace=names.namespace, labels=labels),
        spec=V1ServiceSpec(
            type="ClusterIP",
            selector=labels,
            ports=[V1ServicePort(name="http", port=TRACKER_PORT, target_port=TRACKER_PORT)],
        ),
    )
