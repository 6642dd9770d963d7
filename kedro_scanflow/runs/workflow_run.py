"""``run_workflow``: one ``kedro scanflow run`` from request to result.

1. Open a Kedro session for the request (env, params), read ``scanflow.yml``, select
   the pipeline and cut it into a :class:`TaskPlan`; check its inputs exist.
2. Create (or, for ``--resume``, reopen) the run directory.
3. Start the backend (before any thread exists: the local backend forks here).
4. Start the MLflow parent run, schedule the tasks, end the parent FINISHED or FAILED.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kedro.framework.project import pipelines as project_pipelines
from kedro.framework.session import KedroSession
from kedro.io import AbstractDataset
from kedro.pipeline import Pipeline

from kedro_scanflow.agent.agent_pipeline import loadable_pipeline_names
from kedro_scanflow.backends import BackendContext, backend_class
from kedro_scanflow.config import ScanflowConfig, load_scanflow_config
from kedro_scanflow.pipeline.task_plan import TaskPlan, is_ephemeral
from kedro_scanflow.runs.process_lock import LockHeld, exclusive_lock
from kedro_scanflow.runs.run_directory import (
    RunDirectory,
    RunRecord,
    TaskStatus,
    WorkflowAttempt,
    utc_now,
)
from kedro_scanflow.runs.run_reporter import RunReporter
from kedro_scanflow.runs.scheduler import ScheduleOutcome, Scheduler
from kedro_scanflow.tasks.mlflow_on_demand import tasks_may_defer_mlflow
from kedro_scanflow.tasks.task_spec import TaskSpec, TrackingSpec
from kedro_scanflow.tracking.run_tags import (
    TAG_BACKEND,
    TAG_PIPELINES,
    TAG_RESUMED_FROM,
    TAG_RUN_ID,
)
from kedro_scanflow.tracking.tracking_uri import TrackingTarget, resolve_tracking_target
from kedro_scanflow.tracking.workflow_tracker import WorkflowTracker

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kedro.framework.context import KedroContext
    from kedro.io import CatalogProtocol
    from rich.console import Console

    from kedro_scanflow.backends.base import AbstractBackend
    from kedro_scanflow.pipeline.task_plan import Task
    from kedro_scanflow.runs.run_request import RunRequest

logger = logging.getLogger(__name__)


class WorkflowError(RuntimeError):
    """The workflow cannot start: bad selection, missing inputs, busy run directory."""


@dataclass
class WorkflowResult:
    """What a workflow run produced and where to find it."""

    run_directory: RunDirectory
    plan: TaskPlan
    outcome: ScheduleOutcome
    tracking: TrackingTarget
    parent_run_id: str | None
    backend: str
    resumed_from: str | None = None
    tracker_note: str | None = None

    @property
    def run_id(self) -> str:
        return self.run_directory.run_id

    @property
    def succeeded(self) -> bool:
        return self.outcome.ok


@dataclass(frozen=True)
class PreparedWorkflow:
    """A request resolved against the project: its config, catalog, plan and tracker."""

    context: KedroContext
    config: ScanflowConfig
    catalog: CatalogProtocol
    plan: TaskPlan
    tracking: TrackingTarget
    runs_root: Path


def run_workflow(
    project_path: Path,
    package_name: str,
    request: RunRequest,
    console: Console,
    resume: str | None = None,
    run_id: str | None = None,
) -> WorkflowResult:
    """Run ``request`` (or resume run ``resume``) and return the result.

    Args:
        project_path: Root of the bootstrapped Kedro project.
        package_name: The project's Python package.
        request: What to run. When resuming, only its ``env`` and ``conf_source`` are
            used, to find the runs directory; the run's saved request is repeated.
        console: Where progress and task logs are printed.
        resume: A run id (or ``latest``) whose unfinished tasks to run.
        run_id: The id of the new run (default: a fresh timestamped id), for callers
            that must find the run again, as the agent does after a restart.

    Raises:
        WorkflowError: When the run cannot start.
    """
    resumed_run: RunDirectory | None = None
    if resume is not None:
        runs_root = _configured_runs_root(project_path, request)
        try:
            resumed_run = RunDirectory.open(runs_root, resume)
        except FileNotFoundError as error:
            raise WorkflowError(str(error)) from None
        request = resumed_run.record().request

    with KedroSession.create(
        project_path,
        env=request.env,
        runtime_params=request.runtime_params or None,
        conf_source=request.conf_source,
    ) as session:
        prepared = prepare_workflow(session, project_path, package_name, request)
        run_directory = resumed_run or RunDirectory.create(prepared.runs_root, request, run_id)
        with _exclusive(run_directory, console):
            return _execute(prepared, run_directory, request, package_name, console, resumed_run)


def _configured_runs_root(project_path: Path, request: RunRequest) -> Path:
    """The runs directory that ``scanflow.yml`` configures for the request's environment."""
    with KedroSession.create(
        project_path, env=request.env, conf_source=request.conf_source
    ) as session:
        config = load_scanflow_config(session.load_context().config_loader)
    return project_path / config.run.directory


