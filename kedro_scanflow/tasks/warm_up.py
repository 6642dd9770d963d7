"""Warming a task process up before its task is known.

A task process pays, the first time, for importing heavy modules (TensorFlow, MLflow)
and for opening a Kedro session (plugin hooks are discovered by reading the entry points
of every installed distribution). Warm processes do it ahead: the local fork server once
for all the tasks it forks, a pre-started container while upstream tasks still run.

Importing MLflow, pandas and Kedro creates hundreds of thousands of objects, and the cyclic
garbage collector walks the growing heap again and again while it happens: about a fifth
of a container's start-up CPU time (1.7 CPU-s against 1.4, measured in the project image).
So collection pauses during the warm-up, and what it loaded is then frozen: later
collections, in this process and in every process forked from it, skip those objects.
"""

from __future__ import annotations

import gc
import importlib
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

_POLL_S = 0.05


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


@contextmanager
def collection_paused() -> Iterator[None]:
    """Pause cyclic garbage collection while modules load, then freeze what was loaded.

    Frozen objects are skipped by every later collection, in this process and in the
    processes forked from it. Collection resumes on the way out unless it was already
    paused when the block began (an enclosing block resumes it).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def await_file(path: Path) -> None:
    """Return once ``path`` exists (the orchestrator writes a task's spec when it is due)."""
    while not path.exists():
        time.sleep(_POLL_S)
