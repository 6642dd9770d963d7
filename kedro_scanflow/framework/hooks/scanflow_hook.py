"""``ScanflowHook``: the Kedro hooks kedro-scanflow registers (entry point ``kedro.hooks``).

As soon as a project context exists, the hook

* reads ``scanflow.yml``, so that a broken file fails every Kedro command at once, with
  the file, key and value in the message, instead of surfacing halfway through a run;
* points kedro-mlflow at the same tracker as kedro-scanflow. kedro-mlflow falls back on
  ``MLFLOW_TRACKING_URI`` when ``mlflow.yml`` sets no URI, and its own default (a
  ``mlruns`` file store) is refused by MLflow 3; the hook runs first and sets the
  variable (when unset) to the resolved tracker, a sqlite database by default.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from kedro.framework.hooks import hook_impl

from kedro_scanflow.config import load_scanflow_config
from kedro_scanflow.tracking.tracking_uri import resolve_tracking_target

if TYPE_CHECKING:
    from kedro.framework.context import KedroContext

    from kedro_scanflow.config import ScanflowConfig
    from kedro_scanflow.tracking.tracking_uri import TrackingTarget

logger = logging.getLogger(__name__)


class ScanflowHook:
    """Validates ``scanflow.yml`` and shares the tracker with kedro-mlflow."""

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
        package_name = getattr(context, "_package_name", None) or context.project_path.name
        self.tracking = resolve_tracking_target(
            self.config.tracker, context.config_loader, context.project_path, package_name
        )
        if "MLFLOW_TRACKING_URI" not in os.environ:
            os.environ["MLFLOW_TRACKING_URI"] = self.tracking.uri
            logger.debug("MLFLOW_TRACKING_URI set to %s", self.tracking.uri)


scanflow_hook = ScanflowHook()
