"""The names of the tags kedro-scanflow puts on MLflow runs, and the values it logs
about a task that need no MLflow client.

Task processes import this module, not :mod:`~kedro_scanflow.tracking.workflow_tracker`:
a task that logs its run over MLflow's REST API (:mod:`~kedro_scanflow.tracking.rest_run_log`)
never loads MLflow.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

TAG_PREFIX = "scanflow."
TAG_KIND = "scanflow.kind"
TAG_RUN_ID = "scanflow.run_id"
TAG_PIPELINES = "scanflow.pipelines"
TAG_BACKEND = "scanflow.backend"
TAG_TASK = "scanflow.task"
TAG_NODES = "scanflow.nodes"
TAG_PID = "scanflow.pid"
TAG_HOST = "scanflow.host"
TAG_CONTAINER_ID = "scanflow.container_id"
TAG_RESUMED_FROM = "scanflow.resumed_from"
TAG_STOP_REASON = "scanflow.stop_reason"
KIND_WORKFLOW = "workflow"
KIND_TASK = "task"

MAX_TAG_LENGTH = 5000
"""MLflow's limit on the length of a tag value."""


def flatten_params(params: Mapping[str, object], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}``, values clipped to MLflow's length limit."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten_params(value, prefix=f"{name}."))
        else:
            flat[name] = str(value)[:6000]
    return flat


def process_identity() -> dict[str, str]:
    """Tags that say where a task ran: pid, host and, in a container, its id."""
    identity = {TAG_PID: str(os.getpid()), TAG_HOST: socket.gethostname()}
    container = os.environ.get("SCANFLOW_CONTAINER_ID")
    if container:
        identity[TAG_CONTAINER_ID] = container
    return identity
