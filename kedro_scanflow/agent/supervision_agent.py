"""``SupervisionAgent``: the long-running loop of ``kedro scanflow agent``.

Algorithm 1 of the Scanflow agent paper, on the predictions that ``kedro scanflow
serve`` records:

1. wait until at least N new predictions are recorded (``agent.min_new_predictions``);
2. write them as the cycle's batch and run the **check** step (drift detector, critical
   point selector) as a Kedro run of the agent pipeline on the configured backend;
3. with fewer than M critical points (``agent.min_critical``) the cycle ends there;
4. otherwise run the **improve** step: the human labels the critical points (``kedro
   scanflow label``; or the simulated oracle, in demos), the improvers retrain, and the
   planner promotes the candidate when it beats the champion (q' > q). While labels are
   pending the run stops with ``LabelsPending``; the agent waits for the answers, then
   resumes the same run.

Every step is tracked in MLflow like any ``kedro scanflow run``. After each step the
agent saves its state (:class:`~kedro_scanflow.agent.agent_state.AgentState`); a
restarted agent resumes the runs of the cycle in progress, whose finished tasks are not
run again, and the planner reuses the version a killed run registered, so a restart
neither loses labels nor registers a model twice. One agent at a time works on a
project: it holds a lock on ``<agent.directory>/agent.lock``.
"""

from __future__ import annotations

import logging
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.framework.session import KedroSession

from kedro_scanflow.agent.agent_pipeline import AgentPipeline, agent_pipelines_of
from kedro_scanflow.agent.agent_state import AgentCycle, AgentState, CycleStage
from kedro_scanflow.backends import BackendError
from kedro_scanflow.config.supervision_config import DriftDetectorOptions, RandomSelectorOptions
from kedro_scanflow.human import LabelStore
from kedro_scanflow.io import NpzImageDataset
from kedro_scanflow.runs.process_lock import LockHeld, exclusive_lock
from kedro_scanflow.runs.run_directory import RunDirectory
from kedro_scanflow.runs.run_request import RunRequest
from kedro_scanflow.runs.workflow_run import WorkflowError, run_workflow
from kedro_scanflow.serving.prediction_store import PredictionStore
from kedro_scanflow.supervision.supervised_pipelines import special_nodes_of

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from rich.console import Console

    from kedro_scanflow.config import ScanflowConfig
    from kedro_scanflow.runs.workflow_run import WorkflowResult

logger = logging.getLogger(__name__)

LABELS_PENDING = "LabelsPending"


class AgentError(RuntimeError):
    """The agent cannot work on this project (configuration, another agent running)."""


@dataclass(frozen=True)
class StepOutcome:
    """How one step's Kedro run ended."""

    succeeded: bool
    labels_pending: bool = False
    interrupted: bool = False
    error: str | None = None


