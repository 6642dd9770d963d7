"""``RunDirectory``: the on-disk state of one workflow run, on the shared volume.

Layout of ``<runs directory>/<run id>/``::

    run.json            the RunRequest and the MLflow parent runs of each attempt
    tasks/<slug>.json   TaskState of every task (written by the orchestrator only)
    tasks/<slug>.spec.json     what the task process needs to run the task
    tasks/<slug>.failure.json  the failing node and error, written by the task process
    volume/             in-memory intermediates persisted between tasks
    logs/<slug>.log     everything the task printed

Every write is atomic (temporary file then rename), so a run killed at any moment
leaves a directory that ``--resume`` can trust.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kedro_scanflow.runs.run_request import RunRequest


class TaskStatus(str, Enum):
    """Where a task is in its life."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    """Not started because an upstream task failed or the run was stopped."""


class TaskState(BaseModel):
    """The orchestrator's record of one task."""

    model_config = ConfigDict(extra="ignore")

    slug: str
    name: str
    nodes: list[str]
    status: TaskStatus = TaskStatus.PENDING
    attempts: int = 0
    handle: str | None = Field(default=None, description="pid, container id or pod name")
    exit_code: int | None = None
    reason: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    duration_s: float | None = None
    mlflow_run_id: str | None = None


class TaskFailure(BaseModel):
    """What the task process reports about the node that failed."""

    node: str | None
    error_type: str
    message: str
    traceback: str = ""


class WorkflowAttempt(BaseModel):
    """One execution of the run: the first one, then one per ``--resume``."""

    mlflow_run_id: str | None = None
    backend: str
    started_at: str
    ended_at: str | None = None
    status: str = "running"


class RunRecord(BaseModel):
    """``run.json``."""

    run_id: str
    created_at: str
    request: RunRequest
    attempts: list[WorkflowAttempt] = Field(default_factory=list)


def utc_now() -> str:
    """The current time as an ISO-8601 UTC string."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def new_run_id() -> str:
    """A sortable, unique run id such as ``20261122-101530-3fa9``."""
    return f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def default_file_mode() -> int:
    """The mode ``open()`` would give a new file (0o666 minus the umask); ``mkstemp`` uses
    0o600, which would hide files from the other users of a shared volume (a container's
    unprivileged user reading what the orchestrator wrote)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write ``payload`` as JSON to ``path`` so that readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.chmod(temporary, default_file_mode())
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(payload, stream, indent=2, sort_keys=True, default=str)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def success_marker_name(slug: str) -> str:
    """File name of the marker a task writes in the run's ``tasks/`` folder on success."""
    return f"{slug}.succeeded"


class RunDirectory:
    """Reads and writes the state of one run under ``<runs directory>/<run id>``."""

    def __init__(self, root: Path):
        """Wrap an existing or future run directory ``root``."""
        self.root = root

    @property
    def run_id(self) -> str:
        return self.root.name

    @property
    def volume(self) -> Path:
        """Where in-memory intermediates are persisted between tasks."""
        return self.root / "volume"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def lock_path(self) -> Path:
        """Held by the process executing the run (see :func:`exclusive_lock`)."""
        return self.root / ".lock"

    @property
    def tasks(self) -> Path:
        return self.root / "tasks"

    @classmethod
    def create(
        cls, runs_root: Path, request: RunRequest, run_id: str | None = None
    ) -> RunDirectory:
        """Make a new run directory and save ``request`` in it."""
        run = cls(runs_root / (run_id or new_run_id()))
        for folder in (run.volume, run.logs, run.tasks):
            folder.mkdir(parents=True, exist_ok=False)
        run.save_record(RunRecord(run_id=run.run_id, created_at=utc_now(), request=request))
        return run

    @classmethod
    def open(cls, runs_root: Path, run_id: str) -> RunDirectory:
        """Open an existing run; ``run_id`` may be ``latest``.

        Raises:
            FileNotFoundError: When no such run exists; the message lists recent runs.
        """
        if run_id == "latest":
            runs = cls.list(runs_root)
            if not runs:
                raise FileNotFoundError(f"There is no run to resume in {runs_root}.")
            return runs[-1]
        run = cls(runs_root / run_id)
        if not (run.root / "run.json").is_file():
            known = ", ".join(r.run_id for r in cls.list(runs_root)[-5:]) or "none"
            raise FileNotFoundError(f"No run '{run_id}' in {runs_root} (recent runs: {known}).")
        return run

    @classmethod
    def list(cls, runs_root: Path) -> list[RunDirectory]:
        """Every run under ``runs_root``, oldest first."""
        if not runs_root.is_dir():
            return []
        return [cls(path) for path in sorted(runs_root.iterdir()) if (path / "run.json").is_file()]

    def record(self) -> RunRecord:
        return RunRecord.model_validate_json((self.root / "run.json").read_text(encoding="utf-8"))

    def save_record(self, record: RunRecord) -> None:
        write_json_atomic(self.root / "run.json", record.model_dump(mode="json"))

    def state_path(self, slug: str) -> Path:
        return self.tasks / f"{slug}.json"

    def spec_path(self, slug: str) -> Path:
        return self.tasks / f"{slug}.spec.json"

    def failure_path(self, slug: str) -> Path:
        return self.tasks / f"{slug}.failure.json"

    def success_marker_path(self, slug: str) -> Path:
        """Written by the task process once its task succeeded, before it exits (see
        ``--success-marker``)."""
        return self.tasks / success_marker_name(slug)

    def log_path(self, slug: str) -> Path:
        return self.logs / f"{slug}.log"

    def task_state(self, slug: str) -> TaskState | None:
        path = self.state_path(slug)
        if not path.is_file():
            return None
        return TaskState.model_validate_json(path.read_text(encoding="utf-8"))

    def save_task_state(self, state: TaskState) -> None:
        write_json_atomic(self.state_path(state.slug), state.model_dump(mode="json"))

    def task_failure(self, slug: str) -> TaskFailure | None:
        path = self.failure_path(slug)
        if not path.is_file():
            return None
        try:
            return TaskFailure.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError:
            return None

    def save_task_failure(self, slug: str, failure: TaskFailure) -> None:
        write_json_atomic(self.failure_path(slug), failure.model_dump(mode="json"))

    def log_tail(self, slug: str, lines: int = 20) -> str:
        """The last ``lines`` lines the task printed."""
        path = self.log_path(slug)
        if not path.is_file():
            return ""
        with path.open("rb") as stream:
            stream.seek(0, os.SEEK_END)
            size = stream.tell()
            stream.seek(max(0, size - 64 * 1024))
            text = stream.read().decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])
