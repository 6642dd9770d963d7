"""The agent's parts: its pipeline (the special nodes in the ``agent`` namespace, in two
steps), its memory, its refusals, and the planner that never registers a model twice."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest
from kedro.pipeline import node, pipeline
from rich.console import Console

from kedro_scanflow.agent.agent_pipeline import BATCH_DATASET, loadable_pipeline_names
from kedro_scanflow.agent.agent_state import AgentCycle, AgentState, CycleStage
from kedro_scanflow.agent.supervision_agent import AgentError, SupervisionAgent
from kedro_scanflow.config import ScanflowConfig
from kedro_scanflow.supervision import supervise_pipelines

INPUTS = {
    "new_data": "new_digits",
    "reference_data": "train_digits",
    "model": "champion",
    "holdout": "holdout_digits",
}
LOOP = {
    "inputs": INPUTS,
    "checkers": [{"kind": "drift_detector", "n_critical": 50}, {"kind": "human_labeler"}],
    "improvers": [{"kind": "model_trainer"}],
    "planner": {"model_name": "digits"},
}


def identity(x):
    return x


def _config(agent: dict | None = None, **supervision) -> ScanflowConfig:
    return ScanflowConfig.model_validate({"supervision": supervision, "agent": agent or {}})


@pytest.fixture
def pipelines():
    inference = pipeline([node(identity, "new_digits", "predictions", name="predict")])
    return {"inference": inference, "__default__": inference}


def test_the_agent_pipeline_is_the_special_nodes_on_the_recorded_batch(pipelines):
    supervised = supervise_pipelines(pipelines, _config(inference=LOOP))
    agent = supervised["inference.agent"]
    assert {n.name for n in agent.nodes} == {
        "agent.supervision.fit_drift_detector",
        "agent.supervision.score_drift",
        "agent.supervision.select_critical_points",
        "agent.supervision.request_labels",
        "agent.supervision.improve_with_model_trainer",
        "agent.supervision.plan_promotion",
        "agent.supervision.supervision_report",
    }
    assert agent.inputs() == {BATCH_DATASET, "train_digits", "champion", "holdout_digits"}, (
        "the agent reads the recorded batch instead of new_digits; model, reference and holdout are the project's"
    )
    assert "predict" not in {n.name for n in agent.nodes}, "the served model already predicted"
    planner = next(n for n in agent.nodes if n.name.endswith("plan_promotion"))
    assert "scanflow.planner" in planner.tags
    assert supervised["inference"].inputs() == {
        "new_digits",
        "train_digits",
        "champion",
        "holdout_digits",
    }, "the supervised pipeline itself is untouched"


def test_a_cycle_is_a_check_step_then_an_improve_step():
    from kedro_scanflow.agent.agent_pipeline import agent_pipelines_of
    from kedro_scanflow.supervision.supervised_pipelines import special_nodes_of

    [agent] = agent_pipelines_of(
        special_nodes_of(_config(inference=LOOP)), "data/scanflow/agent"
    ).values()
    assert agent.check_nodes() == [
        "agent.supervision.fit_drift_detector",
        "agent.supervision.score_drift",
        "agent.supervision.select_critical_points",
    ]
    assert agent.improve_nodes() == [
        "agent.supervision.improve_with_model_trainer",
        "agent.supervision.plan_promotion",
        "agent.supervision.request_labels",
        "agent.supervision.supervision_report",
    ]
    datasets = agent.datasets()
    assert datasets[BATCH_DATASET]["filepath"] == "data/scanflow/agent/cycle/new_data.npz"
    critical = datasets["agent.supervision.critical_points"]
    assert critical == {
        "type": "kedro_scanflow.io.SharedVolumeDataset",
        "filepath": "data/scanflow/agent/cycle/intermediate/supervision.critical_points.pickle",
    }, "what the check step passes to the improve step is a file: they are two runs"
    plot = datasets["agent.supervision.reconstruction_errors_plot"]
    assert plot["type"] == "kedro_mlflow.io.artifacts.MlflowArtifactDataset"
    assert (
        plot["dataset"]["filepath"]
        == "data/scanflow/agent/cycle/08_reporting/supervision/reconstruction_errors_plot.png"
    )
    detector = datasets["agent.supervision.drift_detector"]
    assert detector["path"] == "data/scanflow/agent/cycle/06_models/supervision/drift_detector"
    produced = {name for n in agent.pipeline().nodes for name in n.outputs}
    assert produced | {BATCH_DATASET} == set(datasets), "every dataset the agent makes has an entry"


def test_only_pipelines_the_agent_can_run_get_an_agent_pipeline(pipelines):
    no_planner = {"inputs": INPUTS, "checkers": [{"kind": "random_selector", "n_critical": 5}]}
    assert "inference.agent" not in supervise_pipelines(pipelines, _config(inference=no_planner))
    unregistered = supervise_pipelines(
        {"training": pipelines["inference"]}, _config(inference=LOOP), strict=False
    )
    assert set(unregistered) == {"training"}


def test_requested_agent_pipelines_load_the_pipeline_they_supervise():
    assert loadable_pipeline_names(["inference.agent"]) == ["inference"]
    assert loadable_pipeline_names(["inference", "inference.agent", "training"]) == [
        "inference",
        "training",
    ]
    assert loadable_pipeline_names(None) is None


def test_the_state_remembers_the_cycle_and_moves_the_cursor_once_it_is_done(tmp_path):
    path = tmp_path / "state.json"
    state = AgentState.load(path)
    assert state.cursor == 0 and state.cycle is None and state.cycles_done == 0
    state.cycle = AgentCycle.start(1, after=0, until=300)
    state.save(path)
    reloaded = AgentState.load(path)
    assert reloaded.cycle == state.cycle and reloaded.cycle.stage is CycleStage.CHECK
    assert reloaded.cycle.check_run.endswith(
        "-agent1-check"
    ) and reloaded.cycle.improve_run.endswith("-agent1-improve")
    assert reloaded.cursor == 0, "the cursor moves only when the cycle is finished"
    done = reloaded.finish("promoted digits version 2 to @champion", "2")
    assert done.stage is CycleStage.DONE and reloaded.cursor == 300 and reloaded.cycle is None
    reloaded.save(path)
    assert AgentState.load(path).history[0].promoted_version == "2"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="state.json is not a valid agent state file"):
        AgentState.load(path)


def _agent(tmp_path: Path, config: ScanflowConfig) -> SupervisionAgent:
    return SupervisionAgent(
        tmp_path, "project", config, Console(quiet=True), sleep=lambda seconds: None
    )


def test_the_agent_refuses_configurations_it_cannot_run(tmp_path):
    with pytest.raises(
        AgentError,
        match=r"agent.min_new_predictions \(20\) is below the drift_detector checker's n_critical \(50\)",
    ):
        _agent(tmp_path, _config({"min_new_predictions": 20}, inference=LOOP))
    two = {**LOOP, "namespace": "other"}
    with pytest.raises(AgentError, match="set agent.pipeline.*batch, inference"):
        _agent(tmp_path, _config(inference=LOOP, batch=two))
    with pytest.raises(
        AgentError, match="agent.pipeline 'training' is not in the supervision section"
    ):
        _agent(tmp_path, _config({"pipeline": "training"}, inference=LOOP))
    no_planner = {"inputs": INPUTS, "checkers": [{"kind": "drift_detector"}]}
    with pytest.raises(AgentError, match="agent.pipeline 'inference' needs .* and a planner"):
        _agent(tmp_path, _config({"pipeline": "inference"}, inference=no_planner))
    assert (
        _agent(tmp_path, _config({"pipeline": "batch"}, inference=LOOP, batch=two)).agent.name
        == "batch.agent"
    )


def test_an_idle_agent_waits_for_enough_predictions_and_one_agent_works_at_a_time(tmp_path):
    agent = _agent(tmp_path, _config({"min_new_predictions": 60}, inference=LOOP))
    state = agent.run(until_idle=True)
    assert state.cycle is None and state.cursor == 0, "no predictions recorded: nothing to do"
    with (agent.folder / "agent.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(AgentError, match="Another agent is working on this project"):
            agent.run(until_idle=True)


def test_a_repeated_planner_reuses_the_version_its_run_registered(tmp_path, monkeypatch):
    keras = pytest.importorskip("keras")
    import mlflow
    from mlflow.tracking import MlflowClient

    from kedro_scanflow.config.supervision_config import PlannerOptions
    from kedro_scanflow.improvers import Improvement
    from kedro_scanflow.supervision.planner_node import plan_promotion

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    candidate = Improvement(
        improver="model_trainer",
        accepted=True,
        model=model,
        candidate=model,
        baseline_score=0.6,
        candidate_score=0.8,
        reason="q' > q",
    )
    options = PlannerOptions(model_name="digits")
    monkeypatch.setenv("SCANFLOW_RUN_ID", "20261122-000000-abcd-agent1-improve")
    with mlflow.start_run():
        first, _ = plan_promotion(candidate, options=options)
    with mlflow.start_run():  # the planner task again, after its process was killed
        again, _ = plan_promotion(candidate, options=options)
    assert first["version"] == again["version"] == "1"
    versions = MlflowClient(uri).search_model_versions("name = 'digits'")
    assert len(versions) == 1, "no duplicate model version"
    assert versions[0].tags["scanflow.run_id"] == "20261122-000000-abcd-agent1-improve"
    monkeypatch.setenv("SCANFLOW_RUN_ID", "20261122-000001-beef-agent2-improve")
    with mlflow.start_run():
        other, _ = plan_promotion(candidate, options=options)
    assert other["version"] == "2", "another run registers its own version"