class SupervisionAgent:
    """Runs Algorithm 1 over the prediction store of one project until stopped."""

    def __init__(
        self,
        project_path: Path,
        package_name: str,
        config: ScanflowConfig,
        console: Console,
        env: str | None = None,
        backend: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        """Prepare the agent of the project at ``project_path``.

        Raises:
            AgentError: When ``scanflow.yml`` gives the agent nothing to run.
        """
        self.project_path = project_path
        self.package_name = package_name
        self.config = config
        self.options = config.agent
        self.console = console
        self.env = env
        self.backend = backend or self.options.backend
        self._sleep = sleep
        self.supervised, self.agent = self._agent_pipeline()
        self.folder = project_path / self.options.directory
        self.state_path = self.folder / "state.json"
        self.predictions = PredictionStore(project_path / config.serve.store)
        self._check_thresholds()

    # --- configuration ----------------------------------------------------------------

    def _agent_pipeline(self) -> tuple[str, AgentPipeline]:
        agents = agent_pipelines_of(special_nodes_of(self.config), self.options.directory)
        by_supervised = {agent.special.pipeline_name: agent for agent in agents.values()}
        wanted = self.options.pipeline
        if wanted is None:
            if len(by_supervised) != 1:
                names = ", ".join(sorted(by_supervised)) or "none"
                raise AgentError(
                    "scanflow.yml: set agent.pipeline to the supervised pipeline the agent "
                    f"watches (pipelines with a selector checker and a planner: {names})."
                )
            wanted = next(iter(by_supervised))
        if wanted not in by_supervised:
            if wanted in self.config.supervision:
                reason = (
                    "needs a drift_detector or random_selector checker (the critical points a "
                    "cycle acts on) and a planner (which promotes the better model)"
                )
            else:
                reason = "is not in the supervision section"
            raise AgentError(f"scanflow.yml: agent.pipeline {wanted!r} {reason}.")
        return wanted, by_supervised[wanted]

    def _check_thresholds(self) -> None:
        selectors = [
            checker
            for checker in self.agent.special.options.checkers
            if isinstance(checker, DriftDetectorOptions | RandomSelectorOptions)
        ]
        n_critical = selectors[0].n_critical
        if self.options.min_new_predictions < n_critical:
            raise AgentError(
                f"scanflow.yml: agent.min_new_predictions ({self.options.min_new_predictions}) "
                f"is below the {selectors[0].kind} checker's n_critical ({n_critical}) of "
                f"supervision.{self.supervised}: a cycle could never pick that many points."
            )

    # --- the loop ---------------------------------------------------------------------

    def run(self, max_cycles: int | None = None, until_idle: bool = False) -> AgentState:
        """Work until stopped (Ctrl-C, SIGTERM), after ``max_cycles`` finished cycles, or,
        with ``until_idle``, as soon as there is nothing to do but wait.

        Returns:
            The saved state.
        """
        finished = 0
        with self._lock():
            while True:
                state = AgentState.load(self.state_path)
                progressed = self.step(state)
                if state.cycle is None and progressed:
                    finished += 1
                    if max_cycles is not None and finished >= max_cycles:
                        return state
                if not progressed:
                    if until_idle:
                        return state
                    self._sleep(self.options.poll_seconds)

    def step(self, state: AgentState) -> bool:
        """Make one step of progress and save the state; ``False`` when there was nothing
        to do but wait (too few predictions, labels pending, a retry to wait for)."""
        if state.cycle is None:
            return self._start_cycle(state)
        if state.cycle.stage is CycleStage.CHECK:
            return self._check(state)
        return self._improve(state)

    def _start_cycle(self, state: AgentState) -> bool:
        new = self.predictions.count(after=state.cursor)
        if new < self.options.min_new_predictions:
            logger.debug(
                "%d new predictions, waiting for %d", new, self.options.min_new_predictions
            )
            return False
        until = self.predictions.last_id()
        cycle = AgentCycle.start(state.cycles_done + 1, state.cursor, until)
        shutil.rmtree(self.project_path / self.agent.cycle_folder, ignore_errors=True)
        self._write_batch(cycle)
        state.cycle = cycle
        state.save(self.state_path)
        self.console.print(
            f"[bold]Agent cycle {cycle.number}[/]: {cycle.size} new predictions "
            f"(records {cycle.after + 1}..{cycle.until}); checking them."
        )
        return True

    def _write_batch(self, cycle: AgentCycle) -> None:
        batch = self.predictions.batch(cycle.after, cycle.until)
        NpzImageDataset(filepath=str(self.project_path / self.agent.batch_path())).save(
            batch.images
        )

    def _check(self, state: AgentState) -> bool:
        cycle = state.cycle
        assert cycle is not None
        if not (self.project_path / self.agent.batch_path()).is_file():
            self._write_batch(cycle)  # a restart after the folder was cleared: same records
        outcome = self._run_step(cycle.check_run, self.agent.check_nodes())
        if not outcome.succeeded:
            return self._failed(state, "check", outcome)
        critical = len(self._load(self.agent.dataset("critical_points")))
        if critical < self.options.min_critical:
            done = state.finish(
                f"{critical} critical points, fewer than {self.options.min_critical}: nothing to label"
            )
            state.save(self.state_path)
            self.console.print(f"Agent cycle {done.number}: {done.outcome}.")
            return True
        state.cycle = cycle.model_copy(
            update={"stage": CycleStage.IMPROVE, "critical": critical, "failures": 0}
        )
        state.save(self.state_path)
        self.console.print(
            f"Agent cycle {cycle.number}: {critical} critical points; asking for labels, then improving."
        )
        return True

    def _improve(self, state: AgentState) -> bool:
        cycle = state.cycle
        assert cycle is not None
        if cycle.waiting_for and self._pending(cycle):
            return False
        outcome = self._run_step(cycle.improve_run, self.agent.improve_nodes())
        if outcome.labels_pending:
            waiting = self._labeling_tasks(cycle.improve_run)
            state.cycle = cycle.model_copy(update={"waiting_for": waiting})
            state.save(self.state_path)
            if not cycle.waiting_for:
                self.console.print(
                    f"Agent cycle {cycle.number}: waiting for labels in {', '.join(waiting)}; "
                    "answer them with `kedro scanflow label`."
                )
            return False
        if not outcome.succeeded:
            return self._failed(state, "improve", outcome)
        decision = self._load(self.agent.dataset("promotion"))
        if decision.get("promoted"):
            text = f"promoted {decision['model_name']} version {decision['version']} to @{decision['alias']}"
            version = str(decision["version"])
        else:
            text, version = (
                f"nothing promoted: {decision.get('reason', 'no better candidate')}",
                None,
            )
        done = state.finish(text, version)
        state.save(self.state_path)
        self.console.print(f"[bold]Agent cycle {done.number}[/]: {text}.")
        return True

    def _failed(self, state: AgentState, step: str, outcome: StepOutcome) -> bool:
        cycle = state.cycle
        assert cycle is not None
        if outcome.interrupted:
            raise KeyboardInterrupt(
                f"agent interrupted during the {step} step of cycle {cycle.number}"
            )
        failures = cycle.failures + 1
        if failures >= self.options.max_attempts:
            done = state.finish(
                f"failed: the {step} step failed {failures} times ({outcome.error})"
            )
            state.save(self.state_path)
            run = cycle.check_run if step == "check" else cycle.improve_run
            self.console.print(
                f"[bold red]Agent cycle {done.number} abandoned[/]: {done.outcome}. Its runs are "
                f"kept: inspect them with `kedro scanflow runs {run}`."
            )
            return True
        state.cycle = cycle.model_copy(update={"failures": failures})
        state.save(self.state_path)
        delay = self.options.poll_seconds * 2 ** (failures - 1)
        self.console.print(
            f"[yellow]Agent cycle {cycle.number}: the {step} step failed ({outcome.error}); "
            f"attempt {failures + 1} of {self.options.max_attempts} in {delay:.0f} s.[/]"
        )
        self._sleep(delay)
        return True

    # --- steps as Kedro runs ----------------------------------------------------------

    def _run_step(self, run_id: str, nodes: list[str]) -> StepOutcome:
        """Run (or resume) the step's run ``run_id`` on the configured backend."""
        runs_root = self.project_path / self.config.run.directory
        existing = runs_root / run_id / "run.json"
        try:
            if existing.is_file():
                record = RunDirectory(runs_root / run_id).record()
                if record.attempts and record.attempts[-1].status == "succeeded":
                    return StepOutcome(succeeded=True)
                result = run_workflow(
                    self.project_path,
                    self.package_name,
                    record.request,
                    self.console,
                    resume=run_id,
                )
            else:
                request = RunRequest(
                    pipelines=[self.agent.name],
                    node_names=nodes,
                    env=self.env,
                    backend=self.backend,
                )
                result = run_workflow(
                    self.project_path, self.package_name, request, self.console, run_id=run_id
                )
        except (WorkflowError, BackendError) as error:  # e.g. a tracker or engine that is down
            return StepOutcome(succeeded=False, error=f"{type(error).__name__}: {error}")
        return _step_outcome(result)

    def _load(self, dataset: str) -> Any:
        """Load ``dataset`` through the project's catalog (it may override the default)."""
        kedro_logger = logging.getLogger("kedro")
        level = kedro_logger.level
        kedro_logger.setLevel(logging.WARNING)  # the agent's own reads are not the run's story
        try:
            with KedroSession.create(self.project_path, env=self.env) as session:
                return session.load_context().catalog.load(dataset)
        finally:
            kedro_logger.setLevel(level)

    def _stores(self) -> list[LabelStore]:
        paths = {
            getattr(checker, "store", None) for checker in self.agent.special.options.checkers
        } - {None}
        return [LabelStore(self.project_path / path) for path in sorted(paths)]

    def _labeling_tasks(self, run_id: str) -> list[str]:
        """The labeling tasks the improve run ``run_id`` opened (named after the run)."""
        return [
            name
            for store in self._stores()
            for name in store.tasks()
            if name.startswith(f"{run_id}-")
        ]

    def _pending(self, cycle: AgentCycle) -> bool:
        """Whether an awaited labeling task still has unanswered items."""
        for store in self._stores():
            for name in cycle.waiting_for:
                if name in store.tasks() and store.progress(name).pending > 0:
                    return True
        return False

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)

        def waiting(holder: int) -> None:
            self.console.print(
                f"Waiting for the processes of the stopped agent (process {holder}) to end.",
                highlight=False,
            )

        try:
            with exclusive_lock(self.folder / "agent.lock", on_wait=waiting):
                yield
        except LockHeld as held:
            raise AgentError(f"Another agent is working on this project ({held}).") from None


def _step_outcome(result: WorkflowResult) -> StepOutcome:
    if result.succeeded:
        return StepOutcome(succeeded=True)
    failures = [result.run_directory.task_failure(failed.slug) for failed in result.outcome.failed]
    if any(failure is not None and failure.error_type == LABELS_PENDING for failure in failures):
        return StepOutcome(succeeded=False, labels_pending=True)
    errors = "; ".join(
        failed.error.splitlines()[0] for failed in result.outcome.failed if failed.error
    )
    return StepOutcome(
        succeeded=False,
        interrupted=result.outcome.interrupted,
        error=errors or ("interrupted" if result.outcome.interrupted else "cancelled"),
    )
