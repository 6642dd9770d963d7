"""``TrackerServer``: the MLflow tracking server container of a Docker run.

It joins the run's private network under the name ``tracker`` (tasks log to
``http://tracker:5000``) and is published on 127.0.0.1 only, for the orchestrator. Its
store (sqlite) and artifacts live on a Docker volume that outlives the run; ``kedro
scanflow tracker`` serves the same volume again to browse past runs. While it serves, runs
join its container to their network instead of starting a tracker of their own: they
save the server's start-up (about 5 CPU-seconds) and show up live in the open UI.
"""

from __future__ import annotations

import contextlib
import logging
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from kedro_scanflow.backends.base import BackendError
from kedro_scanflow.backends.docker.container_plan import tracker_container_plan
from kedro_scanflow.backends.docker.container_runtime import container_arguments, create_container
from kedro_scanflow.backends.docker.leftovers import run_is_executing
from kedro_scanflow.backends.docker.run_labels import (
    LABEL_DEPLOYMENT,
    LABEL_RUN_ID,
    LABEL_SHARED_TRACKER,
    ROLE_TRACKER,
    TRACKER_ALIAS,
    TRACKER_PORT,
)
from kedro_scanflow.images.project_image import CONTAINER_TRACKER

if TYPE_CHECKING:
    from pathlib import Path

    import docker
    from docker.models.containers import Container

    from kedro_scanflow.backends.docker.run_labels import RunLabels
    from kedro_scanflow.config.scanflow_config import TrackerContainerOptions

logger = logging.getLogger(__name__)

# The first tasks wait for the server's first answer: ask often. Whether its container
# died (it will never answer) is a question to the engine, asked less often.
_HEALTH_POLL_S = 0.1
_STATUS_CHECK_S = 1.0


class TrackerStartError(BackendError):
    """The tracking server container did not become ready."""


class TrackerServer:
    """Starts, watches and removes the tracking server container of a run."""

    def __init__(
        self,
        client: docker.DockerClient,
        labels: RunLabels,
        image: str,
        user: str,
        options: TrackerContainerOptions,
        keep: bool = False,
        deployment: bool = False,
    ):
        """Prepare the tracker of a run, or, with ``deployment``, the long-running tracker
        of ``kedro scanflow deploy`` (restarted by the engine, never a run's leftover)."""
        self._client = client
        self._labels = labels
        self._image = image
        self._user = user
        self._options = options
        self._keep = keep
        self._deployment = deployment
        self.container: Container | None = None
        self.host_uri: str | None = None
        self._ready = False
        self._joined_network: str | None = None

    @property
    def shared(self) -> bool:
        """Whether this is the shared tracker of ``kedro scanflow tracker``, joined."""
        return self._joined_network is not None

    @property
    def volume(self) -> str:
        return self._options.volume or self._labels.tracker_volume

    @property
    def network_uri(self) -> str:
        """Where tasks on the run's network reach the tracker."""
        return f"http://{TRACKER_ALIAS}:{TRACKER_PORT}"

    def start(self, network: str, wait: bool = True) -> str:
        """Start the server on ``network`` and return its host URI.

        Args:
            network: The Docker network the server joins as ``tracker``.
            wait: Wait until it answers. Without waiting, call :meth:`wait_until_ready`
                before the first request (the Docker backend warms task containers up
                meanwhile).

        Raises:
            TrackerStartError: When it exits or does not answer in time; the message ends
                with its log.
        """
        self._ensure_volume()
        labels = self._labels.labels(ROLE_TRACKER, keep=self._keep)
        if self._deployment:
            labels[LABEL_DEPLOYMENT] = "true"
        plan = tracker_container_plan(
            name=self._labels.container("tracker"),
            image=self._image,
            user=self._user,
            labels=labels,
            port=TRACKER_PORT,
            volume=self.volume,
        )
        self.container = create_container(
            self._client,
            plan,
            network,
            aliases=[TRACKER_ALIAS],
            ports={f"{TRACKER_PORT}/tcp": ("127.0.0.1", self._options.host_port or None)},
            restart=self._deployment,
        )
        self.container.start()
        self.container.reload()
        self.host_uri = _host_uri(self.container)
        self._ready = False
        if wait:
            self.wait_until_ready()
        return self.host_uri

    def join(self, container: Container, network: str) -> str:
        """Use the shared tracker ``container`` (see :func:`find_shared_tracker`) instead
        of starting one: it joins ``network`` as ``tracker`` until :meth:`stop`. Returns
        its host URI."""
        self._client.networks.get(network).connect(container, aliases=[TRACKER_ALIAS])
        self.container = container
        self._joined_network = network
        self.host_uri = _host_uri(container)
        self._ready = False
        return self.host_uri

    def _ensure_volume(self) -> None:
        import docker.errors  # noqa: PLC0415

        try:
            self._client.volumes.get(self.volume)
        except docker.errors.NotFound:
            self._client.volumes.create(self.volume, labels=self._labels.project_selector())

    def wait_until_ready(self) -> None:
        """Return once the server answers (at once when it already did).

        Raises:
            TrackerStartError: When it exits or does not answer in time.
        """
        assert self.container is not None and self.host_uri is not None
        if self._ready:
            return
        deadline = time.monotonic() + self._options.startup_timeout
        next_status_check = time.monotonic() + _STATUS_CHECK_S
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.host_uri}/health", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        self._ready = True
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() >= next_status_check:
                self.container.reload()
                if self.container.status == "exited":
                    break
                next_status_check = time.monotonic() + _STATUS_CHECK_S
            time.sleep(_HEALTH_POLL_S)
        log = self.container.logs(tail=30).decode(errors="replace")
        raise TrackerStartError(
            f"The MLflow tracking server container did not become ready "
            f"(status {self.container.status}). Its log:\n{log}"
        )

    def stop(self) -> None:
        """Remove the container (its volume stays), unless the run keeps its containers;
        a joined shared tracker only leaves the run's network, always."""
        import docker.errors  # noqa: PLC0415

        if self.container is not None and self._joined_network is not None:
            with contextlib.suppress(docker.errors.APIError):
                self._client.networks.get(self._joined_network).disconnect(
                    self.container, force=True
                )
            return
        if self.container is None or self._keep:
            return

        try:
            self.container.remove(force=True)
        except docker.errors.NotFound:
            pass


