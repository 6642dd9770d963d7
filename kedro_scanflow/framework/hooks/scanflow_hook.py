"""``ScanflowHook``: the Kedro hooks kedro-scanflow registers (entry point ``kedro.hooks``).

As soon as a project context exists, the hook

* reads ``scanflow.yml``, so that a broken file fails every Kedro command at once, with
  the file, key and value in the message, instead of surfacing halfway through a run;
* in a task process, keeps kedro-mlflow in the task's open MLflow run
  (:func:`keep_kedro_mlflow_in_task_run`);
* points kedro-mlflow at the same tracker as kedro-scanflow. kedro-mlflow falls back on
  ``MLFLOW_TRACKING_URI`` when ``mlflow.yml`` sets no URI, and its own default (a
  ``mlruns`` file store) is refused by MLflow 3; the hook runs first and sets the
  variable (when unset) to the resolved tracker, a sqlite database by default;
* adds the special nodes of the ``supervision`` section to the pipelines they supervise
  (``supervise_pipelines``), replacing any that the registry added with another
  environment's configuration, registers the agent pipelines (``inference.agent``), and
  gives their persisted outputs catalog entries unless the catalog has its own.

The supervision and agent modules (checkers, improvers, labelling) are imported only
when ``scanflow.yml`` has a ``supervision`` section: every Kedro process of the project
loads this hook, task processes included, and most of them supervise nothing.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines as project_pipelines
from kedro.io import AbstractDataset

from kedro_scanflow.config import load_scanflow_config
from kedro_scanflow.tasks.task_process import RUN_ID_VARIABLE
from kedro_scanflow.tracking.tracking_uri import (
    keep_kedro_mlflow_in_task_run,
    override_kedro_mlflow_uri,
    resolve_tracking_target,
)

if TYPE_CHECKING:
    from kedro.framework.context import KedroContext
    from kedro.io import CatalogProtocol

    from kedro_scanflow.config import ScanflowConfig
    from kedro_scanflow.tracking.tracking_uri import TrackingTarget

logger = logging.getLogger(__name__)


class ScanflowHook:
    """Validates ``scanflow.yml``, shares the tracker with kedro-mlflow and adds the
    special nodes."""

    def __init__(self) -> None:
        self.config: ScanflowConfig | None = None
        self.tracking: TrackingTarget | None = None

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: KedroContext) -> None:
        """Validate ``scanflow.yml`` and export the tracking URI for kedro-mlflow.

        Raises:
            ScanflowConfigError: When the file does not match the schema.
        """
        self.config = load_scanflow_config(context.config_loader)
        override_kedro_mlflow_uri(context.config_loader)
        if os.environ.get(RUN_ID_VARIABLE):  # a task process, its MLflow run open
            keep_kedro_mlflow_in_task_run(context.config_loader)
        package_name = getattr(context, "_package_name", None) or context.project_path.name
        self.tracking = resolve_tracking_target(
            self.config.tracker, context.config_loader, context.project_path, package_name
        )
        if "MLFLOW_TRACKING_URI" not in os.environ:
            os.environ["MLFLOW_TRACKING_URI"] = self.tracking.uri
            logger.debug("MLFLOW_TRACKING_URI set to %s", self.tracking.uri)
        if self.config.supervision:
            _request_loadable_pipelines()
            _supervise_project_pipelines(self.config)

    @hook_impl
    def after_catalog_created(self, catalog: CatalogProtocol) -> None:
        """Give the special nodes' persisted outputs their default catalog entries."""
        if self.config is None or not self.config.supervision:
            return
        from kedro_scanflow.agent.agent_pipeline import agent_pipelines_of  # noqa: PLC0415
        from kedro_scanflow.supervision.supervised_pipelines import (  # noqa: PLC0415
            special_nodes_of,
        )

        specials = special_nodes_of(self.config)
        entries = [special.datasets for special in specials.values()]
        entries += [
            agent.datasets()
            for agent in agent_pipelines_of(specials, self.config.agent.directory).values()
        ]
        for datasets in entries:
            for name, dataset_config in datasets.items():
                if name not in catalog:
                    catalog[name] = AbstractDataset.from_config(name, dataset_config)


def _request_loadable_pipelines() -> None:
    """Ask Kedro to load the supervised pipeline of a requested agent pipeline, which has
    no module for ``find_pipelines`` to import (see ``loadable_pipeline_names``).

    ``KedroSession.run`` records the requested pipelines just before the context is
    created and loads them on first access, which happens after this hook.
    """
    from kedro_scanflow.agent.agent_pipeline import loadable_pipeline_names  # noqa: PLC0415

    requested = getattr(project_pipelines, "_requested_pipelines", None)
    loadable = loadable_pipeline_names(requested)
    if loadable != requested:
        project_pipelines.set_requested(loadable)


def _supervise_project_pipelines(config: ScanflowConfig) -> None:
    """Replace the supervised pipelines of the project's registry by their supervised form."""
    from kedro_scanflow.supervision.supervised_pipelines import (  # noqa: PLC0415
        supervise_pipelines,
    )

    current = dict(project_pipelines.items())
    for name, pipeline in supervise_pipelines(current, config, strict=False, replace=True).items():
        if pipeline is not current.get(name):
            project_pipelines[name] = pipeline


scanflow_hook = ScanflowHook()
