"""``KubernetesBackend``: every task as the pod of a Job in the project's namespace.

The shared scheduler decides when a task starts; this backend only states how:

- ``start``: connect (kubeconfig), make the project's objects that are missing
  (namespace, ServiceAccount with its least-privilege Role, the shared-volume claim),
  the MLflow tracker Deployment and Service (unless ``tracker.uri`` is external) reached
  through a port-forward, and copy ``storage.seed`` folders onto the claim;
- ``launch``: submit the task's Job, with its spec in the pod's environment;
- the :class:`RunWatcher` streams pod logs into the run directory and reports exits,
  with the reason (``OOMKilled``, ``Evicted``, ``DeadlineExceeded``, image pull errors)
  and the pod's events;
- ``terminate``: delete the Job (its pod gets SIGTERM and the grace period);
- ``stop``: delete the run's Jobs and pods, unless ``--keep``. Project-level objects
  (claims, tracker, RBAC) stay: they are the project's, not the run's.

Catalog files and the run's intermediates live on the claim, not on this machine, so the
backend says ``shares_host_volume = False``: the orchestration skips host-side checks of
pipeline inputs and persisted outputs.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any, ClassVar

from kubernetes.client.exceptions import ApiException

from kedro_scanflow.backends.base import AbstractBackend, BackendContext, TaskExit
from kedro_scanflow.backends.docker.container_plan import (
    TRACKER_CLIENT_SETTINGS,
    ConfSourceError,
    check_pod_conf_source,
)
from kedro_scanflow.backends.docker.leftovers import run_is_executing
from kedro_scanflow.backends.kubernetes.cluster_api import (
    ClusterApi,
    KubernetesBackendError,
    api_message,
    connect,
)
from kedro_scanflow.backends.kubernetes.cluster_image import cluster_image, pod_uid
from kedro_scanflow.backends.kubernetes.cluster_names import (
    COMPONENT_TRACKER,
    LABEL_KEEP,
    LABEL_RUN_ID,
    TRACKER_PORT,
)
from kedro_scanflow.backends.kubernetes.namespace_setup import (
    administrative_objects,
    cluster_names,
    pod_frame,
    storage_objects,
    tracker_objects,
)
from kedro_scanflow.backends.kubernetes.pod_status import cannot_start, job_failure, job_outcome
from kedro_scanflow.backends.kubernetes.run_watcher import JOB_NAME_LABELS, RunWatcher
from kedro_scanflow.backends.kubernetes.task_job import seed_job, task_job
from kedro_scanflow.backends.kubernetes.tracker_objects import tracker_uri
from kedro_scanflow.backends.kubernetes.tracker_tunnel import TrackerTunnel
from kedro_scanflow.config.node_settings import settings_for
from kedro_scanflow.tasks.task_spec import TaskSpec
from kedro_scanflow.tracking.tracking_uri import TrackingTarget

if TYPE_CHECKING:
    from pathlib import Path

    from kubernetes.client import ApiClient

    from kedro_scanflow.backends.kubernetes.pod_templates import PodFrame
    from kedro_scanflow.pipeline.task_plan import Task

logger = logging.getLogger(__name__)

_POLL_S = 2.0
_FINISHED_JOB_TTL_S = 3600
"""A run deletes its Jobs itself; Kubernetes does it after this long if the run died."""


class KubernetesBackend(AbstractBackend):
    """Runs each task as a Job's pod in the project's namespace."""

    name: ClassVar[str] = "kubernetes"
    handle_tag: ClassVar[str | None] = "scanflow.k8s_job"
    shares_host_volume: ClassVar[bool] = False

    def __init__(self, context: BackendContext, api_client: ApiClient | None = None):
        """Create the backend.

        Args:
            context: The run it serves.
            api_client: A client of the cluster; by default one from the kubeconfig,
                made in :meth:`start`.
        """
        super().__init__(context)
        self._options = context.config.backends.kubernetes
        self.names = cluster_names(
            self._options, context.package_name, context.project_path, context.run_directory.run_id
        )
        self._api_client = api_client
        self.cluster: ClusterApi | None = None
        self.frame: PodFrame | None = None
        self._tunnel: TrackerTunnel | None = None
        self._watcher: RunWatcher | None = None
        self._jobs: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def selector(self) -> str:
        """Label selector of the run's Jobs and pods."""
        return self.names.selector_text(self.names.run_selector())

    def start(self) -> None:
        """Connect, make what the project needs in its namespace, start the tracker and
        the watches.

        Raises:
            KubernetesBackendError: No cluster, no rights, the tracker does not start, or
                a ``--conf-source`` (pods read the configuration built into the image).
        """
        try:
            check_pod_conf_source(self.context.conf_source, "the kubernetes backend")
        except ConfSourceError as error:
            raise KubernetesBackendError(str(error)) from None
        options = self._options
        cluster = ClusterApi(self._api_client or connect(options.context), self.names.namespace)
        version = cluster.check_reachable()
        self.cluster = cluster
        logger.info("Kubernetes %s, namespace %s", version, self.names.namespace)
        self.frame = frame = pod_frame(
            self.context.config,
            self.names,
            cluster_image(options, self.context.package_name),
            pod_uid(options, self.context.package_name, self.context.config.backends.docker.image),
        )
        for obj in administrative_objects(options, self.names):
            cluster.ensure(obj, may_be_forbidden=True)
        for obj in storage_objects(options, self.names) + tracker_objects(
            options, self.names, frame
        ):
            cluster.ensure(obj)
        self._remove_leftovers()
        if options.tracker.uri is None:
            self._open_tunnel()
            for key, value in TRACKER_CLIENT_SETTINGS.items():
                os.environ.setdefault(key, value)
        if options.storage.seed:
            self._seed_volume(options.storage.seed)
        self._watcher = RunWatcher(
            cluster,
            self.selector,
            self.context.run_directory,
            self.exits,
            start_timeout=options.image_pull_timeout,
        )
        self._watcher.start()

    def tracking_uri(self, host_uri: str) -> str:
        """Tasks log to the tracker's Service, or to the external tracker."""
        return self._options.tracker.uri or tracker_uri(self.names)

    def tracker_target(self, target: TrackingTarget) -> TrackingTarget:
        """The orchestrator logs through the port-forward (or to the external tracker);
        artifacts go through the server to its claim."""
        external = self._options.tracker.uri
        if external is not None:
            return TrackingTarget(
                external, target.experiment, None, "backends.kubernetes.tracker.uri"
            )
        if self._tunnel is None:
            return target
        return TrackingTarget(
            uri=self._tunnel.uri,
            experiment=target.experiment,
            artifact_location=None,
            source=f"the tracker in namespace {self.names.namespace} (port-forward)",
        )

    def tracker_note(self) -> str | None:
        if self._options.tracker.uri is not None:
            return None
        return (
            f"the tracker runs in namespace {self.names.namespace}; browse it with `kubectl "
            f"port-forward -n {self.names.namespace} service/{self.names.tracker} "
            f"{TRACKER_PORT}` and http://127.0.0.1:{TRACKER_PORT}"
        )

    def launch(self, task: Task, spec_path: Path) -> str:
        """Submit the task's Job; its spec travels in the pod's environment."""
        assert self.cluster is not None and self.frame is not None and self._watcher is not None
        spec = TaskSpec.load(spec_path)
        settings = settings_for(task, self.context.config.nodes, self._options.resources)
        job = task_job(
            names=self.names,
            frame=self.frame,
            task=task,
            settings=settings,
            spec=spec,
            keep=self.context.keep,
            job_name=self.names.job(task.slug, suffix=secrets.token_hex(2)),
            ttl_seconds=None if self.context.keep else _FINISHED_JOB_TTL_S,
        )
        name = job.metadata.name
        self._watcher.expect(task.slug, name)
        try:
            self.cluster.create(job)
        except ApiException as error:
            self._watcher.forget(name)
            raise KubernetesBackendError(
                f"the cluster refused the Job of task {task.name}: {api_message(error)}"
            ) from None
        with self._lock:
            self._jobs[task.slug] = name
        return name

    def terminate(self, slug: str, force: bool = False) -> None:
        """Delete the task's Job: its pod gets SIGTERM (or is killed at once)."""
        with self._lock:
            name = self._jobs.get(slug)
        if name is None or self.cluster is None or self._watcher is None:
            return
        self._watcher.mark_terminating(name)
        grace = 0 if force else round(self._options.terminate_grace_period)
        try:
            self.cluster.delete_job(name, grace_seconds=grace, foreground=True)
        except ApiException as error:
            logger.warning("Could not delete Job %s: %s", name, error.reason)

    def wait(self, timeout: float) -> TaskExit | None:
        if self._watcher is not None:
            self._watcher.check_stalled()
        return super().wait(timeout)

    def stop(self) -> None:
        """Stop watching; delete the run's Jobs and pods unless ``--keep``."""
        if self._watcher is not None:
            self._watcher.stop()
        if self._tunnel is not None:
            self._tunnel.close()
        if self.cluster is None:
            return
        if self.context.keep:
            logger.info(
                "Keeping the run's Jobs and pods (--keep): kubectl get jobs -n %s -l %s",
                self.names.namespace,
                self.selector,
            )
            return
        try:
            for job in self.cluster.jobs(self.selector):
                self.cluster.delete_job(job.metadata.name)
        except Exception as error:  # noqa: BLE001 - report, but never hide the run's outcome
            logger.warning(
                "Could not remove the run's Jobs (%s); remove them with: kubectl delete jobs "
                "-n %s -l %s",
                error,
                self.names.namespace,
                self.selector,
            )

    def _remove_leftovers(self) -> None:
        """Delete Jobs of earlier runs of this project that no orchestrator runs any more
        (killed outright), unless they were kept."""
        assert self.cluster is not None
        selector = self.names.selector_text(self.names.project_selector())
        runs_root = self.context.run_directory.root.parent
        for job in self.cluster.jobs(selector):
            labels = job.metadata.labels or {}
            run_id = labels.get(LABEL_RUN_ID)
            if run_id in (None, self.names.run_id) or labels.get(LABEL_KEEP) == "true":
                continue
            if not run_is_executing(runs_root, run_id):
                logger.info("Removing Job %s left by run %s", job.metadata.name, run_id)
                self.cluster.delete_job(job.metadata.name)

    def _open_tunnel(self) -> None:
        """Wait for a ready tracker pod and forward a local port to it."""
        assert self.cluster is not None
        pod = self._ready_tracker_pod()
        cluster = self.cluster

        def open_stream() -> Any:
            nonlocal pod
            try:
                return cluster.port_forward(pod, TRACKER_PORT)
            except Exception:  # noqa: BLE001 - the pod may have been replaced: look again
                pod = self._ready_tracker_pod()
                return cluster.port_forward(pod, TRACKER_PORT)

        self._tunnel = TrackerTunnel(open_stream).start()

    def _ready_tracker_pod(self) -> str:
        assert self.cluster is not None
        selector = self.names.selector_text(self.names.project_labels(COMPONENT_TRACKER))
        deadline = time.monotonic() + self._options.tracker.startup_timeout
        problem = "no pod yet"
        while time.monotonic() < deadline:
            for pod in self.cluster.pods(selector):
                conditions = (pod.status.conditions if pod.status else None) or []
                if any(c.type == "Ready" and c.status == "True" for c in conditions):
                    return str(pod.metadata.name)
                problem = f"pod {pod.metadata.name} is {pod.status.phase if pod.status else '?'}"
            time.sleep(_POLL_S)
        raise KubernetesBackendError(
            f"The MLflow tracker in namespace {self.names.namespace} did not become ready "
            f"within {self._options.tracker.startup_timeout:.0f} s ({problem}). See `kubectl "
            f"describe deployment -n {self.names.namespace} {self.names.tracker}`, or set "
            "backends.kubernetes.tracker.uri to an external MLflow server."
        )

    def _seed_volume(self, folders: list[str]) -> None:
        """Run the seed Job to completion."""
        assert self.cluster is not None and self.frame is not None
        name = self.names.seed_job(secrets.token_hex(2))
        job = seed_job(self.names, self.frame, folders, keep=self.context.keep, name=name)
        self.cluster.create(job)
        deadline = time.monotonic() + self._options.image_pull_timeout + 600
        stalled_since: float | None = None
        while time.monotonic() < deadline:
            current = self.cluster.job(name)
            outcome = job_outcome(current)
            if outcome is True:
                return
            problems = [
                problem
                for pod in self.cluster.pods(f"{JOB_NAME_LABELS[1]}={name}")
                if (problem := cannot_start(pod))
            ]
            stalled_since = (stalled_since or time.monotonic()) if problems else None
            if (
                stalled_since
                and time.monotonic() - stalled_since > self._options.image_pull_timeout
            ):
                outcome = False
            if outcome is False:
                reason = problems[0] if problems else job_failure(current)
                raise KubernetesBackendError(
                    f"Seeding the shared volume failed ({reason}): "
                    f"kubectl logs -n {self.names.namespace} job/{name}"
                )
            time.sleep(_POLL_S)
        raise KubernetesBackendError(
            f"Seeding the shared volume did not finish in time: kubectl describe -n "
            f"{self.names.namespace} job/{name}"
        )
