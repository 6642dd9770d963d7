"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    ``training`` learns the digit classifier and registers it in MLflow; ``inference``
    predicts new digits with the registered champion. ``__default__`` is ``training``:
    inference reads the champion from the model registry, which training has to fill first.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    pipelines = find_pipelines(raise_errors=True)
    if "training" in pipelines:  # find_pipelines() loads only the requested pipelines
        pipelines["__default__"] = pipelines["training"]
    return pipelines
