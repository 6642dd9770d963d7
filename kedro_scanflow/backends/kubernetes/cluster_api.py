"""``ClusterApi``: the calls the Kubernetes backend makes, through the official client.

Every object goes to the API server as the client's typed model (serialised by its
``ApiClient``), and every answer comes back as one. The backend never builds JSON by
hand. The connection comes from the kubeconfig (``KUBECONFIG``, ``~/.kube/config``,
``backends.kubernetes.context``) or, inside a pod, from its ServiceAccount.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kubernetes.client import (
    ApiClient,
    AppsV1Api,
    BatchV1Api,
    CoreV1Api,
    RbacAuthorizationV1Api,
    V1DeleteOptions,
)
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from kedro_scanflow.backends.base import BackendError

if TYPE_CHECKING:
    import socket
    from collections.abc import Iterator

    from kubernetes.client import CoreV1Event, V1Job, V1Pod

logger = logging.getLogger(__name__)

_CONFLICT, _FORBIDDEN, _NOT_FOUND = 409, 403, 404


class KubernetesBackendError(BackendError):
    """The Kubernetes backend cannot run this workflow (no cluster, no rights, no tracker)."""


def connect(context: str | None = None) -> ApiClient:
    """An API client for the cluster of the kubeconfig (or of the pod we run in).

    Raises:
        KubernetesBackendError: When no cluster is configured; the message says how.
    """
    from kubernetes import config  # noqa: PLC0415 - only a real run needs a kubeconfig

    try:
        return config.new_client_from_config(context=context)
    except (config.ConfigException, OSError, TypeError) as kubeconfig_error:
        if context is None:
            try:
                config.load_incluster_config()
                return ApiClient()
            except config.ConfigException:
                pass
        raise KubernetesBackendError(
            f"No Kubernetes cluster is configured ({kubeconfig_error}). Point KUBECONFIG "
            "to a kubeconfig file (kind, minikube and k3d write one), or set "
            "backends.kubernetes.context."
        ) from None


class ClusterApi:
    """Typed calls on one namespace of one cluster."""

    def __init__(self, api_client: ApiClient, namespace: str):
        self.api_client = api_client
        self.namespace = namespace
        self.core = CoreV1Api(api_client)
        self.batch = BatchV1Api(api_client)
        self.apps = AppsV1Api(api_client)
        self.rbac = RbacAuthorizationV1Api(api_client)

    def check_reachable(self) -> str:
        """The cluster's version, or an error that says which cluster did not answer.

        Raises:
            KubernetesBackendError: When the API server does not answer.
        """
        from kubernetes.client import VersionApi  # noqa: PLC0415

        host = self.api_client.configuration.host
        try:
            return str(VersionApi(self.api_client).get_code(_request_timeout=15).git_version)
        except Exception as error:  # noqa: BLE001 - connection errors come in many types
            raise KubernetesBackendError(
                f"The Kubernetes API server at {host} does not answer ({error}). Is the "
                "cluster running, and does KUBECONFIG point to it?"
            ) from None

    def create(self, obj: Any) -> Any:
        """Create ``obj`` (a typed model); its ``kind`` says which API.

        Raises:
            ApiException: As the API server answered (409 when it exists).
        """
        kind = obj.kind
        if kind == "Namespace":
            return self.core.create_namespace(obj)
        creators = {
            "ServiceAccount": self.core.create_namespaced_service_account,
            "Role": self.rbac.create_namespaced_role,
            "RoleBinding": self.rbac.create_namespaced_role_binding,
            "PersistentVolumeClaim": self.core.create_namespaced_persistent_volume_claim,
            "Service": self.core.create_namespaced_service,
            "Deployment": self.apps.create_namespaced_deployment,
            "Job": self.batch.create_namespaced_job,
        }
        return creators[kind](self.namespace, obj)

    def ensure(self, obj: Any, may_be_forbidden: bool = False) -> bool:
        """Create ``obj`` unless it exists; return whether it was created.

        Args:
            obj: A typed model.
            may_be_forbidden: The object is usually made once by an administrator (the
                namespace, ServiceAccount, Role); a run without the right to create it
                assumes it exists.

        Raises:
            KubernetesBackendError: When the cluster refuses.
        """
        try:
            self.create(obj)
        except ApiException as error:
            if error.status == _CONFLICT:
                return False
            if error.status == _FORBIDDEN and may_be_forbidden:
                logger.info(
                    "Not allowed to create %s %s; assuming an administrator made it.",
                    obj.kind,
                    obj.metadata.name,
                )
                return False
            raise KubernetesBackendError(
                f"Cannot create {obj.kind} {obj.metadata.name} in namespace "
                f"{self.namespace}: {api_message(error)}"
            ) from None
        except HTTPError as error:
            raise KubernetesBackendError(
                f"Lost the Kubernetes API server while creating {obj.kind} "
                f"{obj.metadata.name}: {error}"
            ) from None
        logger.info("Created %s %s", obj.kind, obj.metadata.name)
        return True

    def delete_job(
        self, name: str, grace_seconds: int | None = None, foreground: bool = False
    ) -> None:
        """Delete a Job and its pods; a Job already gone is fine."""
        options = V1DeleteOptions(
            propagation_policy="Foreground" if foreground else "Background",
            grace_period_seconds=grace_seconds,
        )
        try:
            self.batch.delete_namespaced_job(name, self.namespace, body=options)
        except ApiException as error:
            if error.status != _NOT_FOUND:
                raise

    def job(self, name: str) -> V1Job:
        return self.batch.read_namespaced_job(name, self.namespace)

    def jobs(self, selector: str) -> list[V1Job]:
        return list(self.batch.list_namespaced_job(self.namespace, label_selector=selector).items)

    def pods(self, selector: str) -> list[V1Pod]:
        return list(self.core.list_namespaced_pod(self.namespace, label_selector=selector).items)

    def events(self, object_name: str) -> list[CoreV1Event]:
        """Events about one object (a pod, a Job), oldest first."""
        listing = self.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={object_name}"
        )
        return sorted(
            listing.items,
            key=lambda e: str(e.last_timestamp or e.event_time or e.first_timestamp or ""),
        )

    def pod_log(self, pod: str, container: str) -> Iterator[bytes]:
        """The container's log, followed until the container ends."""
        response = self.core.read_namespaced_pod_log(
            pod, self.namespace, container=container, follow=True, _preload_content=False
        )
        try:
            yield from response.stream(4096, decode_content=False)
        finally:
            response.release_conn()

    def port_forward(self, pod: str, port: int) -> socket.socket:
        """A socket connected to ``port`` of ``pod`` through the API server."""
        from kubernetes.stream import portforward  # noqa: PLC0415

        forward = portforward(
            self.core.connect_get_namespaced_pod_portforward, pod, self.namespace, ports=str(port)
        )
        return forward.socket(port)


def api_message(error: ApiException) -> str:
    """What the API server said, from its ``Status`` answer."""
    import json  # noqa: PLC0415

    try:
        return str(json.loads(error.body)["message"])
    except (TypeError, ValueError, KeyError):
        return f"{error.status} {error.reason}"
