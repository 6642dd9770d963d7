"""The lock of agents and runs: live holders are refused, a killed holder's processes
are waited for."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kedro_scanflow.runs.process_lock import LockHeld, exclusive_lock

# Takes the lock, forks a child that inherits it (like the local fork server), says which
# pids hold it, then either stays or dies outright, leaving the child behind.
_HOLDER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from kedro_scanflow.runs.process_lock import exclusive_lock

    path, child_seconds, mode = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    with exclusive_lock(path):
        child = os.fork()
        if child == 0:
            time.sleep(child_seconds)
            os._exit(0)
        print(os.getpid(), child, flush=True)
        if mode == "die":
            os._exit(0)
        time.sleep(600)
    """
)


def _hold(path: Path, child_seconds: float, mode: str) -> tuple[subprocess.Popen, int, int]:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path), str(child_seconds), mode],
        stdout=subprocess.PIPE,
        text=True,
    )
    pid, child = (int(value) for value in holder.stdout.readline().split())
    if mode == "die":
        holder.wait(timeout=30)
    return holder, pid, child


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_a_live_holder_is_refused_at_once_and_named(tmp_path):
    path = tmp_path / "agent.lock"
    holder, pid, child = _hold(path, 600, "stay")
    try:
        waits = []
        with pytest.raises(LockHeld, match=f"process {pid} holds {path}") as raised:
            with exclusive_lock(path, on_wait=waits.append):
                pytest.fail("the lock was taken while its holder lives")
        assert raised.value.holder == pid and raised.value.waited is None
        assert waits == [], "a live holder is not waited for"
    finally:
        holder.kill()
        holder.wait()
        _stop(child)


def test_the_processes_of_a_killed_holder_are_waited_for_then_the_lock_is_taken(tmp_path):
    path = tmp_path / "agent.lock"
    _, pid, child = _hold(path, 2.0, "die")
    waits = []
    try:
        with exclusive_lock(path, on_wait=waits.append):
            assert waits == [pid], "the user is told whose processes are awaited"
            assert path.read_text().strip() == str(os.getpid())
    finally:
        _stop(child)


def test_processes_of_a_killed_holder_that_do_not_end_are_reported(tmp_path):
    path = tmp_path / "run.lock"
    _, pid, child = _hold(path, 600, "die")
    try:
        started = time.monotonic()
        with pytest.raises(LockHeld, match="still held 1 s after its holder") as raised:
            with exclusive_lock(path, orphan_wait_s=1.0):
                pytest.fail("the lock was taken while a forked process holds it")
        assert time.monotonic() - started >= 1.0
        assert raised.value.holder == pid
    finally:
        _stop(child)
    deadline = time.monotonic() + 30
    while True:
        try:
            with exclusive_lock(path, orphan_wait_s=0):
                break
        except LockHeld:
            assert time.monotonic() < deadline, "the lock is free once the last holder ended"
            time.sleep(0.1)


def test_a_lock_without_a_recorded_holder_is_refused(tmp_path):
    import fcntl

    path = tmp_path / "agent.lock"
    with path.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(LockHeld, match=f"another process holds {path}"):
            with exclusive_lock(path):
                pytest.fail("the lock was taken twice")
    with exclusive_lock(path):
        assert path.read_text().strip() == str(os.getpid())