def prepare_workflow(
    session: KedroSession,
    project_path: Path,
    package_name: str,
    request: RunRequest,
    check_inputs: bool = True,
) -> PreparedWorkflow:
    """Resolve ``request`` in ``session``: read the config, select and plan the pipeline.

    Raises:
        WorkflowError: For an unknown pipeline or (with ``check_inputs``) missing inputs.
        ScanflowConfigError: For an invalid ``scanflow.yml``.
        TaskPlanError: When the selection is empty.
    """
    project_pipelines.set_requested(loadable_pipeline_names(request.pipelines))  # as session.run
    try:
        context = session.load_context()  # the plugin's hook reads the requested pipelines
    except ImportError:
        _request_all_pipelines()
        context = session.load_context()
    config = load_scanflow_config(context.config_loader)
    pipeline = request.select(_combined_pipeline(request.pipelines))
    catalog = context.catalog
    plan = TaskPlan.from_pipeline(pipeline, catalog, config.run.group_by)
    if check_inputs:
        host_files = backend_class(request.backend or config.run.backend).shares_host_volume
        _check_inputs(plan, pipeline, catalog, host_files)
    tracking = resolve_tracking_target(
        config.tracker, context.config_loader, project_path, package_name
    )
    return PreparedWorkflow(
        context, config, catalog, plan, tracking, project_path / config.run.directory
    )


def _request_all_pipelines() -> None:
    """Ask for every pipeline of the project.

    ``find_pipelines(raise_errors=True)`` refuses a requested name that has no module
    under ``pipelines/`` with a bare ``ImportError``. Loading them all instead lets an
    unknown name be reported with the registered ones, while a pipeline that really fails
    to import fails again, with its own error.
    """
    project_pipelines.set_requested(None)


def _combined_pipeline(names: list[str]) -> Pipeline:
    project_pipelines.set_requested(loadable_pipeline_names(names))
    try:
        available = set(project_pipelines.keys())  # errors of register_pipelines() propagate
    except ImportError:
        _request_all_pipelines()
        available = set(project_pipelines.keys())
    missing = [name for name in names if name not in available]
    if missing:
        project_pipelines.set_requested(None)
        known = ", ".join(sorted(project_pipelines.keys()))
        raise WorkflowError(
            f"No pipeline named {', '.join(repr(m) for m in missing)} is registered by the "
            f"project (registered: {known})."
        )
    combined = Pipeline([])
    for name in names:
        combined += project_pipelines[name]
    return combined


def _check_inputs(
    plan: TaskPlan, pipeline: Pipeline, catalog: CatalogProtocol, host_files: bool = True
) -> None:
    """Fail before any task starts when an input of the pipeline is missing; files are
    only checked when the backend's shared volume is this machine's (``host_files``)."""
    problems = []
    for dataset in sorted(plan.free_inputs):
        readers = ", ".join(sorted(node.name for node in pipeline.nodes if dataset in node.inputs))
        if is_ephemeral(catalog, dataset):
            problems.append(
                f"- '{dataset}' (read by {readers}) is an in-memory dataset that no "
                "selected node produces: select its producer too, or declare it in the "
                "catalog with a persistent type."
            )
            continue
        resolved = catalog.get(dataset, fallback_to_runtime_pattern=True)
        if host_files and _can_tell_existence(resolved) and not catalog.exists(dataset):
            location = _describe_location(resolved)
            problems.append(f"- '{dataset}' (read by {readers}) does not exist{location}.")
    if problems:
        raise WorkflowError("Missing pipeline input(s):\n" + "\n".join(problems))


def _can_tell_existence(dataset: object) -> bool:
    """Datasets that do not implement ``_exists`` always answer "missing"; skip them."""
    return type(dataset)._exists is not AbstractDataset._exists


def _describe_location(dataset: object) -> str:
    described = getattr(dataset, "_describe", dict)()
    for key in ("filepath", "path", "model_uri"):
        if described.get(key):
            return f": {type(dataset).__name__} at {described[key]}"
    return f" ({type(dataset).__name__})"


