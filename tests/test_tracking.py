"""The tracker edge on a real sqlite MLflow store: workflow runs, the query API, the registry."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from kedro_scanflow.pipeline.task_plan import Task
from kedro_scanflow.tracking import TrackerQuery, WorkflowTracker
from kedro_scanflow.tracking.model_registry import ModelRegistry
from kedro_scanflow.tracking.tracking_uri import TrackingTarget


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> TrackingTarget:
    folder = tmp_path_factory.mktemp("tracker")
    return TrackingTarget(
        uri=f"sqlite:///{folder / 'mlflow.db'}",
        experiment="tests",
        artifact_location=(folder / "artifacts").as_uri(),
        source="test",
    )


def _task(name: str) -> Task:
    return Task(
        name=name,
        slug=name,
        nodes=(name,),
        dependencies=frozenset(),
        inputs=frozenset(),
        outputs=frozenset(),
        tags=frozenset({"modeling"}),
    )


def test_a_workflow_has_one_parent_and_children_and_ends_exactly_once(target):
    tracker = WorkflowTracker(target)
    parent = tracker.start_workflow(
        "training run-1",
        {"scanflow.run_id": "run-1", "scanflow.pipelines": "training"},
        {"split": {"seed": 42}},
    )
    child = tracker.start_task(_task("train"), {"scanflow.run_id": "run-1"})
    tracker.client.log_metric(child, "accuracy", 0.97)
    tracker.finish_task(_task("train"), child, succeeded=False, reason="killed by signal 9")
    assert tracker.client.get_run(parent).data.metrics == {}, "failed tasks are not mirrored"
    tracker.finish_task(_task("train"), child, succeeded=True)  # does not re-end; mirrors metrics
    tracker.end_workflow(succeeded=False, reason="interrupted")
    tracker.end_workflow(succeeded=True)  # never flips

    query = TrackerQuery(target.uri, "tests")
    [workflow] = query.workflow_runs(scanflow_run_id="run-1")
    assert workflow.run_id == parent and workflow.status == "FAILED"
    assert workflow.params == {"split.seed": "42"}
    assert workflow.metrics == {"train.accuracy": 0.97}
    assert workflow.tags["scanflow.stop_reason"] == "interrupted"
    [task] = query.task_runs(parent)
    assert (task.run_id, task.status, task.parent_run_id) == (child, "FAILED", parent)
    assert (
        task.tags["scanflow.stop_reason"] == "killed by signal 9"
        and task.tags["kedro.tags"] == "modeling"
    )
    assert query.latest_workflow(pipeline="training").run_id == parent


def test_save_and_gather_metadata_by_run_id_and_by_query(target, tmp_path):
    query = TrackerQuery(target.uri, "tests")
    run_id = WorkflowTracker(target).start_workflow("checker", {"scanflow.run_id": "run-2"})
    report = tmp_path / "critical.json"
    report.write_text('{"n": 3}')
    query.save(
        run_id,
        params={"checker": {"n_critical": 3}},
        metrics={"drift": 0.4},
        tags={"stage": "checked"},
        artifacts=[report],
        artifact_path="checker",
    )
    gathered = query.gather(run_id)
    assert gathered.params == {"checker.n_critical": "3"} and gathered.metrics == {"drift": 0.4}
    assert gathered.tags["stage"] == "checked"
    assert [a.path for a in query.client.list_artifacts(run_id, "checker")] == [
        "checker/critical.json"
    ]
    found = query.search("metrics.drift > 0.3 and tags.stage = 'checked'")
    assert [r.run_id for r in found] == [run_id]
    assert query.search("metrics.drift > 0.5") == []


def test_the_registry_promotes_only_better_models_and_keeps_history(target):
    mlflow.set_tracking_uri(target.uri)
    client = MlflowClient(target.uri)
    registry = ModelRegistry(client)
    experiment = client.get_experiment_by_name("tests").experiment_id
    versions = []
    for accuracy in (0.90, 0.88, 0.95):
        run = client.create_run(experiment)
        versions.append(
            registry.register(
                f"runs:/{run.info.run_id}/model", "digits", {"accuracy": accuracy}
            ).version
        )
    first = registry.promote_if_better("digits", str(versions[0]), "accuracy")
    worse = registry.promote_if_better("digits", str(versions[1]), "accuracy")
    better = registry.promote_if_better("digits", str(versions[2]), "accuracy")
    assert (first.promoted, worse.promoted, better.promoted) == (True, False, True)
    assert worse.reason.startswith(
        "accuracy 0.88 is not better"
    ) and better.previous_version == str(versions[0])
    assert str(registry.version_by_alias("digits").version) == str(versions[2])
    assert registry.history("digits") == [str(versions[0]), str(versions[2])]
    assert registry.version_by_alias("unknown-model") is None


def test_logged_models_register_through_a_tracking_server(tracking_server, monkeypatch):
    """MLflow 3 logged models (``models:/m-...``) must be registered from their artifact
    location with their model id; a tracking server refuses the bare URI (sqlite does not)."""
    keras = pytest.importorskip("keras")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    mlflow.set_tracking_uri(tracking_server)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    with mlflow.start_run() as run:
        logged = mlflow.keras.log_model(model, name="model")
    assert logged.model_uri.startswith("models:/m-")
    registry = ModelRegistry(MlflowClient(tracking_server))
    version = registry.register(
        logged.model_uri, "served", {"accuracy": 0.9}, tags={"scanflow.run_id": "r1"}
    )
    assert version.run_id == run.info.run_id
    registry.promote("served", version.version)
    loaded = mlflow.keras.load_model("models:/served@champion")
    assert loaded.output_shape == (None, 2)
    assert registry.version_tagged("served", "scanflow.run_id", "r1").version == version.version


@pytest.mark.parametrize("with_mlflow_yml", [True, False])
def test_task_processes_keep_kedro_mlflow_in_their_open_run(tmp_path, with_mlflow_yml):
    """kedro-mlflow must not reopen a task's run before every node (``nested: false``),
    and the rest of the project's ``mlflow.yml`` stays as written."""
    from kedro.config import OmegaConfigLoader

    from kedro_scanflow.tracking.tracking_uri import keep_kedro_mlflow_in_task_run

    base = tmp_path / "conf" / "base"
    base.mkdir(parents=True)
    (tmp_path / "conf" / "local").mkdir()
    if with_mlflow_yml:
        (base / "mlflow.yml").write_text(
            "server:\n  mlflow_tracking_uri: http://tracker:5000\n"
            "tracking:\n  run:\n    name: nightly\n    nested: true\n"
        )
    loader = OmegaConfigLoader(str(tmp_path / "conf"), base_env="base", default_run_env="local")
    keep_kedro_mlflow_in_task_run(loader)
    settings = loader["mlflow"]
    assert settings["tracking"]["run"]["nested"] is False
    if with_mlflow_yml:
        assert settings["tracking"]["run"]["name"] == "nightly"
        assert settings["server"]["mlflow_tracking_uri"] == "http://tracker:5000"
