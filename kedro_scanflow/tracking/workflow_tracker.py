"""``WorkflowTracker``: the MLflow side of one workflow run, owned by the orchestrator.

One parent run per ``kedro scanflow run`` (and per ``--resume``), one child run per task.
The orchestrator creates each child before starting its task, so that a task that is
killed outright still has a run that ends ``FAILED``; the task process itself adds the
node's params, metrics, artifacts and ends its run. The parent ends exactly once.
(kedro-mlflow's hook ends the active run after every ``kedro run``; its issue #579 is why
the parent belongs to the orchestrating process and never to a task.)
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import sqlite3
import time
from typing import TYPE_CHECKING

from mlflow.entities import Metric, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from kedro_scanflow.tracking.run_tags import (
    KIND_TASK,
    KIND_WORKFLOW,
    MAX_TAG_LENGTH,
    TAG_HOST,
    TAG_KIND,
    TAG_NODES,
    TAG_STOP_REASON,
    TAG_TASK,
    flatten_params,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from kedro_scanflow.pipeline.task_plan import Task
    from kedro_scanflow.tracking.tracking_uri import TrackingTarget

logger = logging.getLogger(__name__)

_TERMINAL = {"FINISHED", "FAILED", "KILLED"}


class WorkflowTracker:
    """Creates and ends the parent and task runs of a workflow run."""

    def __init__(self, target: TrackingTarget):
        """Connect to the tracker; creates the experiment when it does not exist."""
        self.target = target
        self.client = MlflowClient(tracking_uri=target.uri)
        self.client.search_experiments(max_results=1)  # creates a new sqlite database
        use_write_ahead_log(target.uri)
        experiment = self.client.get_experiment_by_name(target.experiment)
        if experiment is None:
            self.experiment_id = self.client.create_experiment(
                target.experiment, artifact_location=target.artifact_location or None
            )
        else:
            self.experiment_id = experiment.experiment_id
        self.parent_run_id: str | None = None
        self._parent_ended = False

    def start_workflow(
        self, run_name: str, tags: Mapping[str, str], params: Mapping[str, object] | None = None
    ) -> str:
        """Create the parent run (status RUNNING) and return its id."""
        run = self.client.create_run(
            self.experiment_id,
            run_name=run_name,
            tags={TAG_KIND: KIND_WORKFLOW, TAG_HOST: socket.gethostname(), **_clip(tags)},
        )
        self.parent_run_id = run.info.run_id
        if params:
            self.log_params(self.parent_run_id, params)
        return self.parent_run_id

    def start_task(self, task: Task, tags: Mapping[str, str]) -> str:
        """Create the child run of ``task`` under the parent and return its id."""
        if self.parent_run_id is None:
            raise RuntimeError("start_workflow() must be called before start_task().")
        extra = {"kedro.tags": ",".join(sorted(task.tags)), "kedro.namespace": task.namespace or ""}
        run = self.client.create_run(
            self.experiment_id,
            run_name=task.name,
            tags=task_run_tags(
                task.slug, task.name, task.nodes, self.parent_run_id, {**extra, **tags}
            ),
        )
        return run.info.run_id

    def finish_task(
        self, task: Task, run_id: str, succeeded: bool, reason: str | None = None
    ) -> None:
        """Close the books on a task's run once its process has exited.

        Ends the run if its process left it open (a crash or a kill), never re-ending
        one; mirrors a successful task's latest metrics on the parent as
        ``<task>.<metric>``, so that runs of a pipeline can be compared from the parent.
        """
        run = self.client.get_run(run_id)
        if run.info.status not in _TERMINAL:
            if reason:
                self.client.set_tag(run_id, TAG_STOP_REASON, reason[:MAX_TAG_LENGTH])
            self.client.set_terminated(run_id, "FINISHED" if succeeded else "FAILED")
        if succeeded and self.parent_run_id is not None:
            now = int(time.time() * 1000)
            mirrored = [
                Metric(f"{task.slug}.{key}", value, now, 0)
                for key, value in run.data.metrics.items()
                if math.isfinite(value)
            ]
            if mirrored:
                self.client.log_batch(self.parent_run_id, metrics=mirrored)

    def end_workflow(self, succeeded: bool, reason: str | None = None) -> None:
        """End the parent run: FINISHED or FAILED, exactly once."""
        if self.parent_run_id is None or self._parent_ended:
            return
        self._parent_ended = True
        if reason:
            self.client.set_tag(self.parent_run_id, TAG_STOP_REASON, reason[:MAX_TAG_LENGTH])
        status = RunStatus.to_string(RunStatus.FINISHED if succeeded else RunStatus.FAILED)
        self.client.set_terminated(self.parent_run_id, status)

    def end_abandoned(self, run_ids: Sequence[str], reason: str) -> None:
        """Mark the MLflow runs of a killed orchestrator KILLED: nothing will end them
        otherwise (runs already ended, or no longer in the store, are left alone)."""
        for run_id in run_ids:
            try:
                run = self.client.get_run(run_id)
            except MlflowException:
                continue
            if run.info.status not in _TERMINAL:
                self.client.set_tag(run_id, TAG_STOP_REASON, reason[:MAX_TAG_LENGTH])
                self.client.set_terminated(run_id, RunStatus.to_string(RunStatus.KILLED))

    def log_params(self, run_id: str, params: Mapping[str, object]) -> None:
        """Log flattened params, skipping ones already logged with the same value."""
        existing = self.client.get_run(run_id).data.params
        for key, value in flatten_params(params).items():
            if key not in existing:
                self.client.log_param(run_id, key, value)


def task_run_tags(
    slug: str,
    name: str,
    nodes: Sequence[str],
    parent_run_id: str | None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The tags of a task's MLflow run: its kind, task, nodes and parent run."""
    tags = {
        MLFLOW_RUN_NAME: name,
        TAG_KIND: KIND_TASK,
        TAG_TASK: slug,
        TAG_NODES: ",".join(nodes),
        **_clip(extra or {}),
    }
    if parent_run_id:
        tags[MLFLOW_PARENT_RUN_ID] = parent_run_id
    return tags


def use_write_ahead_log(uri: str) -> None:
    """Switch a sqlite tracker to write-ahead logging, once (it persists in the file).

    With the default rollback journal, a task writing to the tracker blocks every other
    task reading from it; with WAL, readers and one writer proceed together, which is
    what many task processes logging at once need.
    """
    if not uri.startswith("sqlite:///"):
        return
    database = uri[len("sqlite:///") :]
    if database in ("", ":memory:"):
        return
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        if mode.lower() != "wal":
            connection.execute("PRAGMA journal_mode=WAL")


def _clip(tags: Mapping[str, str]) -> dict[str, str]:
    return {key: str(value)[:MAX_TAG_LENGTH] for key, value in tags.items()}
