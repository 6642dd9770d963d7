"""Kedro hooks of kedro-scanflow."""

from __future__ import annotations

from kedro_scanflow.framework.hooks.scanflow_hook import ScanflowHook, scanflow_hook

__all__ = ["ScanflowHook", "scanflow_hook"]
