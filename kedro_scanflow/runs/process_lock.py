"""``exclusive_lock``: a lock file that says which process holds it.

The agent holds ``<agent.directory>/agent.lock`` and an orchestrator holds its run
directory's ``.lock``, so that two processes never work on the same thing. The lock is an
``flock`` on the file, which belongs to the open file description: processes forked
while it is held (the local backend's fork server and its tasks) hold it too, until they
exit. That is what we want while they work, and it has one consequence: when the holder
is killed outright (SIGKILL, out of memory), its forked processes see it gone and stop
their tasks within the backend's grace period, holding the lock meanwhile.

The holder writes its pid into the file. A process that finds the lock held looks at
that pid: a live holder is another agent or orchestrator, refused at once; a dead one
means the processes it started are still ending, so the newcomer waits for them, up to
a bound, instead of refusing a restart that is perfectly fine a few seconds later.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ORPHAN_WAIT_S = 120.0
"""How long a newcomer waits for the processes of a dead holder to end."""

_POLL_S = 0.25


class LockHeld(RuntimeError):
    """The lock is held by a live process, or still by the processes of a dead one."""

    def __init__(self, path: Path, holder: int | None, waited: float | None = None):
        self.path = path
        self.holder = holder
        self.waited = waited
        if waited is not None:
            message = (
                f"{path} is still held {waited:.0f} s after its holder (process {holder}) "
                "ended, by processes it started; stop them, or wait and try again"
            )
        elif holder is not None:
            message = f"process {holder} holds {path}"
        else:
            message = f"another process holds {path}"
        super().__init__(message)


@contextmanager
def exclusive_lock(
    path: Path,
    orphan_wait_s: float = ORPHAN_WAIT_S,
    on_wait: Callable[[int], None] | None = None,
) -> Iterator[None]:
    """Hold the lock on ``path`` (created if missing) for the block.

    Args:
        path: The lock file.
        orphan_wait_s: How long to wait when the recorded holder is dead but the lock is
            still held by the processes it started.
        on_wait: Called once with the dead holder's pid before such a wait, to tell the
            user why nothing happens yet.

    Raises:
        LockHeld: When a live process holds the lock, or the processes of a dead holder
            still hold it after ``orphan_wait_s``.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_lock(fd):
            holder = _recorded_holder(fd)
            if holder is None or _alive(holder):
                raise LockHeld(path, holder)
            if on_wait is not None:
                on_wait(holder)
            deadline = time.monotonic() + orphan_wait_s
            while not _try_lock(fd):
                if time.monotonic() >= deadline:
                    raise LockHeld(path, holder, waited=orphan_wait_s)
                time.sleep(_POLL_S)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        # Closing releases the lock once no forked process shares the descriptor.
        os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _recorded_holder(fd: int) -> int | None:
    """The pid the holder wrote, or ``None`` when there is none (yet)."""
    with contextlib.suppress(ValueError, OSError):
        return int(os.pread(fd, 32, 0).decode().strip())
    return None


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a killed one its parent has not reaped yet,
    a zombie, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True