def serve_tracker_volume(
    client: docker.DockerClient, labels: RunLabels, image: str, user: str, volume: str, port: int
) -> Container:
    """Serve a tracker volume on ``127.0.0.1:port`` to browse past Docker runs; runs of
    the project share it while it serves (``labels.run_id`` must stay locked meanwhile,
    or the next run removes it as a leftover)."""
    plan = tracker_container_plan(
        name=labels.container("tracker-ui"),
        image=image,
        user=user,
        labels={**labels.labels(ROLE_TRACKER), LABEL_SHARED_TRACKER: "true"},
        port=TRACKER_PORT,
        volume=volume,
    )
    arguments = container_arguments(plan)
    arguments["ports"] = {f"{TRACKER_PORT}/tcp": ("127.0.0.1", port)}
    return client.containers.run(**arguments)


def find_shared_tracker(
    client: docker.DockerClient, labels: RunLabels, volume: str, runs_root: Path
) -> Container | None:
    """The tracker that ``kedro scanflow tracker`` serves on the project's ``volume``, if
    one is running and the command that started it still holds its lock."""
    selector = labels.project_filter(f"{LABEL_SHARED_TRACKER}=true")
    for container in client.containers.list(filters={"label": selector, "status": "running"}):
        mounts = container.attrs.get("Mounts") or []
        serves_volume = any(
            mount.get("Name") == volume and mount.get("Destination") == CONTAINER_TRACKER
            for mount in mounts
        )
        owner = container.labels.get(LABEL_RUN_ID)
        if serves_volume and owner and run_is_executing(runs_root, owner):
            return container
    return None


def _host_uri(container: Container) -> str:
    """The 127.0.0.1 address where the tracker ``container`` is published."""
    binding = container.attrs["NetworkSettings"]["Ports"][f"{TRACKER_PORT}/tcp"][0]
    return f"http://127.0.0.1:{binding['HostPort']}"
