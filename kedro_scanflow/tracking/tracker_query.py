"""``TrackerQuery``: save and gather metadata on the tracker, by run id or by query.

This is the tracker API of the Scanflow paper (its Algorithms 1 and 2 save a node's
results and later gather them, by run id or by a query, to decide what to do next),
on top of MLflow. Checkers, improvers, planners and agents use it; so can notebooks::

    query = TrackerQuery.for_project(".")
    workflow = query.latest_workflow(pipeline="training")
    for task in query.task_runs(workflow.run_id):
        print(task.name, task.status, task.metrics)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from kedro_scanflow.tracking.run_tags import (
    KIND_TASK,
    KIND_WORKFLOW,
    TAG_KIND,
    TAG_PIPELINES,
    TAG_RUN_ID,
    flatten_params,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from mlflow.entities import Run


@dataclass(frozen=True)
class RunMetadata:
    """Everything the tracker holds about one run."""

    run_id: str
    name: str
    status: str
    experiment_id: str
    start_time: int | None
    end_time: int | None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifact_uri: str = ""

    @property
    def parent_run_id(self) -> str | None:
        return self.tags.get(MLFLOW_PARENT_RUN_ID)

    @property
    def duration_s(self) -> float | None:
        if self.start_time is None or self.end_time is None:
            return None
        return (self.end_time - self.start_time) / 1000.0

    @classmethod
    def from_run(cls, run: Run) -> RunMetadata:
        return cls(
            run_id=run.info.run_id,
            name=run.info.run_name or "",
            status=run.info.status,
            experiment_id=run.info.experiment_id,
            start_time=run.info.start_time,
            end_time=run.info.end_time,
            params=dict(run.data.params),
            metrics=dict(run.data.metrics),
            tags=dict(run.data.tags),
            artifact_uri=run.info.artifact_uri,
        )


class TrackerQuery:
    """Save metadata to runs and gather it back, on one MLflow tracker."""

    def __init__(self, tracking_uri: str, experiment: str | None = None):
        """Connect to ``tracking_uri``; queries default to experiment ``experiment``."""
        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self._experiment = experiment

    @classmethod
    def for_project(cls, project_path: str | Path = ".", env: str | None = None) -> TrackerQuery:
        """The tracker a Kedro project's ``kedro scanflow run`` logs to."""
        from kedro.framework.session import KedroSession  # noqa: PLC0415
        from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

        from kedro_scanflow.config import load_scanflow_config  # noqa: PLC0415
        from kedro_scanflow.tracking.tracking_uri import resolve_tracking_target  # noqa: PLC0415

        path = Path(project_path).resolve()
        metadata = bootstrap_project(path)
        with KedroSession.create(path, env=env) as session:
            loader = session.load_context().config_loader
            target = resolve_tracking_target(
                load_scanflow_config(loader).tracker, loader, path, metadata.package_name
            )
        return cls(target.uri, target.experiment)

    def _experiment_ids(self, experiment: str | None) -> list[str]:
        name = experiment or self._experiment
        if name is None:
            return [e.experiment_id for e in self.client.search_experiments()]
        found = self.client.get_experiment_by_name(name)
        return [found.experiment_id] if found else []

    def gather(self, run_id: str) -> RunMetadata:
        """All metadata of run ``run_id``."""
        return RunMetadata.from_run(self.client.get_run(run_id))

    def save(
        self,
        run_id: str,
        *,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        artifacts: Iterable[str | Path] = (),
        artifact_path: str | None = None,
    ) -> None:
        """Attach metadata and files to an existing run (open or finished)."""
        for key, value in flatten_params(params or {}).items():
            self.client.log_param(run_id, key, value)
        for key, value in (metrics or {}).items():
            self.client.log_metric(run_id, key, float(value))
        for key, value in (tags or {}).items():
            self.client.set_tag(run_id, key, value)
        for path in artifacts:
            self.client.log_artifact(run_id, str(path), artifact_path)

    def search(
        self,
        query: str = "",
        experiment: str | None = None,
        max_results: int = 100,
        order_by: list[str] | None = None,
    ) -> list[RunMetadata]:
        """Runs matching an MLflow filter string, newest first by default.

        Example: ``query.search("metrics.test_accuracy > 0.95 and tags.scanflow.kind = 'task'")``.
        """
        runs = self.client.search_runs(
            self._experiment_ids(experiment),
            filter_string=query,
            max_results=max_results,
            order_by=order_by or ["attributes.start_time DESC"],
        )
        return [RunMetadata.from_run(run) for run in runs]

    def workflow_runs(
        self, pipeline: str | None = None, scanflow_run_id: str | None = None, max_results: int = 20
    ) -> list[RunMetadata]:
        """Parent runs of ``kedro scanflow run``, newest first."""
        clauses = [f"tags.`{TAG_KIND}` = '{KIND_WORKFLOW}'"]
        if pipeline:
            clauses.append(f"tags.`{TAG_PIPELINES}` = '{pipeline}'")
        if scanflow_run_id:
            clauses.append(f"tags.`{TAG_RUN_ID}` = '{scanflow_run_id}'")
        return self.search(" and ".join(clauses), max_results=max_results)

    def latest_workflow(self, pipeline: str | None = None) -> RunMetadata | None:
        """The most recent parent run, of ``pipeline`` if given."""
        runs = self.workflow_runs(pipeline=pipeline, max_results=1)
        return runs[0] if runs else None

    def task_runs(self, parent_run_id: str) -> list[RunMetadata]:
        """The task (node) runs of a workflow run, oldest first."""
        return self.search(
            f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}' and tags.`{TAG_KIND}` = '{KIND_TASK}'",
            max_results=1000,
            order_by=["attributes.start_time ASC"],
        )
