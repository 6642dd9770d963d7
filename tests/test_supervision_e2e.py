"""The supervision loop on the reference project, for real: drift, checker, human, improver,
planner, rollback, and the Scanflow graph in kedro-viz seen through a real browser.

The project is rendered from the starter (it is identical to the reference project),
trained, and given drifted production data (shot noise) once for the module.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from kedro_scanflow.human import LabelStore
from kedro_scanflow.io import NpzImageDataset
from kedro_scanflow.runs.run_directory import RunDirectory
from kedro_scanflow.tracking.tracker_query import TrackerQuery

from .conftest import KEDRO, REPO_ROOT, KedroProject, cli_env, render_starter, run_pipelines

MODEL = "scanflow-mnist-classifier"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("SCANFLOW_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> KedroProject:
    """The starter, trained (champion version 1) and with drifted new data."""
    workspace = tmp_path_factory.mktemp("supervision")
    project = render_starter(workspace)
    return run_pipelines(project, "training", "drift")


def _champion(project: KedroProject) -> str:
    return str(project.mlflow_client().get_model_version_by_alias(MODEL, "champion").version)


def test_supervision_on_drifted_data_promotes_a_better_champion_and_rollback_restores(trained):
    assert _champion(trained) == "1"
    result = trained.kedro("scanflow", "run", "--pipeline", "inference", "--env", "drift")
    assert result.returncode == 0, result

    promotion = json.loads(
        (trained.path / "data/08_reporting/supervision/promotion.json").read_text()
    )
    assert (
        promotion["promoted"] is True
        and promotion["version"] == "2"
        and promotion["previous_version"] == "1"
    )
    assert promotion["candidate_score"] > promotion["baseline_score"], (
        "the new champion is better on drifted data"
    )
    assert _champion(trained) == "2"
    version = trained.mlflow_client().get_model_version(MODEL, "2")
    assert float(version.tags["metric.holdout_accuracy"]) == pytest.approx(
        promotion["candidate_score"]
    )

    store = LabelStore(trained.path / "data/scanflow/labels")
    [task] = store.tasks()
    assert store.progress(task).answered == 100
    assert {record.annotator for record in store.answers(task).values()} == {"simulated-oracle"}
    for plot in ("reconstruction_errors_plot", "critical_samples_plot", "improvement_plot"):
        assert (trained.path / f"data/08_reporting/supervision/{plot}.png").stat().st_size > 10_000

    tracker = TrackerQuery(trained.tracking_uri, experiment="scanflow-mnist")
    [workflow] = tracker.workflow_runs(pipeline="inference")
    tasks = {task.name: task for task in tracker.task_runs(workflow.run_id)}
    assert "scanflow.checker" in tasks["supervision.select_critical_points"].tags["kedro.tags"]
    assert "scanflow.planner" in tasks["supervision.plan_promotion"].tags["kedro.tags"]
    artifacts = {
        a.path
        for a in tracker.client.list_artifacts(
            tasks["supervision.select_critical_points"].run_id, "supervision"
        )
    }
    assert "supervision/reconstruction_errors_plot.png" in artifacts
    report = tasks["supervision.supervision_report"]
    assert (
        report.metrics["promotion.promoted"] == 1.0
        and report.metrics["labeling_status.answered"] == 100
    )

    rolled = trained.kedro("scanflow", "rollback", MODEL)
    assert rolled.returncode == 0, rolled
    assert f"{MODEL}@champion: version 2 -> version 1" in rolled.output
    assert _champion(trained) == "1"
    assert trained.kedro("scanflow", "rollback", MODEL, "--to", "2").returncode == 0
    assert _champion(trained) == "2"


def test_a_human_labels_the_pending_points_and_the_run_resumes(trained):
    human = trained.path / "conf" / "human"
    human.mkdir(exist_ok=True)
    shutil.copy(trained.path / "conf/drift/catalog.yml", human / "catalog.yml")
    supervision = yaml.safe_load((trained.path / "conf/base/scanflow.yml").read_text())[
        "supervision"
    ]
    supervision["inference"]["checkers"][1]["oracle"] = False
    supervision["inference"]["checkers"][0]["n_critical"] = 20
    (human / "scanflow.yml").write_text(yaml.safe_dump({"supervision": supervision}))

    paused = trained.kedro("scanflow", "run", "--pipeline", "inference", "--env", "human")
    assert paused.returncode == 1, paused
    assert "LabelsPending: 20 of 20 critical samples await labels" in paused.output
    assert "kedro scanflow label" in paused.output
    [run] = [r for r in RunDirectory.list(trained.runs_root()) if r.record().request.env == "human"]
    assert f"kedro scanflow run --resume {run.run_id}" in paused.output

    store = LabelStore(trained.path / "data/scanflow/labels")
    [task] = [name for name in store.tasks() if name.startswith(run.run_id)]
    truth = (
        NpzImageDataset(str(trained.path / "data/05_model_input/drifted_new_digits.npz"))
        .load()
        .labels
    )
    for item_id in store.pending(task):
        store.answer(
            task,
            item_id,
            int(truth[store.task(task).item(item_id).sample_id]),
            annotator="test-human",
        )

    resumed = trained.kedro("scanflow", "run", "--resume", run.run_id)
    assert resumed.returncode == 0, resumed
    labelled = NpzImageDataset(
        str(trained.path / "data/05_model_input/supervision/labelled_points.npz")
    ).load()
    assert len(labelled) == 20
    assert np.array_equal(
        np.sort(labelled.labels),
        np.sort(truth[[store.task(task).item(i).sample_id for i in store.answers(task)]]),
    )
    assert run.task_state("supervision-request-labels").attempts == 2
    assert run.task_state("supervision-fit-drift-detector").attempts == 1, (
        "the detector is not fitted again"
    )


def test_kedro_viz_shows_every_special_node_with_its_tag(trained):
    built = subprocess.run(
        [KEDRO, "viz", "build"],
        cwd=trained.path,
        env=cli_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    graph = json.loads((trained.path / "build/api/pipelines/inference").read_text())
    special = {
        n["name"]: n
        for n in graph["nodes"]
        if n["type"] == "task" and "scanflow.supervision" in n["tags"]
    }
    expected = {
        "fit_drift_detector": "scanflow.checker",
        "score_drift": "scanflow.checker",
        "select_critical_points": "scanflow.checker",
        "request_labels": "scanflow.checker",
        "improve_with_model_trainer": "scanflow.improver",
        "plan_promotion": "scanflow.planner",
        "supervision_report": "scanflow.tracker",
    }
    assert {
        name: next(t for t in expected.values() if t in special[name]["tags"]) for name in expected
    } == expected
    assert all(special[name]["modular_pipelines"] == ["supervision"] for name in expected)

    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(trained.path / "build")
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "kedro-viz-supervision.png"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--no-first-run",
                    "--disable-sync",
                ],
            )
            page = browser.new_page(viewport={"width": 1600, "height": 1100})
            page.goto(
                f"http://127.0.0.1:{server.server_port}/?pid=inference&expandAllPipelines=true",
                wait_until="networkidle",
            )
            page.get_by_text("plan_promotion").first.wait_for(timeout=30_000)
            sidebar = page.inner_text("body")
            page.screenshot(path=str(screenshot))
            browser.close()
    finally:
        server.shutdown()
    for name in expected:
        assert name in sidebar, f"{name} is not shown in kedro-viz"
    assert screenshot.stat().st_size > 50_000
    print(f"kedro-viz screenshot: {screenshot}")
