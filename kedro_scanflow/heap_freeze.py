"""Loading heavy modules without the garbage collector walking them again and again.

Importing MLflow, pandas and Kedro creates hundreds of thousands of objects, and the
cyclic garbage collector walks the growing heap again and again while it happens: about a
fifth of the start-up CPU of a task container (1.7 CPU-s against 1.4, measured in the
project image), a sixth of a tracker's. Processes that load them (task processes, the
fork server, tracker containers) pause collection meanwhile and freeze what was loaded:
later collections, in the process and in every process forked from it, skip it.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator


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