def _execute(
    prepared: PreparedWorkflow,
    run_directory: RunDirectory,
    request: RunRequest,
    package_name: str,
    console: Console,
    resumed_run: RunDirectory | None,
) -> WorkflowResult:
    config = prepared.config
    backend_name = request.backend or config.run.backend
    backend = backend_class(backend_name)(
        BackendContext(
            project_path=prepared.context.project_path,
            run_directory=run_directory,
            config=config,
            env=request.env,
            package_name=package_name,
            tracking=prepared.tracking,
            keep=request.keep,
            conf_source=request.conf_source,
            mlflow_on_demand=tasks_may_defer_mlflow(prepared.context.config_loader, config),
        )
    )
    already_done = (
        _finished_tasks(prepared.plan, run_directory, backend.shares_host_volume)
        if resumed_run
        else set()
    )
    record = run_directory.record()
    resumed_from = next(
        (a.mlflow_run_id for a in reversed(record.attempts) if a.mlflow_run_id), None
    )
    max_workers = request.max_workers or config.run.max_workers or os.cpu_count() or 1

    tracker: WorkflowTracker | None = None
    tracking = prepared.tracking
    outcome = ScheduleOutcome()
    attempt = WorkflowAttempt(backend=backend_name, started_at=utc_now())
    try:
        backend.start()
        # Warm the first tasks up while the tracker starts and the parent run is created.
        backend.anticipate(
            [task for slug, task in prepared.plan.tasks.items() if slug not in already_done]
        )
        tracking = backend.tracker_target(prepared.tracking)
        tracker = WorkflowTracker(tracking)
        if resumed_run is not None:
            _close_abandoned_attempts(tracker, run_directory, record, prepared.plan)
        tags = {
            TAG_RUN_ID: run_directory.run_id,
            TAG_PIPELINES: ",".join(request.pipelines),
            TAG_BACKEND: backend_name,
            **{f"scanflow.request.{k}": v for k, v in request.describe().items()},
        }
        if resumed_from:
            tags[TAG_RESUMED_FROM] = resumed_from
        attempt.mlflow_run_id = tracker.start_workflow(
            f"{'+'.join(request.pipelines)} {run_directory.run_id}",
            tags,
            _pipeline_params(prepared.plan, prepared.context),
        )
        record.attempts.append(attempt)
        run_directory.save_record(record)
        _announce(
            console,
            prepared.plan,
            tracking,
            run_directory,
            backend_name,
            max_workers,
            attempt,
            already_done,
        )

        def spec_for(task: Task, mlflow_run_id: str | None) -> TaskSpec:
            return _task_spec(
                task, prepared, run_directory, request, backend, tracker, mlflow_run_id
            )

        with RunReporter(
            console,
            prepared.plan,
            run_directory,
            stream_logs=config.run.stream_logs,
            already_done=len(already_done),
        ) as reporter:
            scheduler = Scheduler(
                prepared.plan,
                backend,
                run_directory,
                spec_for,
                max_workers,
                tracker=tracker,
                listener=reporter,
            )
            outcome = scheduler.run(already_done)
    finally:
        attempt.ended_at = utc_now()
        attempt.status = "succeeded" if outcome.ok else "failed"
        if attempt not in record.attempts:
            record.attempts.append(attempt)
        run_directory.save_record(record)
        if tracker is not None:  # before the backend stops: it may own the tracker
            _end_parent_run(tracker, outcome)
        backend.stop()
    return WorkflowResult(
        run_directory=run_directory,
        plan=prepared.plan,
        outcome=outcome,
        tracking=tracking,
        parent_run_id=attempt.mlflow_run_id,
        backend=backend_name,
        resumed_from=resumed_from,
        tracker_note=backend.tracker_note(),
    )


def _close_abandoned_attempts(
    tracker: WorkflowTracker, run_directory: RunDirectory, record: RunRecord, plan: TaskPlan
) -> None:
    """End what an orchestrator that was killed (not stopped) left open: its attempt,
    its MLflow parent run and the runs of the tasks it was running."""
    abandoned = [a for a in record.attempts if a.status == "running"]
    if not abandoned:
        return
    states = [run_directory.task_state(slug) for slug in plan.tasks]
    open_tasks = [s for s in states if s is not None and s.status == TaskStatus.RUNNING]
    run_ids = [a.mlflow_run_id for a in abandoned if a.mlflow_run_id]
    run_ids += [s.mlflow_run_id for s in open_tasks if s.mlflow_run_id]
    tracker.end_abandoned(run_ids, "the orchestrator was killed; the run was resumed")
    for attempt in abandoned:
        attempt.status = "abandoned"
        attempt.ended_at = attempt.ended_at or utc_now()
    for state in open_tasks:
        state.status = TaskStatus.FAILED
        state.reason = "the orchestrator was killed while the task ran"
        run_directory.save_task_state(state)
    run_directory.save_record(record)
    logger.warning(
        "Run %s: an earlier attempt was killed; %d MLflow run(s) marked KILLED",
        run_directory.run_id,
        len(run_ids),
    )


