"""``kedro scanflow run --pipeline debugging`` on the starter: the paper's MNIST-C scenarios.

What users rely on: the quick setting (three corruptions, budgets 10 and 100, one seed)
runs every scenario of every corruption as its own task and writes a complete, sane
results table, Markdown tables and plots, also logged to MLflow; the human-labelled
scenarios beat the deployed model on corrupted data; the published MNIST-C layout and
full-MNIST IDX files can replace the generated data; and an unknown corruption, a budget
larger than the pool, colour images or a grid changed at run time stop the run with a
message that says what to change.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from kedro_scanflow.corruptions import corrupt
from kedro_scanflow.io import IdxImageDataset, ImageSet
from kedro_scanflow.tracking.tracker_query import TrackerQuery

from .conftest import KedroProject, render_starter

SCENARIOS = ["baseline", "naive", "ddc_hlc", "rnd_hlc", "mdwi_hfc"]
QUICK = {"corruptions": ["impulse_noise", "fog", "rotate"], "seeds": [0], "budgets": [10, 100]}
REPORTS = "data/08_reporting/debugging"


@pytest.fixture(scope="module")
def starter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The starter rendered once; tests work on copies of it."""
    return render_starter(tmp_path_factory.mktemp("debugging-starter")).path


def _project(starter: Path, destination: Path, **local: object) -> KedroProject:
    """A copy of the starter whose ``conf/local`` holds ``local`` (file stem -> content)."""
    shutil.copytree(starter, destination)
    for stem, content in local.items():
        (destination / "conf" / "local" / f"{stem}.yml").write_text(yaml.safe_dump(content))
    return KedroProject(destination)


@pytest.fixture(scope="module")
def quick_run(starter: Path, tmp_path_factory: pytest.TempPathFactory) -> KedroProject:
    project = _project(
        starter,
        tmp_path_factory.mktemp("quick") / "project",
        parameters_debugging={"debugging_grid": QUICK},
    )
    result = project.kedro("scanflow", "run", "--pipeline", "debugging", timeout=1800)
    assert result.returncode == 0, result
    return project


@pytest.mark.slow
def test_the_quick_setting_runs_each_scenario_of_each_corruption_as_its_own_task(quick_run):
    tracker = TrackerQuery(quick_run.tracking_uri, experiment="scanflow-mnist")
    [workflow] = tracker.workflow_runs(pipeline="debugging")
    assert workflow.status == "FINISHED"
    tasks = {task.name: task for task in tracker.task_runs(workflow.run_id)}
    expected = {
        "debugging.seed_0.split_digits",
        "debugging.seed_0.train_classifier",
        "debugging.seed_0.fit_drift_detector",
        "debugging.report_results",
    }
    for corruption in QUICK["corruptions"]:
        expected.add(f"debugging.seed_0.{corruption}.prepare_new_data")
        expected.update(f"debugging.seed_0.{corruption}.run_{key}" for key in SCENARIOS)
    assert set(tasks) == expected
    assert len({task.tags["scanflow.pid"] for task in tasks.values()}) == len(expected)
    assert all(task.status == "FINISHED" for task in tasks.values())

    client = MlflowClient(quick_run.tracking_uri)
    history = client.get_metric_history(
        tasks["debugging.seed_0.fog.run_ddc_hlc"].run_id, "corrupted_accuracy"
    )
    assert sorted(metric.step for metric in history) == [10, 100]
    report = tasks["debugging.report_results"]
    assert "ddc_hlc.b100.corrupted_accuracy" in report.metrics
    logged = {artifact.path for artifact in client.list_artifacts(report.run_id)}
    assert {"results.csv", "summary.csv", "results.md", "corrupted_accuracy.png"} <= logged


@pytest.mark.slow
def test_the_quick_results_table_is_complete_and_sane(quick_run):
    results = pd.read_csv(quick_run.path / REPORTS / "results.csv")
    combinations = set(
        zip(results["scenario"], results["budget"], results["corruption"], strict=True)
    )
    assert combinations == set(itertools.product(SCENARIOS, QUICK["budgets"], QUICK["corruptions"]))
    assert len(results) == len(combinations) and set(results["seed"]) == {0}
    for column in ("clean_accuracy", "corrupted_accuracy", "average_accuracy"):
        assert results[column].between(0.0, 1.0).all(), column
    assert (results["n_labels"] <= results["n_selected"]).all()
    assert (results["n_selected"] <= results["budget"]).all()
    assert (results.loc[results["scenario"] == "baseline", "n_labels"] == 0).all()
    assert results.loc[results["scenario"] != "baseline", "n_labels"].min() > 0

    summary = pd.read_csv(quick_run.path / REPORTS / "summary.csv").set_index(
        ["scenario", "budget"]
    )
    for budget in QUICK["budgets"]:
        baseline = summary.loc[("baseline", budget), "corrupted_accuracy_mean"]
        for human in ("ddc_hlc", "rnd_hlc"):
            assert summary.loc[(human, budget), "corrupted_accuracy_mean"] > baseline, (
                human,
                budget,
            )
    assert summary.loc[("baseline", 10), "clean_accuracy_mean"] > 0.9

    table = (quick_run.path / REPORTS / "results.md").read_text()
    for label in ("Baseline", "Naive", "DDC+HLC", "RND+HLC", "MDWI+HFC"):
        assert f"| {label} |" in table
    for plot in ("clean", "corrupted", "average", "corruption"):
        assert (quick_run.path / REPORTS / f"{plot}_accuracy.png").stat().st_size > 10_000


