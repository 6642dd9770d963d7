"""The objects of ``kedro scanflow deploy --backend kubernetes``: ``serve`` and ``agent``.

- ``serve``: a one-replica Deployment that rolls out with ``maxSurge: 1`` and
  ``maxUnavailable: 0`` (a redeploy starts the new pod and waits for it to be ready before
  it stops the old one, so no request is dropped), probed on ``GET /health``, behind a
  ``ClusterIP`` Service on port 8000. Nothing is exposed outside the cluster: users reach
  it with ``kubectl port-forward``.
- ``agent``: a one-replica Deployment with the ``Recreate`` strategy: two agents never run
  at once (both would start cycles on the same records). Its steps run as processes in
  its own pod, so it needs no right on the Kubernetes API, and gets no token.

Both pods run the project image with the command a user would run by hand
(:meth:`ServiceContext.service_command`), mount the shared claim as the project's
``data/`` (the prediction store and the agent's state live there), log to the tracker
the way task pods do, and have the security defaults of every scanflow pod
(:mod:`.pod_templates`). Secrets are only referenced by name.

Selectors hold only the project and the role (``app.kubernetes.io/component``: ``serve``
or ``agent``): a Deployment's selector cannot change, so it leaves out anything that may
(the project folder's key is a label of the pods, not part of the selector).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubernetes.client import (
    V1ContainerPort,
    V1Deployment,
    V1DeploymentSpec,
    V1DeploymentStrategy,
    V1HTTPGetAction,
    V1LabelSelector,
    V1ObjectMeta,
    V1PodTemplateSpec,
    V1Probe,
    V1ResourceRequirements,
    V1RollingUpdateDeployment,
    V1Service,
    V1ServicePort,
    V1ServiceSpec,
)

from kedro_scanflow.backends.docker.container_plan import (
    TASK_HOME,
    TRACKER_CLIENT_SETTINGS,
    ContainerPlan,
)
from kedro_scanflow.backends.kubernetes.cluster_names import LABEL_COMPONENT, LABEL_PROJECT
from kedro_scanflow.backends.kubernetes.pod_templates import container_from_plan, pod_spec
from kedro_scanflow.backends.kubernetes.resource_quantities import resource_requirements
from kedro_scanflow.backends.kubernetes.tracker_objects import tracker_uri
from kedro_scanflow.backends.services import AGENT, SERVE, SERVICE_PORT
from kedro_scanflow.pipeline.task_plan import slugify

if TYPE_CHECKING:
    from kedro_scanflow.backends.kubernetes.cluster_names import ClusterNames
    from kedro_scanflow.backends.kubernetes.pod_templates import PodFrame
    from kedro_scanflow.config.scanflow_config import KubernetesBackendOptions, ResourceOptions

ANNOTATION_DEPLOYED_AT = "scanflow.io/deployed-at"
"""Set on the pod template at every deploy, so that a redeploy always rolls the pods
(and a ``:latest`` image pushed since is used), like ``kubectl rollout restart``."""
HEALTH_PATH = "/health"
DEFAULT_REQUESTS = {"cpu": "100m", "memory": "512Mi"}
"""What a service pod reserves when ``backends.kubernetes.resources`` sets nothing: enough
to be scheduled, no limit (a TensorFlow model needs more than it reserves)."""
_STARTUP_SECONDS = 300
"""How long ``serve`` may take to load the champion before its liveness probe counts."""


def service_name(names: ClusterNames, service: str) -> str:
    """The Deployment (and, for ``serve``, the Service) of a service."""
    return slugify(f"scanflow-{names.project_slug}-{service}", 63)


def service_selector(names: ClusterNames, service: str) -> dict[str, str]:
    """The labels that select a service's pods (and the service's objects)."""
    return {LABEL_PROJECT: names.project_slug, LABEL_COMPONENT: service}


def services_tracking_uri(options: KubernetesBackendOptions, names: ClusterNames) -> str:
    """Where the services log: the external tracker, else the namespace's, as for tasks."""
    return options.tracker.uri or tracker_uri(names)


def service_environment(tracking_uri: str) -> dict[str, str]:
    """The environment of a service's container: a task pod's, with the tracker's URI."""
    return {
        "HOME": TASK_HOME,
        "PYTHONUNBUFFERED": "1",
        "KEDRO_DISABLE_TELEMETRY": "true",
        "COLUMNS": "160",
        "GIT_PYTHON_REFRESH": "quiet",
        **TRACKER_CLIENT_SETTINGS,
        "MLFLOW_TRACKING_URI": tracking_uri,
    }


def service_resources(resources: ResourceOptions) -> V1ResourceRequirements:
    """``backends.kubernetes.resources`` (the defaults of every pod of the project), else
    :data:`DEFAULT_REQUESTS`."""
    return resource_requirements(resources) or V1ResourceRequirements(
        requests=dict(DEFAULT_REQUESTS)
    )