def _end_parent_run(tracker: WorkflowTracker, outcome: ScheduleOutcome) -> None:
    """End the parent run; a tracker that fails now must not hide the run's own outcome."""
    reason = "interrupted" if outcome.interrupted else None
    try:
        tracker.end_workflow(outcome.ok, reason)
    except Exception as error:  # noqa: BLE001
        logger.error("Could not end the MLflow parent run %s: %s", tracker.parent_run_id, error)


def _finished_tasks(
    plan: TaskPlan, run_directory: RunDirectory, check_volume: bool = True
) -> set[str]:
    """Tasks of a resumed run that succeeded and whose volume outputs are still there
    (trusted without looking when the volume is not on this machine)."""
    done = set()
    for slug, task in plan.tasks.items():
        state = run_directory.task_state(slug)
        if state is None or state.status != TaskStatus.SUCCEEDED:
            continue
        volume_files = [plan.shared_datasets[d] for d in task.outputs if d in plan.shared_datasets]
        if not check_volume or all(
            (run_directory.volume / name).is_file() for name in volume_files
        ):
            done.add(slug)
    return done


def _task_spec(
    task: Task,
    prepared: PreparedWorkflow,
    run_directory: RunDirectory,
    request: RunRequest,
    backend: AbstractBackend,
    tracker: WorkflowTracker | None,
    mlflow_run_id: str | None,
) -> TaskSpec:
    tracking = None
    if tracker is not None and mlflow_run_id is not None and tracker.parent_run_id:
        tracking = TrackingSpec(
            uri=backend.tracking_uri(prepared.tracking.uri),
            experiment_id=tracker.experiment_id,
            parent_run_id=tracker.parent_run_id,
            run_id=mlflow_run_id,
        )
    return TaskSpec.for_task(
        task,
        prepared.plan,
        request,
        run_id=run_directory.run_id,
        run_directory=os.path.relpath(run_directory.root, prepared.context.project_path),
        backend=backend.name,
        conf_source=backend.task_conf_source(request.conf_source),
        tracking=tracking,
    )


def _pipeline_params(plan: TaskPlan, context: KedroContext) -> dict[str, object]:
    """The values of the parameters the selected nodes read, for the parent run."""
    if "parameters" in plan.parameters:
        return dict(context.params)
    wanted: dict[str, object] = {}
    for dataset in sorted(plan.parameters):
        name = dataset.removeprefix("params:")
        value: object = context.params
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            wanted[name] = value
    return wanted


def _announce(
    console: Console,
    plan: TaskPlan,
    tracking: TrackingTarget,
    run_directory: RunDirectory,
    backend_name: str,
    max_workers: int,
    attempt: WorkflowAttempt,
    already_done: set[str],
) -> None:
    todo = len(plan.tasks) - len(already_done)
    resumed = f", {len(already_done)} already done" if already_done else ""
    console.print(
        f"[bold]Scanflow run {run_directory.run_id}[/bold]: {todo} task(s){resumed} on the "
        f"[bold]{backend_name}[/bold] backend, up to {max_workers} at once"
    )
    console.print(
        f"  run directory: {run_directory.root}\n"
        f"  MLflow: experiment '{tracking.experiment}', parent run "
        f"{attempt.mlflow_run_id} at {tracking.uri}",
        highlight=False,
    )


@contextmanager
def _exclusive(run_directory: RunDirectory, console: Console) -> Iterator[None]:
    """Hold the run directory's lock so two processes never execute the same run."""

    def waiting(holder: int) -> None:
        console.print(
            f"Run {run_directory.run_id}: waiting for the processes of its stopped "
            f"orchestrator (process {holder}) to end.",
            highlight=False,
        )

    try:
        with exclusive_lock(run_directory.lock_path, on_wait=waiting):
            yield
    except LockHeld as held:
        raise WorkflowError(
            f"Run {run_directory.run_id} is being executed by another process ({held})."
        ) from None
