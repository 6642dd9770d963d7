"""``scanflow.yml``: its schema and how it is loaded."""

from __future__ import annotations

from kedro_scanflow.config.loader import ScanflowConfigError, load_scanflow_config
from kedro_scanflow.config.scanflow_config import (
    LocalBackendOptions,
    RunOptions,
    ScanflowConfig,
    TrackerOptions,
)

__all__ = [
    "LocalBackendOptions",
    "RunOptions",
    "ScanflowConfig",
    "ScanflowConfigError",
    "TrackerOptions",
    "load_scanflow_config",
]
