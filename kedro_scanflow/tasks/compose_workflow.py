"""Parent MLflow run of a workflow that runs without an orchestrator (an exported compose
file): ``python -m kedro_scanflow.tasks.compose_workflow start|finish``.

``start`` creates the parent run and writes its id (JSON) on the shared volume, which
every task reads to create its own child run; ``finish`` ends the parent run once every
task has completed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kedro_scanflow.runs.run_directory import write_json_atomic


def read_parent_run_id(path: Path) -> str:
    """The parent run id that ``start`` wrote to ``path``."""
    return str(json.loads(path.read_text(encoding="utf-8"))["parent_run_id"])


def main(argv: list[str] | None = None) -> int:
    """Create or end the parent run; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m kedro_scanflow.tasks.compose_workflow")
    parser.add_argument("action", choices=["start", "finish"])
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--run-id", required=True, help="The Scanflow run id.")
    parser.add_argument("--pipelines", default="__default__")
    parser.add_argument("--parent-run-file", required=True, type=Path)
    args = parser.parse_args(argv)

    from kedro_scanflow.tracking.run_tags import (  # noqa: PLC0415
        TAG_BACKEND,
        TAG_PIPELINES,
        TAG_RUN_ID,
    )
    from kedro_scanflow.tracking.tracking_uri import TrackingTarget  # noqa: PLC0415
    from kedro_scanflow.tracking.workflow_tracker import WorkflowTracker  # noqa: PLC0415

    tracker = WorkflowTracker(TrackingTarget(args.tracking_uri, args.experiment, None, "compose"))
    if args.action == "start":
        parent = tracker.start_workflow(
            f"{args.pipelines} {args.run_id}",
            {TAG_RUN_ID: args.run_id, TAG_PIPELINES: args.pipelines, TAG_BACKEND: "compose"},
        )
        write_json_atomic(args.parent_run_file, {"parent_run_id": parent})
        return 0
    tracker.parent_run_id = read_parent_run_id(args.parent_run_file)
    tracker.end_workflow(succeeded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
