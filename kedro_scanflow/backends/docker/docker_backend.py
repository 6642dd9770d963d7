"""``DockerBackend``: every task in its own container, on a private network of the run.

Scanflow's Deployment module: "a workflow has its own network, running a node yields a
container". For each run the backend creates a bridge network, starts an MLflow tracking
server container on it (``http://tracker:5000`` for the tasks, 127.0.0.1 only for the
orchestrator), or joins the one ``kedro scanflow tracker`` serves, and one container per
task from the project image. Containers mount the project's ``data/`` (the shared
volume: catalog files and the run directory) and ``conf/`` (read-only). Up to
``prewarm`` containers are started before their task is due: they import what they need
and wait for their spec file, so a task starts the moment its inputs are ready. They do
so at a low CPU weight, raised when their task is due, and the tracker has a high one:
on a busy machine the tracker and the running tasks are the critical path, warming
containers are not. A task's success counts when its process writes its success marker,
before the engine has torn its container down. When the run ends (success, failure,
Ctrl-C) every container and the network are removed, unless ``--keep``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, ClassVar

from kedro_scanflow.backends.base import AbstractBackend, BackendContext, BackendError, TaskExit
from kedro_scanflow.backends.docker.container_plan import (
    RUNNING_TASK_CPU_SHARES,
    TRACKER_CLIENT_SETTINGS,
    ConfSourceError,
    check_conf_source,
    container_conf_source,
    shared_mounts,
    task_container_plan,
)
from kedro_scanflow.backends.docker.container_runtime import (
    create_container,
    project_image_uid,
)
from kedro_scanflow.backends.docker.leftovers import remove_leftovers
from kedro_scanflow.backends.docker.run_labels import ROLE_TASK, RunLabels
from kedro_scanflow.backends.docker.shared_folders import hand_over_shared_folders
from kedro_scanflow.backends.docker.tracker_server import TrackerServer, find_shared_tracker
from kedro_scanflow.config.node_settings import settings_for
from kedro_scanflow.images.docker_engine import docker_client
from kedro_scanflow.images.project_image import project_image_name, variant_image_name
from kedro_scanflow.tracking.tracking_uri import TrackingTarget

if TYPE_CHECKING:
    from docker.models.containers import Container

    from kedro_scanflow.pipeline.task_plan import Task

logger = logging.getLogger(__name__)

_EXIT_REASONS = {137: "killed (SIGKILL)", 143: "terminated (SIGTERM)"}
_MARKER_POLL_S = 0.01  # a stat per running task; half of it is on the critical path
_ENGINE_WAIT_S = 120.0  # for a container start in another thread; the engine may be slow


class DockerBackend(AbstractBackend):
    """Runs each task as a container from the project image."""

    name: ClassVar[str] = "docker"
    handle_tag: ClassVar[str | None] = "scanflow.container_id"

    def __init__(self, context: BackendContext):
        super().__init__(context)
        self._options = context.config.backends.docker
        self._labels = RunLabels(
            context.package_name, context.project_path, context.run_directory.run_id
        )
        self.image = self._options.image or project_image_name(context.package_name)
        self._client = None
        self._user = ""
        self._network = None
        self._tracker: TrackerServer | None = None
        self._lock = threading.Lock()
        self._containers: dict[str, Container] = {}
        self._launched: set[str] = set()
        self._exited_early: set[str] = set()
        self._reported: set[str] = set()
        self._log_threads: dict[str, threading.Thread] = {}
        self._anticipated: dict[str, threading.Event] = {}
        self._claimed: set[str] = set()
        self._ahead: queue.Queue[Task | None] = queue.Queue()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._starter: threading.Thread | None = None

    def start(self) -> None:
        """Check the image, clear leftovers, create the network, start the tracker (which
        :meth:`tracker_target` waits for).

        Raises:
            BackendError: When ``--conf-source`` is an archive (containers mount a folder).
            DockerBackendError: When the project image does not exist.
            DockerEngineError: When no Docker engine answers.
        """
        try:
            check_conf_source(self.context.conf_source, "the docker backend")
        except ConfSourceError as error:
            raise BackendError(str(error)) from None
        self._client = client = docker_client()
        uid = project_image_uid(client, self.image)
        self._user = f"{uid}:{uid}"
        runs_root = self.context.run_directory.root.parent
        remove_leftovers(client, self._labels, runs_root, exclude_run=self._labels.run_id)
        hand_over_shared_folders(self.context.project_path, self.context.run_directory.root, uid)
        self._network = client.networks.create(
            self._labels.network,
            driver="bridge",
            labels=self._labels.labels("network", keep=self.context.keep),
        )
        self._tracker = TrackerServer(
            client,
            self._labels,
            self.image,
            self._user,
            self._options.tracker,
            keep=self.context.keep,
        )
        shared = find_shared_tracker(client, self._labels, self._tracker.volume, runs_root)
        if shared is not None:
            self._tracker.join(shared, self._labels.network)
        else:
            # Not waiting here: task containers warm up while the server starts.
            self._tracker.start(self._labels.network, wait=False)
        for key, value in TRACKER_CLIENT_SETTINGS.items():
            os.environ.setdefault(key, value)
        self._starter = threading.Thread(
            target=self._start_ahead, name="scanflow-start-ahead", daemon=True
        )
        self._starter.start()
        watcher = threading.Thread(
            target=self._watch_success_markers, name="scanflow-success-markers", daemon=True
        )
        watcher.start()
        self._threads.append(watcher)

    def tracking_uri(self, host_uri: str) -> str:
        """Tasks log to the tracker container over the run's network."""
        return self._tracker.network_uri if self._tracker is not None else host_uri

    def tracker_target(self, target: TrackingTarget) -> TrackingTarget:
        """The orchestrator logs to the tracker container through its 127.0.0.1 port;
        artifacts go through the server to its volume."""
        if self._tracker is None or self._tracker.host_uri is None:
            return target
        self._tracker.wait_until_ready()
        shared = self._tracker.shared
        server = (
            "the tracker `kedro scanflow tracker` serves" if shared else "the tracker container"
        )
        return TrackingTarget(
            uri=self._tracker.host_uri,
            experiment=target.experiment,
            artifact_location=None,
            source=f"{server} (volume {self._tracker.volume})",
        )

    def tracker_note(self) -> str | None:
        if self._tracker is None:
            return None
        if self._tracker.shared:
            return f"the runs are in the open UI at {self._tracker.host_uri}"
        return (
            f"its store is the Docker volume {self._tracker.volume}; browse it with "
            "`kedro scanflow tracker`"
        )

    def task_conf_source(self, conf_source: str | None) -> str | None:
        """A ``--conf-source`` folder is mounted as the containers' ``conf/``."""
        return container_conf_source(conf_source)

    def anticipate(self, upcoming: list[Task]) -> None:
        """Have containers started for the next tasks, so they are warm when due. They
        start in the background (:meth:`_start_ahead`): the orchestrator goes on to
        launch and watch tasks meanwhile."""
        with self._lock:
            waiting = [
                s
                for s in self._anticipated
                if s not in self._launched and s not in self._exited_early
            ]
            for task in upcoming:
                if len(waiting) >= self._options.prewarm:
                    return
                if task.slug in self._anticipated or task.slug in self._claimed:
                    continue
                # Before its spec can be written: the container waits for a fresh one.
                self.context.run_directory.spec_path(task.slug).unlink(missing_ok=True)
                self._anticipated[task.slug] = threading.Event()
                waiting.append(task.slug)
                self._ahead.put(task)

    def _start_ahead(self) -> None:
        """Start the containers :meth:`anticipate` asked for, one after the other, unless
        their task was launched first (it then starts its own container)."""
        while True:
            task = self._ahead.get()
            if task is None or self._stopping.is_set():
                return
            started = self._anticipated[task.slug]
            try:
                if self._claim(task.slug):
                    self._start_container(task)
            except Exception as error:  # noqa: BLE001 - the task's launch tries again
                logger.debug("Could not start a container ahead for %s: %s", task.slug, error)
            finally:
                started.set()

    def _claim(self, slug: str) -> bool:
        """Whether the caller is the one to start ``slug``'s container: either ahead of
        its task or at its launch, never both."""
        with self._lock:
            if slug in self._claimed:
                return False
            self._claimed.add(slug)
            return True

    def launch(self, task: Task, spec_path: Path) -> str:
        if not self._claim(task.slug):  # being started ahead: use it once it is
            self._anticipated[task.slug].wait(timeout=_ENGINE_WAIT_S)
        with self._lock:
            container = self._containers.get(task.slug)
            warm = container is not None and task.slug not in self._exited_early
            if container is not None and not warm:
                self._containers.pop(task.slug)
        if container is not None and not warm:
            with contextlib.suppress(Exception):
                container.remove(force=True)
        if not warm:
            container = self._start_container(task, due=True)
        with self._lock:
            self._launched.add(task.slug)
            exited_before_launch = task.slug in self._exited_early
        assert container is not None
        if exited_before_launch:  # it died while we decided: report it as the task's exit
            self._report_exit(task.slug, container)
        elif warm:
            self._raise_cpu_weight(container)
        return str(container.id)

    def terminate(self, slug: str, force: bool = False) -> None:
        container = self._containers.get(slug)
        if container is None:
            return
        grace = int(self._options.terminate_grace_period)

        def _stop() -> None:
            with contextlib.suppress(Exception):
                if force:
                    container.kill()
                else:
                    container.stop(timeout=grace)

        threading.Thread(target=_stop, name=f"scanflow-stop-{slug}", daemon=True).start()

    def stop(self) -> None:
        """Stop what still runs, keep the logs, and remove containers and the network."""
        self._stopping.set()
        if self._starter is not None:  # no container may start after the kills below
            self._ahead.put(None)
            self._starter.join(timeout=_ENGINE_WAIT_S)
        for slug, container in list(self._containers.items()):
            if slug not in self._launched:
                with contextlib.suppress(Exception):
                    container.kill()
        tracker_removal = self._remove_tracker_early()
        for thread in self._threads:
            thread.join(timeout=30)
        if self.context.keep:
            logger.info("Keeping the run's containers and network (--keep).")
            return
        for container in list(self._containers.values()):  # a late wait thread may remove one
            with contextlib.suppress(Exception):
                container.remove(force=True)
        if tracker_removal is not None:
            tracker_removal.join()
        elif self._tracker is not None:
            self._tracker.stop()
        if self._network is not None:
            with contextlib.suppress(Exception):
                self._network.remove()

    def _remove_tracker_early(self) -> threading.Thread | None:
        """Start removing the tracker while the task containers are torn down, when no
        task can still need it: every launched task has reported its exit (its MLflow run
        is closed). The engine takes a fifth of a second to remove it, at the end of every
        run. Returns the thread to join, or ``None`` when it must wait for the tasks."""
        if self._tracker is None or self.context.keep:
            return None
        with self._lock:
            if not self._launched <= self._reported:
                return None
        tracker = self._tracker

        def remove() -> None:
            try:
                tracker.stop()
            except Exception as error:  # noqa: BLE001 - the run's result stands; say what is left
                logger.warning("Could not remove the tracker container: %s", error)

        removal = threading.Thread(target=remove, name="tracker-removal", daemon=True)
        removal.start()
        return removal

    def _raise_cpu_weight(self, container: Container) -> None:
        """A warm container's task is due: it now competes for the CPU as a running task."""
        import docker.errors  # noqa: PLC0415

        try:
            container.update(cpu_shares=RUNNING_TASK_CPU_SHARES)
        except docker.errors.APIError as error:  # it may have exited meanwhile
            logger.debug("Could not raise the CPU weight of %s: %s", container.name, error)

    def _start_container(self, task: Task, due: bool = False) -> Container:
        """Create and start the container of ``task``: one that waits for its spec at a
        low CPU weight, or (``due``) one that runs the spec already written."""
        context = self.context
        settings = settings_for(task, context.config.nodes, self._options.resources)
        image = settings.image or (
            variant_image_name(self.image, settings.requirements)
            if settings.requirements
            else self.image
        )
        marker_path = context.run_directory.success_marker_path(task.slug)
        # A marker left by an earlier attempt would report this one's success at once.
        marker_path.unlink(missing_ok=True)
        spec, marker = (
            PurePosixPath(os.path.relpath(path, context.project_path))
            for path in (context.run_directory.spec_path(task.slug), marker_path)
        )
        plan = task_container_plan(
            name=self._labels.container(task.slug),
            image=image,
            user=self._user,
            labels=self._labels.labels(ROLE_TASK, task.slug, keep=context.keep),
            spec_path=spec,
            mounts=shared_mounts(
                context.project_path, context.run_directory.root, context.conf_source
            ),
            settings=settings,
            preload=self._options.preload,
            await_spec=not due,
            success_marker=marker,
            mlflow_on_demand=context.mlflow_on_demand,
        )
        container = create_container(self._client, plan, self._labels.network)  # type: ignore[arg-type]
        container.start()
        with self._lock:
            self._containers[task.slug] = container
        for target, role in ((self._stream_logs, "logs"), (self._await_exit, "wait")):
            thread = threading.Thread(
                target=target,
                args=(task.slug, container),
                name=f"scanflow-{role}-{task.slug}",
                daemon=True,
            )
            if role == "logs":
                self._log_threads[task.slug] = thread
            thread.start()
            self._threads.append(thread)
        return container

    def _stream_logs(self, slug: str, container: Container) -> None:
        path = self.context.run_directory.log_path(slug)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as log, contextlib.suppress(Exception):
            for chunk in container.logs(stream=True, follow=True):
                log.write(chunk)
                log.flush()

    def _await_exit(self, slug: str, container: Container) -> None:
        status_code = None
        with contextlib.suppress(Exception):
            status_code = container.wait().get("StatusCode")
        with self._lock:
            launched = slug in self._launched
            if not launched:
                self._exited_early.add(slug)
            succeeded_before = slug in self._reported
        if succeeded_before:
            if status_code != 0:
                logger.warning(
                    "The container of %s exited with code %s after its task had succeeded "
                    "(outputs saved, MLflow run ended); the task stays succeeded.",
                    slug,
                    status_code,
                )
        elif launched:
            self._report_exit(slug, container, status_code)
        if launched:
            self._remove_exited(slug, container)

    def _remove_exited(self, slug: str, container: Container) -> None:
        """Remove a launched task's exited container once its log is saved (unless
        ``--keep``): the engine tears containers down while later tasks run, instead of
        all of them after the last one, when the run waits for it. A removed container
        leaves :attr:`_containers`, which holds what :meth:`stop` still has to remove."""
        if self.context.keep:
            return
        self._log_threads[slug].join(timeout=30)
        with self._lock:
            if self._containers.get(slug) is not container:
                return
        try:
            container.remove(force=True)
        except Exception as error:  # noqa: BLE001 - stop() tries again
            logger.debug("Could not remove the exited container of %s: %s", slug, error)
            return
        with self._lock:
            if self._containers.get(slug) is container:
                del self._containers[slug]

    def _watch_success_markers(self) -> None:
        """Report a running task's success as soon as its process writes its success
        marker: the engine takes a tenth of a second or more to tear a container down
        and tell :meth:`_await_exit`, on the critical path of every chain."""
        run_directory = self.context.run_directory
        while not self._stopping.wait(_MARKER_POLL_S):
            with self._lock:
                pending = [slug for slug in self._launched if slug not in self._reported]
            for slug in pending:
                if run_directory.success_marker_path(slug).exists():
                    self._report(TaskExit(slug, 0, None))

    def _report(self, task_exit: TaskExit) -> None:
        """Put ``task_exit`` on :attr:`exits`, once per task: its marker and its container's
        exit may both report a success."""
        with self._lock:
            if task_exit.slug in self._reported:
                return
            self._reported.add(task_exit.slug)
        self.exits.put(task_exit)

    def _report_exit(self, slug: str, container: Container, status_code: int | None = None) -> None:
        """Report the exit of ``slug``'s container; a success needs no inspection (it is on
        the critical path of the next task), a failure is inspected for its reason."""
        if status_code == 0:
            self._report(TaskExit(slug, 0, None))
            return
        code, reason = -1, "the container disappeared"
        with contextlib.suppress(Exception):
            container.reload()
            state = container.attrs["State"]
            code = int(state.get("ExitCode", -1))
            if state.get("OOMKilled"):
                reason = "OOMKilled: the container ran out of memory (raise its memory limit)"
            else:
                reason = _EXIT_REASONS.get(code) or (state.get("Error") or None)
        self._report(TaskExit(slug, code, reason))
