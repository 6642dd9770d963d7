"""``KubernetesServiceDeployer``: ``serve`` and ``agent`` as Deployments in the project's
namespace, next to the tracker.

``deploy`` makes what the project needs in its namespace with the backend's own setup
(namespace, ServiceAccount and Role, the shared claim, the tracker and its claim), waits
for the tracker, creates or replaces the ``serve`` Deployment and Service and the
``agent`` Deployment (:mod:`.service_objects`), and waits until ``serve``'s rollout is
complete, as ``kubectl rollout status`` does. When it never is, the error says why: the
pod's state, its events and the end of its log. ``remove`` deletes the services' objects,
found by label; the tracker, the claims (predictions, labels, the agent's state), the
namespace and its RBAC stay.

The deployer talks to the cluster with the kubeconfig's credentials, not with the runner
Role (which only creates and reads Deployments and Services, and is not widened for
this): replacing and deleting them takes ``update``, ``list`` and ``delete`` too, which
the built-in ``edit`` role grants in a namespace.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from kubernetes.client import V1DeleteOptions
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from kedro_scanflow.backends.kubernetes.cluster_api import (
    ClusterApi,
    KubernetesBackendError,
    api_message,
    connect,
)
from kedro_scanflow.backends.kubernetes.cluster_image import cluster_image, pod_uid
from kedro_scanflow.backends.kubernetes.cluster_names import (
    COMPONENT_TRACKER,
    TRACKER_PORT,
    ClusterNames,
)
from kedro_scanflow.backends.kubernetes.namespace_setup import (
    administrative_objects,
    cluster_names,
    data_claim_name,
    pod_frame,
    storage_objects,
    tracker_objects,
)
from kedro_scanflow.backends.kubernetes.pod_status import cannot_start, explain, unschedulable
from kedro_scanflow.backends.kubernetes.service_objects import (
    agent_deployment,
    serve_deployment,
    serve_service,
    service_name,
    service_selector,
    services_tracking_uri,
)
from kedro_scanflow.backends.services import (
    AGENT,
    SERVE,
    SERVICE_PORT,
    ServiceDeployer,
    ServiceReport,
)

if TYPE_CHECKING:
    from kubernetes.client import ApiClient, V1Deployment, V1Pod

    from kedro_scanflow.backends.kubernetes.pod_templates import PodFrame
    from kedro_scanflow.backends.services import ServiceContext

logger = logging.getLogger(__name__)

_NOT_FOUND, _CONFLICT, _FORBIDDEN, _INVALID = 404, 409, 403, 422
_ATTEMPTS = 3
"""Reads and replaces of an object that changes meanwhile (a rollout's status) before
giving up."""
_CRASHES = 3
"""Restarts after which a crashing pod is reported at once instead of at the timeout."""
_LOG_LINES = 30
_EVENTS = 6
_RUN_ID = "services"
"""The services belong to the project, not to a run; :class:`ClusterNames` needs one."""


@dataclass(frozen=True)
class _Prepared:
    cluster: ClusterApi
    frame: PodFrame


class KubernetesServiceDeployer(ServiceDeployer):
    """Deploys ``serve`` and ``agent`` in the project's namespace (``backends.kubernetes``)."""

    def __init__(
        self,
        context: ServiceContext,
        api_client: ApiClient | None = None,
        ready_timeout: float | None = None,
        poll_seconds: float = 2.0,
    ):
        """Create the deployer.

        Args:
            context: The project.
            api_client: A client of the cluster; by default one from the kubeconfig.
            ready_timeout: Seconds to wait for the tracker, then for ``serve``; default:
                ``backends.kubernetes.tracker.startup_timeout``.
            poll_seconds: Pause between two looks at a rollout.
        """
        super().__init__(context)
        self._options = context.config.backends.kubernetes
        self.names: ClusterNames = cluster_names(
            self._options, context.package_name, context.project_path, _RUN_ID
        )
        self._api_client = api_client
        self._ready_timeout = ready_timeout or self._options.tracker.startup_timeout
        self._poll_seconds = poll_seconds
        self._prepared: _Prepared | None = None

    @property
    def namespace(self) -> str:
        return self.names.namespace

    def prepare(self) -> ClusterApi:
        """Connect, make the project's objects that are missing and wait for the tracker.

        Raises:
            KubernetesBackendError: No cluster, no rights, a claim ``serve`` and
                ``agent`` cannot share, or a tracker that does not become ready.
        """
        if self._prepared is not None:
            return self._prepared.cluster
        options, names = self._options, self.names
        if "ReadWriteOncePod" in options.storage.access_modes:
            raise KubernetesBackendError(
                "backends.kubernetes.storage.access_modes is ReadWriteOncePod, but serve and "
                "agent both mount the shared claim (and a rollout of serve runs two serve "
                "pods for a moment): use ReadWriteOnce (every pod on one cluster node) or "
                "ReadWriteMany."
            )
        cluster = ClusterApi(self._api_client or connect(options.context), names.namespace)
        version = cluster.check_reachable()
        logger.info("Kubernetes %s, namespace %s", version, names.namespace)
        package = self.context.package_name
        frame = pod_frame(
            self.context.config,
            names,
            cluster_image(options, package),
            pod_uid(options, package, self.context.config.backends.docker.image),
        )
        for obj in administrative_objects(options, names):
            cluster.ensure(obj, may_be_forbidden=True)
        for obj in storage_objects(options, names) + tracker_objects(options, names, frame):
            cluster.ensure(obj)
        if options.tracker.uri is None:
            with self.context.console.status("Waiting for the MLflow tracker..."):
                self._wait_until_rolled_out(
                    cluster,
                    names.tracker,
                    names.project_labels(COMPONENT_TRACKER),
                    "tracker",
                    "the MLflow tracker",
                    hint="or set backends.kubernetes.tracker.uri to an external MLflow server",
                )
        self._prepared = _Prepared(cluster, frame)
        return cluster

    def service_objects(self, deployed_at: str | None = None) -> list[Any]:
        """The ``serve`` Deployment and Service and the ``agent`` Deployment."""
        frame = self._frame()
        options, names, context = self._options, self.names, self.context
        uri = services_tracking_uri(options, names)
        return [
            serve_deployment(
                names, frame, context.service_command(SERVE), uri, options.resources, deployed_at
            ),
            serve_service(names),
            agent_deployment(
                names, frame, context.service_command(AGENT), uri, options.resources, deployed_at
            ),
        ]

    def deploy(self) -> ServiceReport:
        """Create or replace the services and wait until ``serve`` is ready.

        Raises:
            KubernetesBackendError: When the cluster refuses, or ``serve`` never becomes
                ready (the message ends with its log).
        """
        cluster = self.prepare()
        deployed_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        report = ServiceReport()
        for obj in self.service_objects(deployed_at):
            action = self._create_or_replace(cluster, obj)
            report.objects.append(f"{obj.kind}/{obj.metadata.name}")
            logger.info("%s %s %s", action.capitalize(), obj.kind, obj.metadata.name)
        serve = service_name(self.names, SERVE)
        with self.context.console.status(f"Waiting for {serve} to become ready..."):
            self._wait_until_rolled_out(
                cluster,
                serve,
                service_selector(self.names, SERVE),
                SERVE,
                "serve",
                hint="a serve pod of an earlier deploy, if any, keeps answering; "
                "`kedro scanflow deploy --down` removes the services",
            )
        return self._report(cluster, report)

    def remove(self) -> list[str]:
        """Delete the ``serve`` and ``agent`` Deployments and the ``serve`` Service (found
        by label); return them as ``kind/name``.

        Raises:
            KubernetesBackendError: When the cluster refuses.
        """
        options = self._options
        cluster = ClusterApi(self._api_client or connect(options.context), self.namespace)
        cluster.check_reachable()
        options_body = V1DeleteOptions(propagation_policy="Background")
        removed = []
        for service in (SERVE, AGENT):
            selector = ClusterNames.selector_text(service_selector(self.names, service))
            kinds = (
                ("Deployment", cluster.apps.list_namespaced_deployment, _delete_deployment),
                ("Service", cluster.core.list_namespaced_service, _delete_service),
            )
            for kind, list_objects, delete in kinds:
                try:
                    for obj in list_objects(self.namespace, label_selector=selector).items:
                        try:
                            delete(cluster, obj.metadata.name, options_body)
                        except ApiException as error:
                            if error.status != _NOT_FOUND:
                                raise
                        removed.append(f"{kind}/{obj.metadata.name}")
                except ApiException as error:
                    raise _refused(
                        "remove", f"{kind}s", f"(labels {selector})", self.namespace, error
                    ) from None
        return removed

    # Creating and replacing ----------------------------------------------------------

    def _frame(self) -> PodFrame:
        if self._prepared is None:
            self.prepare()
        assert self._prepared is not None
        return self._prepared.frame

    def _create_or_replace(self, cluster: ClusterApi, obj: Any) -> str:
        """Create ``obj``, or replace the object of that name (its ``resourceVersion``,
        and a Service's cluster IPs, carried over); return what was done."""
        kind, name = obj.kind, obj.metadata.name
        read, replace = {
            "Deployment": (
                cluster.apps.read_namespaced_deployment,
                cluster.apps.replace_namespaced_deployment,
            ),
            "Service": (
                cluster.core.read_namespaced_service,
                cluster.core.replace_namespaced_service,
            ),
        }[kind]
        for attempt in range(_ATTEMPTS):
            retry = attempt < _ATTEMPTS - 1
            try:
                try:
                    current = read(name, cluster.namespace)
                except ApiException as error:
                    if error.status != _NOT_FOUND:
                        raise
                    cluster.create(obj)
                    return "created"
                obj.metadata.resource_version = current.metadata.resource_version
                if kind == "Service" and current.spec is not None:
                    obj.spec.cluster_ip = current.spec.cluster_ip
                    obj.spec.cluster_ips = current.spec.cluster_ips
                replace(name, cluster.namespace, obj)
                return "replaced"
            except ApiException as error:
                if error.status == _CONFLICT and retry:
                    continue  # changed (or created) meanwhile: read it again
                raise _refused("create or replace", kind, name, cluster.namespace, error) from None
            except HTTPError as error:
                raise KubernetesBackendError(
                    f"Lost the Kubernetes API server while deploying {kind} {name}: {error}"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # Waiting -------------------------------------------------------------------------

    def _wait_until_rolled_out(
        self,
        cluster: ClusterApi,
        name: str,
        selector: dict[str, str],
        container: str,
        what: str,
        hint: str,
    ) -> None:
        """Wait until the Deployment ``name`` runs its current template, ready.

        Raises:
            KubernetesBackendError: At the timeout, or as soon as its pod cannot start
                for longer than ``image_pull_timeout``, keeps crashing, or cannot be
                created; with the pod's state, events and log.
        """
        start = time.monotonic()
        deadline = start + self._ready_timeout
        stuck_since: float | None = None
        selector_text = ClusterNames.selector_text(selector)
        while True:
            try:
                deployment = cluster.apps.read_namespaced_deployment(name, cluster.namespace)
            except ApiException as error:
                raise _refused("read", "Deployment", name, cluster.namespace, error) from None
            if rollout_complete(deployment):
                return
            pods = [p for p in cluster.pods(selector_text) if not _ready(p)]
            now = time.monotonic()
            stuck = any(cannot_start(p) for p in pods)
            stuck_since = (stuck_since or now) if stuck else None
            reason = rollout_failure(deployment)
            if reason is None and any(_crashes(p, container) >= _CRASHES for p in pods):
                reason = f"its container keeps crashing (restarted {_CRASHES} times or more)"
            if (
                reason is None
                and stuck_since
                and now - stuck_since > self._options.image_pull_timeout
            ):
                reason = "its pod cannot start"
            if reason is None and now >= deadline:
                reason = f"it is not ready after {self._ready_timeout:.0f} s"
            if reason is not None:
                raise KubernetesBackendError(
                    self._not_ready(cluster, deployment, pods, container, what, reason, hint)
                )
            time.sleep(self._poll_seconds)

    def _not_ready(
        self,
        cluster: ClusterApi,
        deployment: V1Deployment,
        pods: list[V1Pod],
        container: str,
        what: str,
        reason: str,
        hint: str,
    ) -> str:
        """Why ``what`` is not ready: state and events of each pod, and its log's end."""
        name, namespace = deployment.metadata.name, cluster.namespace
        lines = [f"{what} (Deployment {name} in namespace {namespace}) is not ready: {reason}."]
        lines += [f"  Deployment: {c}" for c in _deployment_conditions(deployment)]
        if not pods:
            lines.append("  no pod of it is running yet")
        log: list[str] = []
        for pod in pods:
            lines.append(f"  pod {pod.metadata.name}: {pod_state(pod, container)}")
            lines += [f"    event {e}" for e in _events(cluster, pod.metadata.name)]
            log = log or _log_tail(cluster, pod, container)
        lines.append(
            f"  See `kubectl -n {namespace} describe deployment/{name}` and "
            f"`kubectl -n {namespace} logs deployment/{name}`; {hint}."
        )
        if log:
            lines.append("  last lines of its log:")
            lines += [f"    {line}" for line in log]
        return "\n".join(lines)

    # Reporting -----------------------------------------------------------------------

    def _report(self, cluster: ClusterApi, report: ServiceReport) -> ServiceReport:
        names, namespace = self.names, self.namespace
        serve, agent = service_name(names, SERVE), service_name(names, AGENT)
        report.serve_address = (
            f"kubectl -n {namespace} port-forward service/{serve} "
            f"{SERVICE_PORT}:{SERVICE_PORT}, then http://127.0.0.1:{SERVICE_PORT}"
        )
        external = self._options.tracker.uri
        report.tracker_address = external or (
            f"kubectl -n {namespace} port-forward service/{names.tracker} "
            f"{TRACKER_PORT}:{TRACKER_PORT}, then http://127.0.0.1:{TRACKER_PORT}"
        )
        report.notes.append(
            f"inside the cluster, serve answers at http://{serve}.{namespace}.svc:{SERVICE_PORT}"
        )
        report.notes.append(f"the agent's log: kubectl -n {namespace} logs -f deployment/{agent}")
        selector = ClusterNames.selector_text(service_selector(names, AGENT))
        for pod in cluster.pods(selector):
            if cannot_start(pod) or _crashes(pod, AGENT):
                report.notes.append(
                    f"the agent is not running well (pod {pod.metadata.name}: "
                    f"{pod_state(pod, AGENT)}): see its log"
                )
        claim = data_claim_name(self._options, names)
        report.notes.append(
            f"predictions and the agent's state are on the claim {claim} "
            "(kept by `kedro scanflow deploy --down`)"
        )
        if "ReadWriteMany" not in self._options.storage.access_modes:
            report.notes.append(
                f"the claim {claim} is ReadWriteOnce: serve, agent and task pods must run on "
                "one cluster node (use ReadWriteMany storage on larger clusters)"
            )
        return report


# Reading Deployments and pods ------------------------------------------------------------


def rollout_complete(deployment: V1Deployment) -> bool:
    """Whether the Deployment runs its current template only, every replica available
    (the rule of ``kubectl rollout status``)."""
    status = deployment.status
    if status is None:
        return False
    if (status.observed_generation or 0) < (deployment.metadata.generation or 0):
        return False
    wanted = deployment.spec.replicas if deployment.spec.replicas is not None else 1
    updated = status.updated_replicas or 0
    return (
        updated >= wanted
        and (status.replicas or 0) <= updated
        and (status.available_replicas or 0) >= updated
    )


def rollout_failure(deployment: V1Deployment) -> str | None:
    """Why a rollout cannot go on by itself: the ReplicaSet cannot create the pod (quota,
    Pod Security admission), or the progress deadline passed."""
    for condition in (deployment.status.conditions if deployment.status else None) or []:
        if condition.type == "ReplicaFailure" and condition.status == "True":
            return explain(condition.reason or "ReplicaFailure", condition.message)
        if condition.type == "Progressing" and condition.reason == "ProgressDeadlineExceeded":
            return explain(condition.reason, condition.message)
    return None


def pod_state(pod: V1Pod, container: str) -> str:
    """``Running, not ready: ...``, ``CrashLoopBackOff (restarted 3 times, last exit code
    1)``, ``ImagePullBackOff: ...``: what keeps a pod from being ready."""
    status = pod.status
    if status is None:
        return "no status yet"
    if status.reason:
        return explain(status.reason, status.message)
    if problem := cannot_start(pod):
        return problem
    if problem := unschedulable(pod):
        return f"not scheduled: {problem}"
    parts = []
    for item in status.container_statuses or []:
        if item.name != container:
            continue
        state = item.state
        if state is not None and state.waiting is not None:
            parts.append(explain(state.waiting.reason or "Waiting", state.waiting.message))
        elif state is not None and state.running is not None:
            parts.append("running, not ready (its probes do not pass)")
        elif state is not None and state.terminated is not None:
            parts.append(f"exited with code {state.terminated.exit_code}")
        last = item.last_state.terminated if item.last_state else None
        if item.restart_count:
            detail = f"restarted {item.restart_count} times"
            if last is not None:
                detail += f", last exit code {last.exit_code}"
                if last.reason not in (None, "Error", "Completed"):
                    detail += f" ({explain(last.reason)})"
            parts.append(detail)
    return "; ".join(parts) or str(status.phase or "Pending")


def _ready(pod: V1Pod) -> bool:
    conditions = (pod.status.conditions if pod.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def _crashes(pod: V1Pod, container: str) -> int:
    for item in (pod.status.container_statuses if pod.status else None) or []:
        if item.name == container:
            return item.restart_count or 0
    return 0


def _deployment_conditions(deployment: V1Deployment) -> list[str]:
    conditions = (deployment.status.conditions if deployment.status else None) or []
    return [
        f"{c.type}={c.status} {c.reason or ''}: {c.message or ''}".rstrip(": ")
        for c in conditions
        if c.status != "True" or c.type == "ReplicaFailure"
    ]


def _events(cluster: ClusterApi, pod: str) -> list[str]:
    try:
        events = cluster.events(pod)
    except ApiException:
        return []
    return [f"{e.type} {e.reason}: {(e.message or '').strip()}" for e in events[-_EVENTS:]]


def _log_tail(cluster: ClusterApi, pod: V1Pod, container: str) -> list[str]:
    """The end of the container's log: of its last crashed run when it is restarting,
    else of the running one; its termination message when there is no log."""
    statuses = (pod.status.container_statuses if pod.status else None) or []
    status = next((s for s in statuses if s.name == container), None)
    if status is None:
        return []
    running = status.state is not None and status.state.running is not None
    previous = bool(status.restart_count) and not running
    try:
        response = cluster.core.read_namespaced_pod_log(
            pod.metadata.name,
            cluster.namespace,
            container=container,
            previous=previous,
            tail_lines=_LOG_LINES,
            _preload_content=False,
        )
        try:
            text = b"".join(response.stream(4096, decode_content=False)).decode(errors="replace")
        finally:
            response.release_conn()
    except (ApiException, HTTPError):
        text = ""
    if not text.strip():
        last = status.last_state.terminated if status.last_state else None
        text = (last.message if last is not None else None) or ""
    return text.rstrip().splitlines()[-_LOG_LINES:]


def _delete_deployment(cluster: ClusterApi, name: str, body: V1DeleteOptions) -> None:
    _release(
        cluster.apps.delete_namespaced_deployment(
            name, cluster.namespace, body=body, _preload_content=False
        )
    )


def _delete_service(cluster: ClusterApi, name: str, body: V1DeleteOptions) -> None:
    # API servers answer with the deleted Service or with a Status: read neither.
    _release(
        cluster.core.delete_namespaced_service(
            name, cluster.namespace, body=body, _preload_content=False
        )
    )


def _release(response: Any) -> None:
    release = getattr(response, "release_conn", None)
    if release is not None:
        release()


def _refused(
    action: str, kind: str, name: str, namespace: str, error: ApiException
) -> KubernetesBackendError:
    message = f"Cannot {action} {kind} {name} in namespace {namespace}: {api_message(error)}"
    if error.status == _FORBIDDEN:
        message += (
            ". `kedro scanflow deploy` uses your kubeconfig's credentials, which need get, "
            "list, create, update and delete on deployments and services (and list on pods "
            "and events) in the namespace, as the built-in `edit` role grants; the runs' "
            "Role is not widened for it"
        )
    elif error.status == _INVALID:
        message += (
            ". If an earlier version made it differently, remove the services with "
            "`kedro scanflow deploy --down` and deploy again"
        )
    return KubernetesBackendError(message)
