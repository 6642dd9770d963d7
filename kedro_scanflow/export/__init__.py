"""Exports of a workflow for other tools: docker-compose files."""

from __future__ import annotations

from kedro_scanflow.export.compose_file import ComposeExport, export_compose

__all__ = ["ComposeExport", "export_compose"]
