"""Pipelines as Scanflow sees them: task plans and the Scanflow multigraph."""

from __future__ import annotations

from kedro_scanflow.pipeline.scanflow_graph import GraphEdge, GraphNode, ScanflowGraph
from kedro_scanflow.pipeline.task_plan import Task, TaskPlan, TaskPlanError

__all__ = ["GraphEdge", "GraphNode", "ScanflowGraph", "Task", "TaskPlan", "TaskPlanError"]
