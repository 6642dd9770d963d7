"""``RestRunLog``: what a task writes to its MLflow run, over MLflow's REST API.

A task process that has not loaded MLflow (see :mod:`~kedro_scanflow.tasks.mlflow_on_demand`)
still ends its run with its results: the node durations, parameters and where it ran in
one ``runs/log-batch`` request, its status in one ``runs/update``. These are the requests
MLflow's own client sends for ``log_batch`` and ``set_terminated``, made with the
standard library instead of importing MLflow (about a second of CPU per process).

It honours the client settings task containers get (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``,
``MLFLOW_HTTP_REQUEST_TIMEOUT``) and is meant for the tracker the Docker backend runs,
which needs no credentials.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

# MLflow's limits per log-batch request.
_MAX_PARAMS_PER_BATCH = 100
_MAX_TAGS_PER_BATCH = 100
_MAX_ENTITIES_PER_BATCH = 1000
_RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class TrackerRequestError(RuntimeError):
    """The tracker refused a request or could not be reached."""


class RestRunLog:
    """Logs results to, and ends, existing runs of one MLflow tracking server."""

    def __init__(self, tracking_uri: str):
        """Talk to the server at ``tracking_uri`` (``http://`` or ``https://``)."""
        if not tracking_uri.startswith(("http://", "https://")):
            raise ValueError(f"not a tracking server URI: {tracking_uri!r}")
        self.tracking_uri = tracking_uri.rstrip("/")
        self._retries = int(os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3"))
        self._timeout = float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", "60"))

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[tuple[str, float, int]] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Log ``metrics`` (key, value, step; timestamped now), ``params`` and ``tags`` to
        ``run_id``, in as few requests as MLflow's batch limits allow."""
        now = int(time.time() * 1000)
        metric_entities = [
            {"key": key, "value": value, "timestamp": now, "step": step}
            for key, value, step in metrics
        ]
        param_entities = [{"key": k, "value": v} for k, v in (params or {}).items()]
        tag_entities = [{"key": k, "value": v} for k, v in (tags or {}).items()]
        for batch in _batches(metric_entities, param_entities, tag_entities):
            self._post("runs/log-batch", {"run_id": run_id, **batch})

    def end_run(self, run_id: str, status: str) -> None:
        """Set ``run_id``'s status (``FINISHED``, ``FAILED``, ``KILLED``) and end time."""
        self._post(
            "runs/update",
            {"run_id": run_id, "status": status, "end_time": int(time.time() * 1000)},
        )

    def _post(self, endpoint: str, body: dict[str, Any]) -> None:
        """POST ``body`` to ``endpoint``, retrying when the server is unreachable or busy.

        Raises:
            TrackerRequestError: With the server's message, or why it was not reached.
        """
        url = f"{self.tracking_uri}/api/2.0/mlflow/{endpoint}"
        data = json.dumps(body).encode()
        for attempt in range(self._retries + 1):
            request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
                url, data=data, headers={"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=self._timeout):  # noqa: S310
                    return
            except urllib.error.HTTPError as error:
                if error.code not in _RETRYABLE_STATUS or attempt == self._retries:
                    raise TrackerRequestError(
                        f"The MLflow tracker at {self.tracking_uri} refused {endpoint} "
                        f"(HTTP {error.code}): {_server_message(error)}"
                    ) from None
            except (urllib.error.URLError, OSError) as error:
                if attempt == self._retries:
                    reason = getattr(error, "reason", error)
                    raise TrackerRequestError(
                        f"The MLflow tracker at {self.tracking_uri} did not answer {endpoint} "
                        f"({reason})"
                    ) from None
            time.sleep(min(2.0**attempt * 0.5, 8.0))


def _batches(
    metrics: list[dict[str, Any]], params: list[dict[str, Any]], tags: list[dict[str, Any]]
) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Split entities into log-batch bodies within MLflow's limits (at least one body)."""
    first = True
    while first or metrics or params or tags:
        first = False
        batch_params, params = params[:_MAX_PARAMS_PER_BATCH], params[_MAX_PARAMS_PER_BATCH:]
        batch_tags, tags = tags[:_MAX_TAGS_PER_BATCH], tags[_MAX_TAGS_PER_BATCH:]
        room = _MAX_ENTITIES_PER_BATCH - len(batch_params) - len(batch_tags)
        batch_metrics, metrics = metrics[:room], metrics[room:]
        yield {"metrics": batch_metrics, "params": batch_params, "tags": batch_tags}


def _server_message(error: urllib.error.HTTPError) -> str:
    """The ``message`` of an MLflow error response, or its raw body."""
    body = error.read().decode(errors="replace")
    try:
        return str(json.loads(body).get("message") or body)
    except (ValueError, AttributeError):
        return body or str(error.reason)
