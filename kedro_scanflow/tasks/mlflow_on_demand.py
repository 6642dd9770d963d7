"""Task processes that load MLflow only when their task uses it.

Importing MLflow is most of a task container's start: about a second of CPU for its
GenAI, gateway and pandas-backed modules, in every container of a run. When the project
does not use kedro-mlflow (no ``mlflow.yml``, no kedro-mlflow dataset in the catalog)
and has no supervision nodes, the Docker backend starts its task containers with
``--mlflow-on-demand``. Such a process

* does not load kedro-mlflow's hook, which would import MLflow as the first Kedro
  session opens (:mod:`~kedro_scanflow.tasks.plugin_hooks`). Its work in a task is done
  by the task itself: the nodes' parameters, flattened, go into the task's run with its
  results;
* logs its results and ends its run over MLflow's REST API
  (:class:`~kedro_scanflow.tracking.rest_run_log.RestRunLog`);
* opens its run the moment anything imports MLflow (:func:`open_run_on_import`): node
  code that calls ``mlflow.log_metric`` or reads ``mlflow.active_run()`` finds the
  task's run active, as in any other task process. The task then ends it through MLflow.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import sys
from typing import TYPE_CHECKING, Any

from kedro_scanflow.tasks.plugin_hooks import KEDRO_MLFLOW

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

    from kedro.config import AbstractConfigLoader

    from kedro_scanflow.config import ScanflowConfig

logger = logging.getLogger(__name__)


def tasks_may_defer_mlflow(config_loader: AbstractConfigLoader, config: ScanflowConfig) -> bool:
    """Whether a run's task processes may load MLflow on demand: the project configures
    no kedro-mlflow (no ``mlflow.yml`` in the run's configuration, no kedro-mlflow
    dataset in its catalog) and ``scanflow.yml`` has no ``supervision`` section (its
    special nodes log through MLflow). Checked by the orchestrator, once per run."""
    from kedro_scanflow.tracking.tracking_uri import kedro_mlflow_settings  # noqa: PLC0415

    if config.supervision or kedro_mlflow_settings(config_loader):
        return False
    try:
        catalog = config_loader["catalog"] or {}
    except Exception as error:  # noqa: BLE001 - the run reports a broken catalog itself
        logger.debug("MLflow stays loaded in tasks: the catalog did not load (%s)", error)
        return False
    return not any(
        isinstance(entry, dict) and str(entry.get("type", "")).startswith(KEDRO_MLFLOW)
        for entry in catalog.values()
    )


def open_run_on_import(run_id: str) -> None:
    """Make ``run_id`` MLflow's active run as soon as MLflow is imported in this process.

    MLflow's tracking URI and experiment come from the environment
    (``MLFLOW_TRACKING_URI``, ``MLFLOW_EXPERIMENT_ID``), which the task sets.
    """
    if "mlflow" in sys.modules:
        sys.modules["mlflow"].start_run(run_id=run_id)
        return
    sys.meta_path.insert(0, _AfterImport("mlflow", lambda mlflow: mlflow.start_run(run_id=run_id)))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Calls ``then(module)`` once the module ``name`` has been executed, the first time
    it is imported, then leaves the import system."""

    def __init__(self, name: str, then: Callable[[ModuleType], object]):
        self._name = name
        self._then = then

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != self._name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _ThenLoader(spec.loader, self._then)
        return spec


class _ThenLoader(importlib.abc.Loader):
    """A module's own loader, with a call after the module has been executed."""

    def __init__(self, loader: importlib.abc.Loader, then: Callable[[ModuleType], object]):
        self._loader = loader
        self._then = then

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        self._then(module)

    def __getattr__(self, name: str) -> Any:  # resource readers, get_filename, ...
        return getattr(self._loader, name)
