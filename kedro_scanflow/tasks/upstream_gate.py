"""Waiting for upstream tasks without an orchestrator: ``python -m kedro_scanflow.tasks.upstream_gate``.

An exported Kubernetes workflow applies every Job at once; Kubernetes has no notion of
one Job waiting for another. Each task's pod therefore starts with this gate (an init
container) that waits until every upstream task has written its success marker on the
shared volume, and fails as soon as one of them has written a failure instead: the
downstream task then never runs, as with the orchestrator.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

_POLL_S = 2.0


def wait_for_upstream(
    markers: list[Path], failures: list[Path], timeout: float | None = None, poll: float = _POLL_S
) -> str | None:
    """Wait until every file of ``markers`` exists.

    Returns:
        ``None`` when they all exist; a message when a file of ``failures`` appeared
        first, or ``timeout`` seconds passed.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        failed = [path for path in failures if path.exists()]
        if failed:
            return "upstream task(s) failed: " + ", ".join(
                path.name.removesuffix(".failure.json") for path in failed
            )
        if all(path.exists() for path in markers):
            return None
        if deadline is not None and time.monotonic() > deadline:
            missing = [path.name for path in markers if not path.exists()]
            return f"gave up waiting for {', '.join(missing)}"
        time.sleep(poll)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kedro_scanflow.tasks.upstream_gate")
    parser.add_argument("--run-directory", type=Path, required=True)
    parser.add_argument("--file", action="append", default=[], help="Also wait for this file.")
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("upstream", nargs="*", help="Slugs of the upstream tasks.")
    args = parser.parse_args(argv)
    tasks = args.run_directory / "tasks"
    markers = [tasks / f"{slug}.succeeded" for slug in args.upstream] + [
        Path(path) for path in args.file
    ]
    failures = [tasks / f"{slug}.failure.json" for slug in args.upstream]
    problem = wait_for_upstream(markers, failures, args.timeout)
    if problem is not None:
        print(f"not running: {problem}", file=sys.stderr)  # noqa: T201 - the pod's log
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
