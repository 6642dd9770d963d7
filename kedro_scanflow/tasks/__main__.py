"""Command line of a task process: ``python -m kedro_scanflow.tasks --spec PATH``.

This is the command a spawned local process, a container or a pod runs. It bootstraps
the Kedro project (the current directory unless ``--project-path`` says otherwise), runs
the task described by the spec file and exits with the task's exit code.

With ``--mlflow-on-demand`` it loads MLflow only if the task uses it (see
:mod:`~kedro_scanflow.tasks.mlflow_on_demand`).

With ``--await-spec`` the process starts before its task is due: it imports the
``--preload`` modules and warms a Kedro session up, then waits for the orchestrator to
write the spec file, so the task starts the moment its inputs are ready.

A Kubernetes pod gets its spec from an environment variable (``--spec-env``): the
orchestrator, outside the cluster, cannot write onto the pod's volume. It reports a
failure through its termination message too (``--termination-log``).
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kedro_scanflow.tasks.task_spec import TaskSpec


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the task and return its exit code."""
    parser = argparse.ArgumentParser(prog="python -m kedro_scanflow.tasks")
    parser.add_argument("--spec", type=Path, default=None, help="TaskSpec JSON file.")
    parser.add_argument(
        "--spec-env", default=None, help="Environment variable holding the TaskSpec JSON."
    )
    parser.add_argument(
        "--termination-log", type=Path, default=None, help="Write a failure here too (pods)."
    )
    parser.add_argument(
        "--success-marker", type=Path, default=None, help="File written when the task succeeds."
    )
    parser.add_argument("--project-path", type=Path, default=Path.cwd())
    parser.add_argument(
        "--await-spec", action="store_true", help="Warm up, then wait for the spec file."
    )
    parser.add_argument("--preload", default="", help="Comma-separated modules to import first.")
    parser.add_argument(
        "--mlflow-on-demand",
        action="store_true",
        help="Load MLflow only if the task uses it; log the task's run over its REST API.",
    )
    args = parser.parse_args(argv)
    # First of all exit handlers: it ends the process after all the others (see ProcessEnd).
    from kedro_scanflow.tasks.process_end import ProcessEnd  # noqa: PLC0415

    process_end = ProcessEnd()
    process_end.arm()
    if (args.spec is None) == (args.spec_env is None):
        parser.error("give either --spec PATH or --spec-env VARIABLE")
    if args.spec_env is not None and args.await_spec:
        parser.error("--await-spec waits for a spec file: it needs --spec PATH")

    from kedro_scanflow.heap_freeze import collection_paused  # noqa: PLC0415
    from kedro_scanflow.tasks.task_logging import (  # noqa: PLC0415
        plain_logging_unless_configured,
        quiet_repeated_warnings,
    )

    plain_logging_unless_configured()  # before Kedro's settings are imported
    quiet_repeated_warnings()  # before the plugins' hooks are imported

    # Kedro, MLflow and the project load with garbage collection paused, and what they
    # loaded is frozen: about a fifth of the start-up CPU (see collection_paused).
    with collection_paused():
        project_path = args.project_path.resolve()
        _bootstrap_project(project_path)
        from kedro_scanflow.tasks.plugin_hooks import (  # noqa: PLC0415
            KEDRO_MLFLOW,
            KEDRO_TELEMETRY,
            skip_plugin_hooks,
        )

        # Before the first Kedro session:
        skip_plugin_hooks([KEDRO_TELEMETRY, *([KEDRO_MLFLOW] if args.mlflow_on_demand else [])])
        from kedro_scanflow.tasks.task_process import (  # noqa: PLC0415
            install_termination_handler,
            run_task,
        )
        from kedro_scanflow.tasks.termination_message import report_outcome  # noqa: PLC0415

        install_termination_handler()
        spec = _task_spec(args, project_path)
    exit_code = run_task(
        spec, project_path, own_interpreter=True, mlflow_on_demand=args.mlflow_on_demand
    )
    report_outcome(spec, project_path, exit_code, args.termination_log, args.success_marker)
    # The interpreter's final garbage collection walks every object of MLflow, pandas and
    # the project (about 0.4 s per task, paid on the critical path of a chain). Frozen
    # objects are left alone; exit handlers and log flushing still run as usual.
    gc.freeze()
    # Reported: the interpreter's teardown would only deallocate what the task loaded.
    process_end.after_report(exit_code)
    return exit_code


def _bootstrap_project(project_path: Path) -> None:
    """Bootstrap the Kedro project, before MLflow and the task modules are imported.

    Bootstrapping loads the project's settings with dynaconf, which looks for settings
    files named after environments and, for each it does not find, walks the call stack
    and every loaded module (``inspect.stack``). With few modules loaded yet, that walk
    costs about 0.015 CPU-s instead of 0.07 to 0.09 after MLflow's 2,000 modules.

    dynaconf's package imports its Flask extension, which imports Flask (installed with
    MLflow's server) when it can: Flask is hidden while Kedro imports dynaconf, about
    0.05 CPU-s a task never needs. The project's settings load afterwards, with Flask
    importable as usual.
    """
    hide_flask = "flask" not in sys.modules
    if hide_flask:
        sys.modules["flask"] = None  # type: ignore[assignment] - "not installed" to imports
    try:
        from kedro.framework.startup import bootstrap_project  # noqa: PLC0415
    finally:
        if hide_flask and sys.modules.get("flask", "") is None:
            del sys.modules["flask"]
    bootstrap_project(project_path)


def _task_spec(args: argparse.Namespace, project_path: Path) -> TaskSpec:
    """The task's spec: from the environment, or from its file (warming up first and
    waiting for the file with --await-spec)."""
    from kedro_scanflow.tasks.task_spec import TaskSpec  # noqa: PLC0415
    from kedro_scanflow.tasks.termination_message import spec_from_environment  # noqa: PLC0415
    from kedro_scanflow.tasks.warm_up import await_file, warm_up  # noqa: PLC0415

    if args.spec_env is not None:
        return spec_from_environment(args.spec_env)
    spec_path = args.spec if args.spec.is_absolute() else project_path / args.spec
    if args.await_spec:
        warm_up(project_path, [m for m in args.preload.split(",") if m])
        await_file(spec_path)
    return TaskSpec.load(spec_path)


if __name__ == "__main__":
    sys.exit(main())
