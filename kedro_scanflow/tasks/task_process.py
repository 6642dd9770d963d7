"""What runs inside a task process, whichever backend started it.

A task process opens its MLflow run (created by the orchestrator), runs its nodes in a
Kedro session with :class:`ScanflowTaskRunner`, and reports: exit code 0 on success;
on failure a ``failure.json`` that names the node, a FAILED MLflow run and a non-zero
exit code. The same function serves a forked child of the local fork server, a fresh
interpreter (``python -m kedro_scanflow.tasks``), a container and a pod. With MLflow on
demand (:mod:`~kedro_scanflow.tasks.mlflow_on_demand`) the run opens only if something
imports MLflow, and otherwise ends over MLflow's REST API.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from time import perf_counter
from types import FrameType
from typing import Any

from kedro_scanflow.runs.run_directory import RunDirectory, TaskFailure
from kedro_scanflow.tasks.task_logging import (
    MessageFilter,
    quiet_repeated_warnings,
    use_plain_log_output,
)
from kedro_scanflow.tasks.task_runner import ScanflowTaskRunner, TaskObserver
from kedro_scanflow.tasks.task_spec import TaskSpec

logger = logging.getLogger(__name__)

RUN_ID_VARIABLE = "SCANFLOW_RUN_ID"
"""Environment variable holding the Scanflow run id inside task processes."""
EXIT_FAILED = 1
EXIT_TERMINATED = 143


class TaskTerminated(BaseException):  # noqa: N818 - mirrors KeyboardInterrupt
    """Raised in a task process that received SIGTERM, so that cleanup code runs.

    A ``BaseException`` so that ``except Exception`` in user code cannot swallow it.
    """


def quiet_task_session() -> None:
    """Settings for the Kedro sessions that task processes open.

    Telemetry is off: the user's own ``kedro scanflow run`` session already reports the
    run (if they consented); one report per node would be noise, and on an offline
    machine every attempt would wait for its network timeout.
    """
    os.environ["KEDRO_DISABLE_TELEMETRY"] = "true"


def install_termination_handler() -> None:
    """Turn SIGTERM into :class:`TaskTerminated` and restore Ctrl-C's default behaviour."""

    def _terminate(signum: int, frame: FrameType | None) -> None:
        raise TaskTerminated(f"terminated by signal {signum}")

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)


#: What plugins log because a task is a partial run inside an MLflow run it did not open:
#: true in every task, by design, and not actionable (parts of the messages).
EXPECTED_IN_TASKS = (
    "is already active. Configuration is inferred from the environment",
    "mlflow_config.",
    "was already active (run_id=",
    "was already opened before launching 'kedro run' so it is not closed",
    "Workflow tracking is disabled during partial pipeline runs",
)


def quiet_expected_task_warnings() -> None:
    """Drop :data:`EXPECTED_IN_TASKS` from the plugins' logs and the warnings every task
    would repeat (:func:`quiet_repeated_warnings`)."""
    expected = MessageFilter(EXPECTED_IN_TASKS)
    for name in (
        "kedro_mlflow.framework.hooks.mlflow_hook",
        "kedro_viz.integrations.kedro.run_hooks",
    ):
        logging.getLogger(name).addFilter(expected)
    quiet_repeated_warnings()


