"""The local backend: one operating-system process per task."""

from __future__ import annotations

from kedro_scanflow.backends.local.fork_server import ForkServer
from kedro_scanflow.backends.local.local_backend import LocalBackend
from kedro_scanflow.backends.local.process_launcher import ProcessLauncher

__all__ = ["ForkServer", "LocalBackend", "ProcessLauncher"]
