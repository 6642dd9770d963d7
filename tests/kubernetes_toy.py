"""The toy project's pipeline and configuration, in-process, for the Kubernetes tests."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import yaml
from kedro.io import DataCatalog

from kedro_scanflow.backends.base import BackendContext
from kedro_scanflow.config import ScanflowConfig
from kedro_scanflow.pipeline.task_plan import TaskPlan
from kedro_scanflow.runs.run_directory import RunDirectory
from kedro_scanflow.runs.run_request import RunRequest
from kedro_scanflow.tasks.task_spec import TaskSpec, TrackingSpec
from kedro_scanflow.tracking.tracking_uri import TrackingTarget

from .conftest import FIXTURES

TOY = FIXTURES / "toy_project"
EXTERNAL_TRACKER = "https://mlflow.example.com"


def toy_plan(pipeline: str = "numbers") -> TaskPlan:
    """The toy project's pipeline cut into tasks, as ``kedro scanflow run`` does."""
    source = str(TOY / "src")
    if source not in sys.path:
        sys.path.insert(0, source)
    registry = importlib.import_module("toy_project.pipeline_registry")
    catalog = DataCatalog.from_config(yaml.safe_load((TOY / "conf/base/catalog.yml").read_text()))
    return TaskPlan.from_pipeline(registry.register_pipelines()[pipeline], catalog)


def kubernetes_config(**kubernetes: Any) -> ScanflowConfig:
    """A configuration with an external tracker (no port-forward needed) and a fixed uid."""
    options = {"tracker": {"uri": EXTERNAL_TRACKER}, "run_as_user": 1000, **kubernetes}
    return ScanflowConfig.model_validate({"backends": {"kubernetes": options}})


def backend_context(project: Path, config: ScanflowConfig, keep: bool = False) -> BackendContext:
    run = RunDirectory.create(project / config.run.directory, RunRequest(backend="kubernetes"))
    return BackendContext(
        project_path=project,
        run_directory=run,
        config=config,
        env=None,
        package_name="toy_project",
        tracking=TrackingTarget(EXTERNAL_TRACKER, "toy", None, "test"),
        keep=keep,
    )


def spec_builder(context: BackendContext, plan: TaskPlan, tracking_uri: str):
    """``spec_for`` of the scheduler: what ``run_workflow`` gives each task."""

    def spec_for(task, mlflow_run_id):
        touched = task.inputs | task.outputs
        return TaskSpec(
            run_id=context.run_directory.run_id,
            slug=task.slug,
            name=task.name,
            nodes=list(task.nodes),
            pipelines=["numbers"],
            run_directory=os.path.relpath(context.run_directory.root, context.project_path),
            shared_datasets={k: v for k, v in plan.shared_datasets.items() if k in touched},
            backend="kubernetes",
            tracking=TrackingSpec(uri=tracking_uri, experiment="toy"),
        )

    return spec_for
