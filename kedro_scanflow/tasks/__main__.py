"""Command line of a task process: ``python -m kedro_scanflow.tasks --spec PATH``.

This is the command a spawned local process, a container or a pod runs. It bootstraps
the Kedro project (the current directory unless ``--project-path`` says otherwise), runs
the task described by the spec file and exits with the task's exit code.

With ``--await-spec`` the process starts before its task is due: it imports the
``--preload`` modules and warms a Kedro session up, then waits for the orchestrator to
write the spec file, so the task starts the moment its inputs are ready.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the task and return its exit code."""
    parser = argparse.ArgumentParser(prog="python -m kedro_scanflow.tasks")
    parser.add_argument("--spec", required=True, type=Path, help="TaskSpec JSON file.")
    parser.add_argument("--project-path", type=Path, default=Path.cwd())
    parser.add_argument(
        "--await-spec", action="store_true", help="Warm up, then wait for the spec file."
    )
    parser.add_argument("--preload", default="", help="Comma-separated modules to import first.")
    args = parser.parse_args(argv)

    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    from kedro_scanflow.tasks.task_process import (  # noqa: PLC0415
        install_termination_handler,
        run_task,
    )
    from kedro_scanflow.tasks.task_spec import TaskSpec  # noqa: PLC0415
    from kedro_scanflow.tasks.warm_up import await_file, warm_up  # noqa: PLC0415

    install_termination_handler()
    project_path = args.project_path.resolve()
    spec_path = args.spec if args.spec.is_absolute() else project_path / args.spec
    bootstrap_project(project_path)
    if args.await_spec:
        warm_up(project_path, [m for m in args.preload.split(",") if m])
        await_file(spec_path)
    return run_task(TaskSpec.load(spec_path), project_path)


if __name__ == "__main__":
    sys.exit(main())
