"""Warming a task process up before its task is known.

A task process pays, the first time, for importing heavy modules (TensorFlow, MLflow)
and for opening a Kedro session (plugin hooks are discovered by reading the entry points
of every installed distribution). Warm processes do it ahead: the local fork server once
for all the tasks it forks, a pre-started container while upstream tasks still run.
Garbage collection pauses meanwhile (:func:`~kedro_scanflow.heap_freeze.collection_paused`).
"""

from __future__ import annotations

import importlib
import time
from typing import TYPE_CHECKING

from kedro_scanflow.heap_freeze import collection_paused

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

# How often a warm process looks for its spec: the wait is on the critical path of every
# task it runs (half the period on average), each look costs a stat.
_POLL_S = 0.02


def warm_up(project_path: Path, preload: Sequence[str] = ()) -> None:
    """Import ``preload`` and open (and close) a Kedro session of the project, twice, with
    garbage collection paused; then freeze what is loaded.

    Args:
        project_path: Root of the bootstrapped Kedro project.
        preload: Modules to import, e.g. ``["tensorflow"]``.
    """
    from kedro.framework.session import KedroSession  # noqa: PLC0415

    from kedro_scanflow.tasks.task_process import quiet_task_session  # noqa: PLC0415

    quiet_task_session()
    with collection_paused():
        for module in preload:
            importlib.import_module(module)
        for _ in range(2):
            with KedroSession.create(project_path, save_on_close=False):
                pass


def await_file(path: Path) -> None:
    """Return once ``path`` exists (the orchestrator writes a task's spec when it is due)."""
    while not path.exists():
        time.sleep(_POLL_S)
