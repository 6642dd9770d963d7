"""Adding the special nodes of ``scanflow.yml`` to a project's pipelines.

``supervise_pipelines`` is the transformation; the plugin's hook applies it at run time,
and a project can apply it in ``pipeline_registry.py`` so that ``kedro viz`` shows the
special nodes without ``--include-hooks``::

    from kedro_scanflow.supervision import supervise_project_pipelines

    def register_pipelines():
        pipelines = find_pipelines()
        pipelines["__default__"] = pipelines["training"]
        return supervise_project_pipelines(pipelines)

Both are idempotent. A registry cannot know the run's ``--env``, so the hook *replaces*
special nodes already present with those of the run's own configuration (``replace``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from kedro.pipeline import Pipeline

from kedro_scanflow.agent.agent_pipeline import agent_pipelines_of
from kedro_scanflow.supervision.special_nodes import SUPERVISION_TAG, SpecialNodes

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kedro_scanflow.config import ScanflowConfig


class SupervisionError(ValueError):
    """``scanflow.yml`` supervises a pipeline that does not exist or lacks an input."""


def is_supervised(pipeline: Pipeline, pipeline_name: str) -> bool:
    """Whether ``pipeline`` already holds the special nodes added for ``pipeline_name``."""
    marker = f"{SUPERVISION_TAG}.{pipeline_name}"
    return any(marker in node.tags for node in pipeline.nodes)


def special_nodes_of(config: ScanflowConfig) -> dict[str, SpecialNodes]:
    """The special nodes ``config`` declares, by the name of the pipeline they supervise."""
    return {name: SpecialNodes(name, options) for name, options in config.supervision.items()}


def without_special_nodes(pipeline: Pipeline, pipeline_name: str) -> Pipeline:
    """``pipeline`` minus the special nodes added for ``pipeline_name``."""
    marker = f"{SUPERVISION_TAG}.{pipeline_name}"
    return pipeline - Pipeline([node for node in pipeline.nodes if marker in node.tags])


def supervise_pipelines(
    pipelines: Mapping[str, Pipeline],
    config: ScanflowConfig,
    strict: bool = True,
    replace: bool = False,
) -> dict[str, Pipeline]:
    """``pipelines`` with the special nodes of ``config`` added to the pipelines it names.

    ``__default__`` gets them too when it contains every node of a supervised pipeline.
    Each supervised pipeline that picks critical points also gets its agent pipeline,
    ``<name>.agent``: the special nodes as ``kedro scanflow agent`` runs them.

    Args:
        pipelines: The project's pipelines, by name.
        config: The project's ``scanflow.yml``.
        strict: Fail when a supervised pipeline is not registered (``False`` when only
            some pipelines were loaded, as ``kedro run --pipeline`` does).
        replace: Replace special nodes already present (added with another
            configuration) instead of keeping them.

    Raises:
        SupervisionError: When a supervised pipeline is not registered.
    """
    result = dict(pipelines)
    specials = special_nodes_of(config)
    for agent_name, agent in agent_pipelines_of(specials, config.agent.directory).items():
        if agent.special.pipeline_name in pipelines:
            result[agent_name] = agent.pipeline()
    for name, special in specials.items():
        if name not in result:
            if strict:
                known = ", ".join(sorted(pipelines)) or "none"
                raise SupervisionError(
                    f"scanflow.yml supervises pipeline {name!r}, which the project does not "
                    f"register (registered: {known})."
                )
            continue
        task_nodes = set(without_special_nodes(result[name], name).nodes)
        for target in (name, "__default__"):
            pipeline = result.get(target)
            if pipeline is None or (is_supervised(pipeline, name) and not replace):
                continue
            pipeline = without_special_nodes(pipeline, name)
            if target == "__default__" and not task_nodes <= set(pipeline.nodes):
                continue
            result[target] = pipeline + special.pipeline()
    return result


def supervise_project_pipelines(
    pipelines: Mapping[str, Pipeline], project_path: Path | None = None
) -> dict[str, Pipeline]:
    """:func:`supervise_pipelines` with the ``scanflow.yml`` of the project being run.

    For ``pipeline_registry.py``: the configuration is read from ``conf/`` with the
    environment of ``KEDRO_ENV`` (``local`` by default, like ``kedro run``).
    """
    from kedro.framework.project import settings  # noqa: PLC0415
    from kedro.utils import find_kedro_project  # noqa: PLC0415

    from kedro_scanflow.config import load_scanflow_config  # noqa: PLC0415

    root = project_path or find_kedro_project(Path.cwd()) or Path.cwd()
    loader = settings.CONFIG_LOADER_CLASS(
        str(root / settings.CONF_SOURCE),
        env=os.environ.get("KEDRO_ENV"),
        **settings.CONFIG_LOADER_ARGS,
    )
    return supervise_pipelines(pipelines, load_scanflow_config(loader), strict=False)