def _write_mnist_and_mnist_c(project: Path, digits: ImageSet, corruptions: list[str]) -> None:
    """Full MNIST as IDX files and MNIST-C in the published layout, from the 5k subset.

    The subset is sorted by digit: every fifth image is a test image, so that both splits
    hold every digit, as MNIST's do.
    """
    test_mask = np.arange(len(digits)) % 5 == 0
    train, test = (
        digits.subset(np.flatnonzero(~test_mask)),
        digits.subset(np.flatnonzero(test_mask)),
    )
    raw = project / "data" / "01_raw"
    for name, part in (("train", train), ("t10k", test)):
        IdxImageDataset(
            filepath=str(raw / "mnist" / f"{name}-images-idx3-ubyte.gz"),
            labels_filepath=str(raw / "mnist" / f"{name}-labels-idx1-ubyte.gz"),
        ).save(part)
    for corruption in corruptions:
        folder = raw / "mnist_c" / corruption
        folder.mkdir(parents=True)
        for split, part in (("train", train), ("test", test)):
            images = corrupt(part.images, corruption, seed=11)[..., np.newaxis]
            np.save(folder / f"{split}_images.npy", images.astype(np.uint8))
            np.save(folder / f"{split}_labels.npy", part.labels.astype(np.uint8))


@pytest.mark.slow
def test_the_published_mnist_c_layout_and_idx_files_replace_the_generated_data(starter, tmp_path):
    project = _project(
        starter,
        tmp_path / "project",
        parameters_debugging={
            "debugging_grid": {
                "data_source": "mnist_c",
                "corruptions": ["impulse_noise", "rotate"],
                "scenarios": ["baseline", "ddc_hlc", "mdwi_hfc"],
                "seeds": [3],
                "budgets": [20],
            },
            "debugging": {"data": {"train_size": 1500, "pool_size": 300, "test_size": 500}},
        },
    )
    digits = IdxImageDataset(
        filepath=str(starter / "data/01_raw/mnist_5k/images-idx3-ubyte.gz"),
        labels_filepath=str(starter / "data/01_raw/mnist_5k/labels-idx1-ubyte.gz"),
    ).load()
    _write_mnist_and_mnist_c(project.path, digits, ["impulse_noise", "rotate"])
    result = project.kedro("scanflow", "run", "--pipeline", "debugging", timeout=1800)
    assert result.returncode == 0, result
    assert "a pool of 300 training MNIST-C digits" in result.output
    results = pd.read_csv(project.path / REPORTS / "results.csv")
    assert set(zip(results["scenario"], results["corruption"], strict=True)) == set(
        itertools.product(["baseline", "ddc_hlc", "mdwi_hfc"], ["impulse_noise", "rotate"])
    )
    assert set(results["seed"]) == {3} and set(results["budget"]) == {20}
    assert results["clean_accuracy"].between(0.8, 1.0).all()


# --- bad input: clear errors, before any model is trained ---------------------------------


def test_an_unknown_corruption_in_the_grid_stops_the_run_with_the_valid_names(starter, tmp_path):
    project = _project(
        starter,
        tmp_path / "project",
        parameters_debugging={"debugging_grid": {"corruptions": ["fog", "fgo"], "seeds": [0]}},
    )
    result = project.kedro("scanflow", "run", "--pipeline", "debugging", timeout=300)
    assert result.returncode != 0, result
    assert "debugging_grid.corruptions" in result.output
    assert "Unknown corruption 'fgo'. Did you mean 'fog'?" in result.output
    assert not (project.path / "data/06_models/debugging").exists()


def test_a_budget_larger_than_the_pool_stops_the_first_task(starter, tmp_path):
    project = _project(
        starter,
        tmp_path / "project",
        parameters_debugging={
            "debugging_grid": {"corruptions": ["fog"], "seeds": [0], "budgets": [10, 2000]}
        },
    )
    result = project.kedro("scanflow", "run", "--pipeline", "debugging", timeout=300)
    assert result.returncode != 0, result
    assert "debugging.seed_0.split_digits" in result.output
    assert "Label budget 2000 is larger than the pool of 1500 new images" in result.output
    assert not (project.path / "data/06_models/debugging").exists()


def test_colour_digits_are_refused_where_grayscale_is_expected(starter, tmp_path):
    project = _project(
        starter,
        tmp_path / "project",
        parameters_debugging={"debugging_grid": {"corruptions": ["fog"], "seeds": [0]}},
        catalog={
            "debugging_digits": {
                "type": "kedro_scanflow.io.NpzImageDataset",
                "filepath": "data/01_raw/colour_digits.npz",
            }
        },
    )
    rng = np.random.default_rng(0)
    np.savez(
        project.path / "data/01_raw/colour_digits.npz",
        images=rng.integers(0, 256, (50, 28, 28, 3), dtype=np.uint8),
        labels=np.arange(50) % 10,
    )
    result = project.kedro("scanflow", "run", "--pipeline", "debugging", timeout=300)
    assert result.returncode != 0, result
    assert "Colour images are not supported; convert them to grayscale first" in result.output


def test_the_grid_cannot_be_changed_at_run_time(starter, tmp_path):
    project = _project(
        starter,
        tmp_path / "project",
        parameters_debugging={"debugging_grid": {"corruptions": ["fog"], "seeds": [0]}},
    )
    result = project.kedro(
        "scanflow",
        "run",
        "--pipeline",
        "debugging",
        "--params",
        "debugging_grid.data_source=mnist_c",
        timeout=300,
    )
    assert result.returncode != 0, result
    assert "ask for another debugging grid than the pipeline was built" in result.output
    assert "conf/local/parameters_debugging.yml" in result.output
