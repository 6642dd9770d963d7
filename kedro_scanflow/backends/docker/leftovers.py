"""Finding and removing what killed Docker runs left behind.

A run removes its containers and network when it ends, even on failure or Ctrl-C. Only
an orchestrator killed outright (SIGKILL, a power cut) leaves them; the next Docker run of
the project, or ``kedro scanflow clean``, removes them: everything with the project's
labels whose run is not executing any more (its run directory is not locked). Runs made
with ``--keep`` are left alone unless asked. ``kedro scanflow tracker`` holds such a lock
too while it serves, so its container is a leftover only once that command is gone.
"""

from __future__ import annotations

import fcntl
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kedro_scanflow.backends.docker.run_labels import LABEL_DEPLOYMENT, LABEL_KEEP, LABEL_RUN_ID
from kedro_scanflow.runs.run_directory import RunDirectory

if TYPE_CHECKING:
    from pathlib import Path

    import docker
    from docker.models.networks import Network

    from kedro_scanflow.backends.docker.run_labels import RunLabels

logger = logging.getLogger(__name__)


@dataclass
class Removed:
    """What a cleanup removed."""

    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)


def run_is_executing(runs_root: Path, run_id: str) -> bool:
    """Whether an orchestrator still holds run ``run_id`` (its lock is taken)."""
    lock_path = RunDirectory(runs_root / run_id).lock_path
    if not lock_path.exists():
        return False
    with lock_path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
    return False


def remove_leftovers(
    client: docker.DockerClient,
    labels: RunLabels,
    runs_root: Path,
    include_kept: bool = False,
    exclude_run: str | None = None,
) -> Removed:
    """Remove the project's containers and networks whose run is no longer executing."""
    selector = labels.project_filter()
    removed = Removed()

    def stale(item_labels: dict[str, str]) -> bool:
        run_id = item_labels.get(LABEL_RUN_ID)
        if run_id is None or run_id == exclude_run or LABEL_DEPLOYMENT in item_labels:
            return False
        if item_labels.get(LABEL_KEEP) == "true" and not include_kept:
            return False
        return not run_is_executing(runs_root, run_id)

    for container in client.containers.list(all=True, filters={"label": selector}):
        if stale(container.labels):
            container.remove(force=True)
            removed.containers.append(container.name)
    for network in client.networks.list(filters={"label": selector}):
        if stale(network.attrs.get("Labels") or {}):
            _disconnect_all(network)  # the shared tracker a killed run had joined
            network.remove()
            removed.networks.append(network.name)
    if removed.containers or removed.networks:
        logger.info(
            "Removed leftovers of earlier runs: %d container(s), %d network(s)",
            len(removed.containers),
            len(removed.networks),
        )
    return removed


def _disconnect_all(network: Network) -> None:
    """Disconnect the containers still on ``network``: a network with endpoints cannot be
    removed, and the shared tracker (``kedro scanflow tracker``) outlives the runs it
    joins."""
    network.reload()
    for container_id in network.attrs.get("Containers") or {}:
        network.disconnect(container_id, force=True)
