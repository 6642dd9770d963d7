"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from kedro_scanflow.supervision import supervise_project_pipelines


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    ``training`` learns the digit classifier and registers it in MLflow; ``inference``
    predicts new digits with the registered champion, supervised by the special nodes of
    ``conf/base/scanflow.yml``; ``drift`` makes drifted production data to supervise.
    ``__default__`` is ``training``: inference reads the champion from the model
    registry, which training has to fill first.

    The special nodes are added here (and not only by kedro-scanflow's hook at run time)
    so that ``kedro viz`` shows them.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    pipelines = find_pipelines(raise_errors=True)
    if "training" in pipelines:  # find_pipelines() loads only the requested pipelines
        pipelines["__default__"] = pipelines["training"]
    return supervise_project_pipelines(pipelines)