def run_task(
    spec: TaskSpec,
    project_path: Path,
    own_interpreter: bool = False,
    mlflow_on_demand: bool = False,
) -> int:
    """Run one task in this process and return its exit code.

    Args:
        spec: The task to run.
        project_path: Root of the Kedro project, already bootstrapped in this process.
        own_interpreter: This process was started for this task (``python -m
            kedro_scanflow.tasks``), not forked from a process with MLflow state.
        mlflow_on_demand: Leave MLflow unloaded unless the task imports it (see
            :mod:`~kedro_scanflow.tasks.mlflow_on_demand`), when the task logs to a
            tracking server in a run the orchestrator created.
    """
    from kedro.framework.session import KedroSession  # noqa: PLC0415

    tracking = spec.tracking
    on_demand = (
        mlflow_on_demand
        and tracking is not None
        and tracking.run_id is not None
        and tracking.uri.startswith(("http://", "https://"))
        and "mlflow" not in sys.modules
    )

    use_plain_log_output()
    quiet_expected_task_warnings()
    quiet_task_session()
    os.environ[RUN_ID_VARIABLE] = spec.run_id  # node code can tie what it makes to the run
    run_directory = RunDirectory(project_path / spec.run_directory)
    observer = TaskObserver()
    started = perf_counter()
    try:
        if on_demand:
            _open_run_on_demand(spec)
        elif tracking is not None:
            import mlflow  # noqa: PLC0415 - imported once in the fork server, lazily elsewhere

            _open_mlflow_run(mlflow, spec, project_path, own_interpreter)
        runner = ScanflowTaskRunner(run_directory.volume, spec.shared_datasets, observer)
        logger.info("Task %s: running %s", spec.slug, ", ".join(spec.nodes))
        with KedroSession.create(
            project_path,
            env=spec.env,
            runtime_params=spec.runtime_params or None,
            conf_source=spec.conf_source,
        ) as session:
            session.run(
                pipeline_names=spec.pipelines,
                node_names=spec.nodes,
                runner=runner,
                load_versions=spec.load_versions or None,
            )
    except BaseException as error:  # noqa: BLE001 - every failure is reported, then exits
        node = observer.failed_node or _single_pending_node(spec, observer)
        run_directory.save_task_failure(
            spec.slug,
            TaskFailure(
                node=node,
                error_type=type(error).__name__,
                message=str(error),
                traceback="".join(traceback.format_exception(error)),
            ),
        )
        logger.error(
            "Task %s failed in node %s: %s: %s", spec.slug, node, type(error).__name__, error
        )
        _end_task_run(spec, observer, perf_counter() - started, "FAILED")
        if isinstance(error, (TaskTerminated, KeyboardInterrupt)):
            return EXIT_TERMINATED
        return EXIT_FAILED
    _end_task_run(spec, observer, perf_counter() - started, "FINISHED")
    logger.info("Task %s completed in %.2f s", spec.slug, perf_counter() - started)
    return 0


def _single_pending_node(spec: TaskSpec, observer: TaskObserver) -> str | None:
    """The node a failure outside any node's hooks belongs to, when there is only one
    candidate: the task's single node, or its one node that had not completed."""
    pending = [node for node in spec.nodes if node not in observer.completed_nodes]
    return pending[0] if len(pending) == 1 or len(spec.nodes) == 1 else None


def _open_mlflow_run(
    mlflow: Any, spec: TaskSpec, project_path: Path, own_interpreter: bool = False
) -> None:
    """Make the task's MLflow run the active run, so that node code, kedro-mlflow datasets
    and kedro-mlflow's hook all log into it: the run the orchestrator created, or, without
    an orchestrator, a new child of the parent run named in ``parent_run_file``.

    In a forked task the experiment is set even when the run is known: it inherits the
    fork server's active experiment, and MLflow refuses to resume a run of another one.
    A task in its own interpreter has no active experiment, only ``MLFLOW_EXPERIMENT_ID``:
    a request less before it starts. Where the task ran is logged with its results
    (:func:`_end_mlflow_run`), for the same reason."""
    from kedro_scanflow.tracking.workflow_tracker import task_run_tags  # noqa: PLC0415

    tracking = spec.tracking
    assert tracking is not None
    os.environ["MLFLOW_TRACKING_URI"] = tracking.uri
    mlflow.set_tracking_uri(tracking.uri)
    if tracking.experiment_id is not None:
        os.environ["MLFLOW_EXPERIMENT_ID"] = tracking.experiment_id
        if not (own_interpreter and tracking.run_id is not None):
            mlflow.set_experiment(experiment_id=tracking.experiment_id)
    else:
        mlflow.set_experiment(tracking.experiment)
    if tracking.run_id is not None:
        mlflow.start_run(run_id=tracking.run_id)
    else:
        parent = tracking.parent_run_id
        if parent is None and tracking.parent_run_file:
            from kedro_scanflow.tasks.compose_workflow import read_parent_run_id  # noqa: PLC0415

            parent = read_parent_run_id(project_path / tracking.parent_run_file)
        mlflow.start_run(
            run_name=spec.name,
            tags=task_run_tags(
                spec.slug, spec.name, spec.nodes, parent, {"scanflow.run_id": spec.run_id}
            ),
        )


