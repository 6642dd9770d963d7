"""SIGTERM handled like Ctrl-C by long-running commands.

``timeout``, ``kill`` and CI runners stop a command with SIGTERM; Python's default
would end the process at once, skipping the cleanup that Ctrl-C runs (stopping tasks,
removing containers, ending MLflow runs). Turning it into ``KeyboardInterrupt`` gives
both the same, clean ending.
"""

from __future__ import annotations

import signal
from types import FrameType


def interrupt_on_sigterm() -> None:
    """From now on, SIGTERM raises ``KeyboardInterrupt`` in the main thread."""

    def _interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _interrupt)
