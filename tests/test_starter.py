"""``kedro new --starter=scanflow``: the starter renders the reference project and runs offline."""

from __future__ import annotations

import filecmp
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from kedro_scanflow.tracking.tracker_query import TrackerQuery

from .conftest import REPO_ROOT, KedroProject, render_starter

SYNCED = ("conf", "src/scanflow_mnist", "data/01_raw")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> KedroProject:
    """The starter rendered non-interactively, with the reference project's name."""
    return render_starter(tmp_path_factory.mktemp("starter"))


def _differences(left: Path, right: Path) -> list[str]:
    comparison = filecmp.dircmp(left, right, ignore=["__pycache__", ".gitkeep"])
    found = [f"only in {left}: {name}" for name in comparison.left_only]
    found += [f"only in {right}: {name}" for name in comparison.right_only]
    _, mismatch, errors = filecmp.cmpfiles(left, right, comparison.common_files, shallow=False)
    found += [f"differs: {left / name}" for name in mismatch + errors]
    for sub in comparison.common_dirs:
        found += _differences(left / sub, right / sub)
    return found


def test_the_starter_and_the_reference_project_do_not_drift_apart(rendered):
    differences = [
        line
        for folder in SYNCED
        for line in _differences(rendered.path / folder, REPO_ROOT / folder)
    ]
    assert not differences, (
        "template/ and the reference project differ; change both the same way:\n"
        + "\n".join(differences)
    )


@pytest.mark.slow
def test_the_rendered_project_trains_registers_and_predicts_offline(rendered):
    training = rendered.kedro("scanflow", "run", "--pipeline", "training")
    assert training.returncode == 0, training
    registry = rendered.mlflow_client()
    champion = registry.get_model_version_by_alias("scanflow-mnist-classifier", "champion")
    inference = rendered.kedro("scanflow", "run", "--pipeline", "inference")
    assert inference.returncode == 0, inference

    tracker = TrackerQuery(rendered.tracking_uri, experiment="scanflow-mnist")
    [train_run] = tracker.workflow_runs(pipeline="training")
    assert train_run.status == "FINISHED"
    tasks = {task.name: task for task in tracker.task_runs(train_run.run_id)}
    assert set(tasks) == {
        "split_digits",
        "prepare_train_features",
        "prepare_test_features",
        "train_classifier",
        "evaluate_classifier",
        "register_classifier",
    }
    assert len({task.tags["scanflow.pid"] for task in tasks.values()}) == 6
    assert tasks["evaluate_classifier"].metrics["test_accuracy"] >= 0.95
    assert train_run.metrics["evaluate-classifier.test_accuracy"] >= 0.95
    assert "training.train_loss" in tasks["train_classifier"].metrics

    assert str(champion.version) == "1"
    assert champion.run_id == tasks["register_classifier"].run_id

    [inference_run] = tracker.workflow_runs(pipeline="inference")
    assert inference_run.status == "FINISHED"
    predictions = pd.read_csv(rendered.path / "data/07_model_output/digit_predictions.csv")
    assert len(predictions) == 250
    summary = {task.name: task for task in tracker.task_runs(inference_run.run_id)}[
        "summarize_predictions"
    ]
    assert summary.metrics["predictions.new_data_accuracy"] >= 0.9

    # The inference pipeline is supervised: its Planner promotes an improved model only
    # when it beats the champion on held-out digits, and says so in the version's tags.
    now = registry.get_model_version_by_alias("scanflow-mnist-classifier", "champion")
    if now.version != champion.version:
        assert now.tags["scanflow.run_id"] == inference_run.tags["scanflow.run_id"]
        assert float(now.tags["metric.holdout_accuracy"]) > float(
            now.tags["metric.baseline_holdout_accuracy"]
        )


def test_the_wheel_ships_the_starter_and_its_data(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    [wheel] = tmp_path.glob("kedro_scanflow-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    project = "kedro_scanflow/template/{{ cookiecutter.repo_name }}"
    for expected in (
        "kedro_scanflow/template/cookiecutter.json",
        f"{project}/conf/base/scanflow.yml",
        f"{project}/data/01_raw/mnist_5k/images-idx3-ubyte.gz",
        f"{project}/data/06_models/.gitkeep",
        f"{project}/.gitignore",
        "kedro_scanflow/config/scanflow.yml",
    ):
        assert expected in names, expected
    assert not any(name.startswith("scanflow_mnist/") for name in names), (
        "the reference project is not part of the plugin"
    )
    plugin = REPO_ROOT / "kedro_scanflow"
    modules = {
        path.relative_to(REPO_ROOT).as_posix()
        for path in plugin.rglob("*.py")
        if "template" not in path.relative_to(plugin).parts
    }
    assert modules - names == set(), "every module of the plugin is in the wheel"
    packages = {module.rsplit("/", 1)[0] + "/__init__.py" for module in modules}
    assert packages - names == set(), (
        "every folder of modules is a package (setuptools leaves namespace folders out of "
        "some builds)"
    )
