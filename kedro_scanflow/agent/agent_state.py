"""``AgentState``: what the agent has processed, saved after every step.

The agent's memory is one JSON file, ``<agent.directory>/state.json``, replaced
atomically after every step: the cursor (the last prediction record that a finished
cycle covered) and the cycle in progress, with the ids of its two Kedro runs. A
restarted agent reads it and carries on where the last one stopped: it resumes the
cycle's runs (finished tasks are not run again) instead of starting over, and it never
covers a prediction twice.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from kedro_scanflow.runs.run_directory import new_run_id, utc_now, write_json_atomic

HISTORY_LENGTH = 200
"""Finished cycles kept in the state file (MLflow keeps every run)."""


class CycleStage(str, Enum):
    """Where a cycle is: its check run, then its improve run."""

    CHECK = "check"
    IMPROVE = "improve"
    DONE = "done"


class AgentCycle(BaseModel):
    """One pass of Algorithm 1 over the predictions with ids in ``(after, until]``."""

    model_config = ConfigDict(extra="ignore")

    number: int
    after: int
    until: int
    check_run: str
    improve_run: str
    stage: CycleStage = CycleStage.CHECK
    started_at: str = Field(default_factory=utc_now)
    ended_at: str | None = None
    critical: int | None = Field(default=None, description="Critical points the check found.")
    failures: int = Field(default=0, description="Failed attempts of the current stage.")
    waiting_for: list[str] = Field(default_factory=list, description="Labeling tasks awaited.")
    outcome: str | None = None
    promoted_version: str | None = None

    @classmethod
    def start(cls, number: int, after: int, until: int) -> AgentCycle:
        """A new cycle with fresh, sortable run ids for its two runs."""
        base = f"{new_run_id()}-agent{number}"
        return cls(
            number=number,
            after=after,
            until=until,
            check_run=f"{base}-check",
            improve_run=f"{base}-improve",
        )

    @property
    def size(self) -> int:
        return self.until - self.after


class AgentState(BaseModel):
    """The agent's memory: the cursor, the cycle in progress, the latest finished ones."""

    model_config = ConfigDict(extra="ignore")

    cursor: int = Field(default=0, description="Last prediction id a finished cycle covered.")
    cycle: AgentCycle | None = None
    history: list[AgentCycle] = Field(default_factory=list)

    @property
    def cycles_done(self) -> int:
        return self.history[-1].number if self.history else 0

    @classmethod
    def load(cls, path: Path) -> AgentState:
        """The state saved at ``path``, or a fresh one.

        Raises:
            ValueError: When the file exists but is not a state file (naming the file).
        """
        if not path.is_file():
            return cls()
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise ValueError(f"{path} is not a valid agent state file: {error}") from None

    def save(self, path: Path) -> None:
        """Replace the file at ``path`` atomically."""
        write_json_atomic(path, self.model_dump(mode="json"))

    def finish(self, outcome: str, promoted_version: str | None = None) -> AgentCycle:
        """Close the cycle in progress: move the cursor past it and keep it in history."""
        if self.cycle is None:
            raise RuntimeError("No cycle in progress.")
        cycle = self.cycle.model_copy(
            update={
                "stage": CycleStage.DONE,
                "ended_at": utc_now(),
                "outcome": outcome,
                "promoted_version": promoted_version,
                "waiting_for": [],
            }
        )
        self.history = [*self.history, cycle][-HISTORY_LENGTH:]
        self.cursor = cycle.until
        self.cycle = None
        return cycle
