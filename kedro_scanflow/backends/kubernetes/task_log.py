"""``TaskLog``: a task's log file in the run directory, fed from its pods.

Pod logs are streamed into ``logs/<slug>.log`` (the shared ``RunReporter`` prints them
with the task's prefix, as for every backend); what Kubernetes says about the task
(a retry, why a pod waits, the events of a failed pod) is added as ``[kubernetes]``
lines, so that the log tail of a failure shows it too.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

NOTE_PREFIX = "[kubernetes] "


class TaskLog:
    """Appends to one task's log file from several threads."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._pending_newline = False

    def write(self, chunk: bytes) -> None:
        """Append part of a pod's log."""
        if not chunk:
            return
        with self._lock:
            self._append(chunk)
            self._pending_newline = not chunk.endswith(b"\n")

    def copy(self, chunks: Iterable[bytes]) -> None:
        """Append a pod's log as it streams."""
        for chunk in chunks:
            self.write(chunk)

    def note(self, text: str) -> None:
        """Add a line about the task from Kubernetes' point of view."""
        lines = "".join(f"{NOTE_PREFIX}{line}\n" for line in text.splitlines() or [""])
        with self._lock:
            self._append(("\n" if self._pending_newline else "") + lines)
            self._pending_newline = False

    def _append(self, data: bytes | str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as stream:
            stream.write(data.encode("utf-8") if isinstance(data, str) else data)