def _open_run_on_demand(spec: TaskSpec) -> None:
    """Point MLflow at the task's run without loading it: whatever imports MLflow in this
    process finds the run active (:func:`~kedro_scanflow.tasks.mlflow_on_demand.open_run_on_import`)."""
    from kedro_scanflow.tasks.mlflow_on_demand import open_run_on_import  # noqa: PLC0415

    tracking = spec.tracking
    assert tracking is not None and tracking.run_id is not None
    os.environ["MLFLOW_TRACKING_URI"] = tracking.uri
    if tracking.experiment_id is not None:
        os.environ["MLFLOW_EXPERIMENT_ID"] = tracking.experiment_id
    open_run_on_import(tracking.run_id)


def _end_task_run(spec: TaskSpec, observer: TaskObserver, duration: float, status: str) -> None:
    """End the task's run with what the observer collected: through MLflow when this
    process loaded it, else over MLflow's REST API (a task with MLflow on demand whose
    nodes never imported it)."""
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None:
        _end_mlflow_run(mlflow, observer, duration, status)
    elif spec.tracking is not None and spec.tracking.run_id is not None:
        _end_run_over_rest(spec.tracking.uri, spec.tracking.run_id, observer, duration, status)


def _end_run_over_rest(
    uri: str, run_id: str, observer: TaskObserver, duration: float, status: str
) -> None:
    """:func:`_end_mlflow_run` for a process without MLflow: one batch, then the status."""
    from kedro_scanflow.tracking.rest_run_log import RestRunLog  # noqa: PLC0415
    from kedro_scanflow.tracking.run_tags import process_identity  # noqa: PLC0415

    metrics = [("task_duration_s", duration, 0)] + [
        ("node_duration_s", seconds, step)
        for step, (_, seconds) in enumerate(observer.node_durations)
    ]
    run_log = RestRunLog(uri)
    try:
        run_log.log_batch(run_id, metrics, observer.params, process_identity())
    finally:
        run_log.end_run(run_id, status)


def _end_mlflow_run(mlflow: Any, observer: TaskObserver, duration: float, status: str) -> None:
    """Write what the observer collected and where the task ran (pid, host, container) in
    one batch, then end the run with ``status``.

    Parameters kedro-mlflow's hook may also have logged are safe to send again: MLflow
    accepts a parameter logged twice with the same value, and kedro-mlflow names
    nested parameters differently (unflattened).

    kedro-mlflow's hook opens the task's run again before every node, so MLflow's stack of
    active runs holds it more than once. Every entry ends here with ``status``: one left
    over would be ended by MLflow at interpreter exit, as FINISHED, even after a failure.
    """
    from mlflow.entities import Metric, Param, RunTag  # noqa: PLC0415

    from kedro_scanflow.tracking.run_tags import process_identity  # noqa: PLC0415

    active = mlflow.active_run()
    if active is None:
        return
    now = int(time.time() * 1000)
    metrics = [Metric("task_duration_s", duration, now, 0)] + [
        Metric("node_duration_s", seconds, now, step)
        for step, (_, seconds) in enumerate(observer.node_durations)
    ]
    params = [Param(key, value) for key, value in observer.params.items()]
    tags = [RunTag(key, value) for key, value in process_identity().items()]
    try:
        mlflow.MlflowClient().log_batch(
            active.info.run_id, metrics=metrics, params=params, tags=tags
        )
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run(status)
