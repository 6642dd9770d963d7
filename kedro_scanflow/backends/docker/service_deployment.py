"""``DockerServiceDeployer``: ``serve`` and ``agent`` as long-running containers.

Next to an MLflow tracker container (the project's tracker volume, as Docker runs use),
on a private network of the deployment:

* ``serve``: ``kedro scanflow serve`` in the project image, published on
  ``127.0.0.1:<serve.port>`` only;
* ``agent``: ``kedro scanflow agent`` in the project image; its steps run as processes
  inside its container (the local backend), so it needs no Docker socket.

Both run as the image's unprivileged user with the task containers' security settings,
mount the project's ``data/`` (predictions, labels, the agent's state: the shared
volume) and ``conf/`` (read-only), and reach the tracker as ``http://tracker:5000``
through ``SCANFLOW_TRACKING_URI``. The engine restarts them if they stop (``unless-
stopped``); a restarted agent carries on from its saved state. Everything carries the
project's labels and ``scanflow.deployment``, so runs never take them for leftovers.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from kedro_scanflow.backends.docker.container_plan import (
    ContainerPlan,
    project_environment,
    shared_mounts,
)
from kedro_scanflow.backends.docker.container_runtime import (
    DockerBackendError,
    create_container,
    project_image_uid,
)
from kedro_scanflow.backends.docker.run_labels import (
    LABEL_DEPLOYMENT,
    TRACKER_ALIAS,
    TRACKER_PORT,
    RunLabels,
)
from kedro_scanflow.backends.docker.shared_folders import hand_over_shared_folders
from kedro_scanflow.backends.docker.tracker_server import TrackerServer
from kedro_scanflow.backends.services import (
    AGENT,
    SERVE,
    SERVICE_PORT,
    ServiceDeployer,
    ServiceReport,
)
from kedro_scanflow.images.docker_engine import docker_client
from kedro_scanflow.images.project_image import project_image_name
from kedro_scanflow.tracking.tracking_uri import OVERRIDE_VARIABLE

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

logger = logging.getLogger(__name__)

DEPLOYMENT_ID = "services"
"""Stands in for the run id in the deployment's names: ``scanflow-<project>-services-serve``."""
READY_TIMEOUT_S = 300.0


class DockerServiceDeployer(ServiceDeployer):
    """Deploys the services on the local Docker engine."""

    @property
    def labels(self) -> RunLabels:
        return RunLabels(self.context.package_name, self.context.project_path, DEPLOYMENT_ID)

    @property
    def image(self) -> str:
        return self.context.config.backends.docker.image or project_image_name(
            self.context.package_name
        )

    def deploy(self) -> ServiceReport:
        """Replace any earlier deployment of the project, start tracker, serve and agent,
        and wait until ``serve`` answers.

        Raises:
            DockerBackendError: When the image is missing, or ``serve`` never answers (the
                message ends with its log); what was started is removed again.
        """
        client = docker_client()
        uid = project_image_uid(client, self.image)
        user = f"{uid}:{uid}"
        self.remove()
        context = self.context
        runs_root = context.project_path / context.config.run.directory
        hand_over_shared_folders(context.project_path, runs_root, uid)
        labels = self.labels
        report = ServiceReport()
        client.networks.create(labels.network, driver="bridge", labels=self._labels("network"))
        report.objects.append(f"network/{labels.network}")
        try:
            tracker = TrackerServer(
                client,
                labels,
                self.image,
                user,
                context.config.backends.docker.tracker,
                deployment=True,
            )
            report.tracker_address = tracker.start(labels.network)
            report.objects.append(f"container/{labels.container('tracker')}")
            port = context.config.serve.port
            serve = self._start(client, SERVE, user, {f"{SERVICE_PORT}/tcp": ("127.0.0.1", port)})
            report.objects.append(f"container/{serve.name}")
            agent = self._start(client, AGENT, user)
            report.objects.append(f"container/{agent.name}")
            report.serve_address = f"http://127.0.0.1:{port}"
            self._wait_until_serving(serve, report.serve_address)
        except BaseException:
            self.remove()
            raise
        report.notes.append(
            f"Tracker store: Docker volume {tracker.volume}. Agent logs: docker logs -f {agent.name}"
        )
        return report

    def remove(self) -> list[str]:
        """Remove the deployment's containers and network; the tracker volume and
        ``data/`` stay."""
        import docker.errors  # noqa: PLC0415

        client = docker_client()
        selector = self.labels.project_filter(f"{LABEL_DEPLOYMENT}=true")
        removed = []
        for container in client.containers.list(all=True, filters={"label": selector}):
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                continue
            removed.append(f"container/{container.name}")
        for network in client.networks.list(filters={"label": selector}):
            network.remove()
            removed.append(f"network/{network.name}")
        return removed

    def _labels(self, role: str) -> dict[str, str]:
        return {**self.labels.labels(role), LABEL_DEPLOYMENT: "true"}

    def _start(
        self,
        client: docker.DockerClient,
        service: str,
        user: str,
        ports: dict[str, tuple[str, int | None]] | None = None,
    ) -> Container:
        context = self.context
        tracker_uri = f"http://{TRACKER_ALIAS}:{TRACKER_PORT}"
        plan = ContainerPlan(
            name=self.labels.container(service),
            image=self.image,
            command=context.service_command(service),
            user=user,
            labels=self._labels(service),
            mounts=shared_mounts(
                context.project_path, context.project_path / context.config.run.directory
            ),
            environment=project_environment(
                {
                    OVERRIDE_VARIABLE: tracker_uri,
                    "MLFLOW_TRACKING_URI": tracker_uri,
                    "TF_CPP_MIN_LOG_LEVEL": "1",
                }
            ),
        )
        container = create_container(client, plan, self.labels.network, ports=ports, restart=True)
        container.start()
        return container

    def _wait_until_serving(self, container: Container, address: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{address}/health", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            container.reload()
            if container.status in ("exited", "dead") or container.attrs["RestartCount"] > 0:
                break
            time.sleep(1.0)
        log = container.logs(tail=30).decode(errors="replace")
        raise DockerBackendError(
            f"`kedro scanflow serve` did not answer in its container (status {container.status}). "
            f"Its log:\n{log}"
        )
