"""Long-running services next to the tracker: ``serve`` and ``agent`` as deployments.

``kedro scanflow deploy --backend docker|kubernetes`` runs the two commands of Scanflow in
production where the backend runs tasks: ``kedro scanflow serve`` (the champion over
HTTP, every prediction recorded on the shared volume) and ``kedro scanflow agent`` (the
supervision loop on those records, its steps as processes inside its own container or
pod, so it needs no rights on the engine or the cluster). Both log to the backend's
tracker, which the deployment starts too. ``--down`` removes the services; the tracker's
store and the shared volume (predictions, labels, agent state) stay.

Each backend implements :class:`ServiceDeployer`; the CLI only picks one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from kedro_scanflow.config import ScanflowConfig

SERVICE_PORT = 8000
"""The port ``serve`` listens on inside its container or pod."""
SERVE, AGENT = "serve", "agent"


@dataclass(frozen=True)
class ServiceContext:
    """What a deployer needs to know about the project."""

    project_path: Path
    package_name: str
    config: ScanflowConfig
    env: str | None
    console: Console

    def service_command(self, service: str) -> list[str]:
        """The command of a service's container: the same CLI a user runs by hand."""
        command = ["kedro", "scanflow", service]
        if service == SERVE:
            command += ["--host", "0.0.0.0", "--port", str(SERVICE_PORT)]  # noqa: S104 - inside the container
        else:
            command += ["--backend", "local"]  # steps run as processes inside the agent's container
        if self.env:
            command += ["--env", self.env]
        return command


@dataclass
class ServiceReport:
    """What a deployment made, and how to reach it."""

    objects: list[str] = field(default_factory=list)
    """Containers or Kubernetes objects, as ``kind/name``."""
    serve_address: str = ""
    """Where ``serve`` answers (an address, or how to reach it)."""
    tracker_address: str = ""
    notes: list[str] = field(default_factory=list)


class ServiceDeployer(ABC):
    """Deploys and removes ``serve`` and ``agent`` (and the tracker) on one backend."""

    def __init__(self, context: ServiceContext):
        self.context = context

    @abstractmethod
    def deploy(self) -> ServiceReport:
        """Create or replace the services and wait until ``serve`` answers.

        Raises:
            BackendError: When the engine or cluster refuses, or ``serve`` never becomes
                ready (the message ends with its log).
        """

    @abstractmethod
    def remove(self) -> list[str]:
        """Remove the services (the tracker's store and the shared volume stay); return
        what was removed, as ``kind/name``."""