def serve_deployment(
    names: ClusterNames,
    frame: PodFrame,
    command: list[str],
    tracking_uri: str,
    resources: ResourceOptions,
    deployed_at: str | None = None,
) -> V1Deployment:
    """``serve``: the champion over HTTP, replaced without a gap on every deploy.

    Args:
        names: Names and labels of the project.
        frame: What every pod of the project shares.
        command: ``ServiceContext.service_command("serve")``.
        tracking_uri: Where the model registry is (:func:`services_tracking_uri`).
        resources: ``backends.kubernetes.resources``.
        deployed_at: Written on the pod template, so that each deploy rolls the pod.
    """
    template = _service_pod(names, frame, SERVE, command, tracking_uri, resources, deployed_at)
    [container] = template.spec.containers
    container.ports = [V1ContainerPort(name="http", container_port=SERVICE_PORT)]
    health = V1HTTPGetAction(path=HEALTH_PATH, port=SERVICE_PORT)
    # /health answers once the champion is loaded: the startup probe gives it time to
    # load, readiness takes the pod in and out of the Service, liveness restarts it.
    container.startup_probe = V1Probe(
        http_get=health,
        period_seconds=5,
        timeout_seconds=3,
        failure_threshold=_STARTUP_SECONDS // 5,
    )
    container.readiness_probe = V1Probe(
        http_get=health, period_seconds=5, timeout_seconds=3, failure_threshold=2
    )
    container.liveness_probe = V1Probe(
        http_get=health, period_seconds=15, timeout_seconds=5, failure_threshold=4
    )
    strategy = V1DeploymentStrategy(
        type="RollingUpdate",
        rolling_update=V1RollingUpdateDeployment(max_surge=1, max_unavailable=0),
    )
    return _deployment(names, SERVE, template, strategy)


def serve_service(names: ClusterNames) -> V1Service:
    """A cluster-internal Service in front of ``serve`` (never a NodePort or a load
    balancer; ``kubectl port-forward service/<name> 8000:8000`` reaches it)."""
    name = service_name(names, SERVE)
    return V1Service(
        api_version="v1",
        kind="Service",
        metadata=V1ObjectMeta(name=name, namespace=names.namespace, labels=_labels(names, SERVE)),
        spec=V1ServiceSpec(
            type="ClusterIP",
            selector=service_selector(names, SERVE),
            ports=[
                V1ServicePort(name="http", protocol="TCP", port=SERVICE_PORT, target_port="http")
            ],
        ),
    )


def agent_deployment(
    names: ClusterNames,
    frame: PodFrame,
    command: list[str],
    tracking_uri: str,
    resources: ResourceOptions,
    deployed_at: str | None = None,
) -> V1Deployment:
    """``agent``: the supervision loop; the old agent stops before the new one starts.

    Args:
        names: Names and labels of the project.
        frame: What every pod of the project shares.
        command: ``ServiceContext.service_command("agent")``.
        tracking_uri: Where its runs are tracked (:func:`services_tracking_uri`).
        resources: ``backends.kubernetes.resources``: the agent runs the supervision
            steps (checkers, improvers) in its own pod, like tasks.
        deployed_at: Written on the pod template, so that each deploy restarts it.
    """
    template = _service_pod(names, frame, AGENT, command, tracking_uri, resources, deployed_at)
    return _deployment(names, AGENT, template, V1DeploymentStrategy(type="Recreate"))


def _labels(names: ClusterNames, service: str) -> dict[str, str]:
    return names.project_labels(service)


def _service_pod(
    names: ClusterNames,
    frame: PodFrame,
    service: str,
    command: list[str],
    tracking_uri: str,
    resources: ResourceOptions,
    deployed_at: str | None,
) -> V1PodTemplateSpec:
    plan = ContainerPlan(
        name=service_name(names, service),
        image=frame.image,
        command=list(command),
        user=f"{frame.uid}:{frame.uid}",
        labels={},
        environment=service_environment(tracking_uri),
    )
    container = container_from_plan(plan, frame, name=service)
    container.resources = service_resources(resources)
    return V1PodTemplateSpec(
        metadata=V1ObjectMeta(
            labels=_labels(names, service),
            annotations={ANNOTATION_DEPLOYED_AT: deployed_at} if deployed_at else None,
        ),
        spec=pod_spec([container], frame, plan.tmpfs, restart_policy="Always"),
    )


def _deployment(
    names: ClusterNames, service: str, template: V1PodTemplateSpec, strategy: V1DeploymentStrategy
) -> V1Deployment:
    return V1Deployment(
        api_version="apps/v1",
        kind="Deployment",
        metadata=V1ObjectMeta(
            name=service_name(names, service),
            namespace=names.namespace,
            labels=_labels(names, service),
        ),
        spec=V1DeploymentSpec(
            replicas=1,
            revision_history_limit=3,
            selector=V1LabelSelector(match_labels=service_selector(names, service)),
            strategy=strategy,
            template=template,
        ),
    )
