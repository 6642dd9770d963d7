"""``ForkServer``: a warm process that forks one child process per task.

Starting a fresh interpreter per node would pay for importing Kedro, MLflow and the
project (and TensorFlow, for model nodes) every time: seconds per node. Instead the
orchestrator forks this server once, before it starts any thread; the server imports
the ``preload`` modules, opens the tracking store once, and then forks a child for each
task it is asked to run. Each child is a separate OS process with its own pid, process
group, log file and exit code, started in milliseconds.

Protocol, one JSON object per line:

* orchestrator -> server: ``{"op": "spawn", "slug", "spec", "log"}`` and ``{"op": "shutdown"}``;
* server -> orchestrator: ``{"event": "ready"}``, ``{"event": "error", "message"}``,
  ``{"event": "started", "slug", "pid"}``, ``{"event": "exited", "slug", "pid", "code"}``.

If the orchestrator dies, the server reads end-of-file, stops every task and exits; a
task whose server dies receives SIGTERM (Linux parent-death signal), so a killed run
leaves no orphan processes.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import queue
import select
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro_scanflow.backends.base import TaskExit
from kedro_scanflow.tasks.warm_up import warm_up

if TYPE_CHECKING:
    from collections.abc import Sequence

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_READY_TIMEOUT_S = 600.0


class ForkServerError(RuntimeError):
    """The fork server could not start or stopped unexpectedly."""


class ForkServer:
    """Forks task processes from a warm, single-threaded server process."""

    def __init__(
        self,
        project_path: Path,
        exits: queue.Queue[TaskExit],
        preload: Sequence[str] = (),
        tracking_uri: str | None = None,
        grace_period: float = 10.0,
        log_path: Path | None = None,
    ):
        """Create the server; nothing runs before :meth:`start`.

        Args:
            project_path: Root of the (already bootstrapped) Kedro project.
            exits: Where task exits are reported.
            preload: Modules to import once in the server before forking tasks.
            tracking_uri: MLflow tracking URI whose store to open once in the server.
            grace_period: Seconds between SIGTERM and SIGKILL in :meth:`terminate`.
            log_path: Where the server's own output goes (import warnings of preloaded
                modules, for instance); the terminal when ``None``.
        """
        self._project_path = project_path
        self._exits = exits
        self._preload = list(preload)
        self._tracking_uri = tracking_uri
        self._grace_period = grace_period
        self._log_path = log_path
        self._pid: int | None = None
        self._requests: Any = None
        self._replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self._pids: dict[str, int] = {}
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        """The server's pid once started."""
        return self._pid

    def start(self) -> None:
        """Fork the server. Call it while the calling process has a single thread."""
        if threading.active_count() > 1:
            logger.debug("Forking the fork server with %d threads alive.", threading.active_count())
        requests_read, requests_write = os.pipe()
        events_read, events_write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the forked server, checked by its events
            os.close(requests_write)
            os.close(events_read)
            if self._log_path is not None:
                _redirect_output(self._log_path)
            code = 0
            try:
                _Server(
                    requests_read,
                    events_write,
                    self._project_path,
                    self._preload,
                    self._tracking_uri,
                ).serve()
            except BaseException:  # noqa: BLE001 - the server must never return into the CLI
                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        os.close(requests_read)
        os.close(events_write)
        self._pid = pid
        self._requests = os.fdopen(requests_write, "w", buffering=1, encoding="utf-8")
        self._reader = threading.Thread(
            target=self._read_events, args=(events_read,), name="scanflow-fork-server", daemon=True
        )
        self._reader.start()

    def launch(self, slug: str, spec_path: Path, log_path: Path) -> int:
        """Fork a task process for ``slug``; return its pid once it exists.

        Raises:
            ForkServerError: When the server failed to start (e.g. a preload import failed).
        """
        self._send({"op": "spawn", "slug": slug, "spec": str(spec_path), "log": str(log_path)})
        while True:
            try:
                reply = self._replies.get(timeout=_READY_TIMEOUT_S)
            except queue.Empty:
                raise ForkServerError(
                    f"The fork server did not start task {slug} within {_READY_TIMEOUT_S:.0f} s."
                ) from None
            if reply["event"] == "error":
                raise ForkServerError(reply["message"])
            if reply["event"] == "started" and reply["slug"] == slug:
                pid = int(reply["pid"])
                with self._lock:
                    self._pids[slug] = pid
                    self._running.add(slug)
                return pid

    def terminate(self, slug: str, force: bool = False) -> None:
        """SIGTERM the task's process group, SIGKILL it after the grace period (or now)."""
        with self._lock:
            pid = self._pids.get(slug)
            if pid is None or slug not in self._running:
                return
        _signal_group(pid, signal.SIGKILL if force else signal.SIGTERM)
        if force:
            return
        timer = threading.Timer(self._grace_period, self._kill_if_running, args=(slug, pid))
        timer.daemon = True
        timer.start()

    def _kill_if_running(self, slug: str, pid: int) -> None:
        with self._lock:
            running = slug in self._running
        if running:
            _signal_group(pid, signal.SIGKILL)

    def stop(self) -> None:
        """Stop the server; it stops any task still running. Idempotent."""
        if self._pid is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self._send({"op": "shutdown"})
        with contextlib.suppress(OSError, ValueError):
            self._requests.close()
        deadline = time.monotonic() + self._grace_period + 5
        while time.monotonic() < deadline:
            done, _ = os.waitpid(self._pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
        if self._reader is not None:
            self._reader.join(timeout=5)
        self._pid = None

    def _send(self, message: dict[str, Any]) -> None:
        self._requests.write(json.dumps(message) + "\n")
        self._requests.flush()

    def _read_events(self, fd: int) -> None:
        with os.fdopen(fd, "r", encoding="utf-8") as events:
            for line in events:
                event = json.loads(line)
                if event["event"] == "exited":
                    with self._lock:
                        self._running.discard(event["slug"])
                    self._exits.put(
                        TaskExit(event["slug"], int(event["code"]), event.get("reason"))
                    )
                elif event["event"] != "ready":
                    self._replies.put(event)
        with self._lock:
            orphaned = sorted(self._running)
            self._running.clear()
        for slug in orphaned:
            self._exits.put(TaskExit(slug, -int(signal.SIGKILL), "the fork server stopped"))
        self._replies.put({"event": "error", "message": "The fork server stopped."})


class _Server:
    """The loop of the forked server process."""

    def __init__(
        self,
        requests_fd: int,
        events_fd: int,
        project_path: Path,
        preload: list[str],
        tracking_uri: str | None,
    ):
        self._requests_fd = requests_fd
        self._events_fd = events_fd
        self._project_path = project_path
        self._preload = preload
        self._tracking_uri = tracking_uri
        self._children: dict[int, str] = {}
        self._buffer = b""
        self._wakeup_read = -1
        self._wakeup_write = -1

    def serve(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the orchestrator
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _forget_inherited_connections()
        try:
            warm_up(self._project_path, self._preload)
            if self._tracking_uri:
                _warm_tracking_store(self._tracking_uri)
        except BaseException as error:  # noqa: BLE001 - reported to the orchestrator
            self._emit(event="error", message=f"The fork server could not preload: {error!r}")
            raise
        self._emit(event="ready")
        self._wakeup_read, self._wakeup_write = os.pipe()
        os.set_blocking(self._wakeup_read, False)
        os.set_blocking(self._wakeup_write, False)
        signal.set_wakeup_fd(self._wakeup_write)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        while True:
            readable, _, _ = select.select([self._requests_fd, self._wakeup_read], [], [], 1.0)
            if self._wakeup_read in readable:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wakeup_read, 4096)
            self._reap()
            if self._requests_fd in readable and not self._handle_requests():
                self._shutdown()
                return

    def _handle_requests(self) -> bool:
        """Process complete request lines; ``False`` once the server must stop."""
        data = os.read(self._requests_fd, 65536)
        if not data:
            return False
        self._buffer += data
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            request = json.loads(line)
            if request["op"] == "shutdown":
                return False
            if request["op"] == "spawn":
                pid = self._spawn(request["slug"], Path(request["spec"]), Path(request["log"]))
                self._emit(event="started", slug=request["slug"], pid=pid)
        return True

    def _spawn(self, slug: str, spec_path: Path, log_path: Path) -> int:
        server_pid = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the task process; checked through its exit code
            code = 1
            try:
                code = self._become_task(server_pid, spec_path, log_path)
            except BaseException:  # noqa: BLE001
                traceback.print_exc()
            finally:
                with contextlib.suppress(Exception):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(code)
        self._children[pid] = slug
        return pid

    def _become_task(self, server_pid: int, spec_path: Path, log_path: Path) -> int:
        os.setsid()
        _set_parent_death_signal(signal.SIGTERM)
        if os.getppid() != server_pid:
            return 1
        for fd in (self._requests_fd, self._events_fd, self._wakeup_read, self._wakeup_write):
            with contextlib.suppress(OSError):
                os.close(fd)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _redirect_output(log_path)

        from kedro_scanflow.tasks.task_process import (  # noqa: PLC0415
            install_termination_handler,
            run_task,
        )
        from kedro_scanflow.tasks.task_spec import TaskSpec  # noqa: PLC0415

        install_termination_handler()
        return run_task(TaskSpec.load(spec_path), self._project_path)

    def _reap(self) -> None:
        while self._children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            slug = self._children.pop(pid, None)
            if slug is not None:
                code = os.waitstatus_to_exitcode(status)
                reason = f"killed by signal {-code}" if code < 0 else None
                self._emit(event="exited", slug=slug, pid=pid, code=code, reason=reason)

    def _shutdown(self) -> None:
        for pid in list(self._children):
            _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while self._children and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.05)
        for pid in list(self._children):
            _signal_group(pid, signal.SIGKILL)
        while self._children:
            self._reap()
            time.sleep(0.01)

    def _emit(self, **event: Any) -> None:
        payload = (json.dumps(event) + "\n").encode("utf-8")
        with contextlib.suppress(BrokenPipeError):
            os.write(self._events_fd, payload)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _set_parent_death_signal(signum: int) -> None:
    """Ask Linux to send ``signum`` to this process when its parent dies."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)


def _redirect_output(log_path: Path) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    os.close(null_fd)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]


def _sqlalchemy_engines() -> list[Any]:
    """Engines MLflow's SQL stores have cached in this process."""
    engines: list[Any] = []
    for module_name in (
        "mlflow.store.tracking.sqlalchemy_store",
        "mlflow.store.model_registry.sqlalchemy_store",
    ):
        module = sys.modules.get(module_name)
        store_class = getattr(module, "SqlAlchemyStore", None)
        engines.extend(getattr(store_class, "_engine_map", {}).values())
    return engines


def _forget_inherited_connections() -> None:
    """Drop database connections inherited from the orchestrator without closing them
    (SQLAlchemy's documented way to make an engine safe to use after ``fork``)."""
    for engine in _sqlalchemy_engines():
        with contextlib.suppress(Exception):
            engine.dispose(close=False)


def _warm_tracking_store(uri: str) -> None:
    """Open the tracking and registry stores once, so tasks inherit them ready to use,
    then close the server's own connections so that no task shares one."""
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    client = MlflowClient(tracking_uri=uri)
    client.search_experiments(max_results=1)
    with contextlib.suppress(Exception):
        client.search_registered_models(max_results=1)
    for engine in _sqlalchemy_engines():
        with contextlib.suppress(Exception):
            engine.dispose()
