"""The other ``kedro scanflow`` commands, through the real CLI: graph, init, runs."""

from __future__ import annotations

import json

import yaml

from kedro_scanflow.config import ScanflowConfig

from .conftest import REPO_ROOT, KedroProject


def test_graph_prints_the_multigraph_as_text_and_json(toy_project):
    text = toy_project.kedro("scanflow", "graph")
    assert text.returncode == 0, text
    assert "4 task node(s), 4 volume edge(s), 4 tracker edge(s)" in text.output
    assert "load_numbers --[numbers: MemoryDataset, shared volume]--> double" in text.output
    assert f"MLflow (sqlite:///{toy_project.path}/mlflow.db)" in text.output

    target = toy_project.path / "graph.json"
    written = toy_project.kedro(
        "scanflow", "graph", "--format", "json", "-o", str(target), "--tags", "math"
    )
    assert written.returncode == 0, written
    graph = json.loads(target.read_text())
    assert {node["id"] for node in graph["nodes"]} == {"double", "square", "tracker"}
    assert graph["edges"] == [
        {
            "source": "double",
            "target": "tracker",
            "kind": "tracker",
            "dataset": None,
            "dataset_type": None,
            "persisted_by": None,
        },
        {
            "source": "square",
            "target": "tracker",
            "kind": "tracker",
            "dataset": None,
            "dataset_type": None,
            "persisted_by": None,
        },
    ]
    assert not toy_project.runs_root().exists(), "drawing the graph runs nothing"


def test_graph_of_an_unknown_pipeline_lists_the_known_ones(toy_project):
    result = toy_project.kedro("scanflow", "graph", "-p", "trainig")
    assert result.returncode == 1
    assert "No pipeline named 'trainig'" in result.output and "numbers" in result.output


def test_an_unknown_pipeline_is_named_where_the_registry_finds_pipelines_strictly():
    # The reference project registers find_pipelines(raise_errors=True), which refuses an
    # unknown requested name with a bare ImportError.
    result = KedroProject(REPO_ROOT).kedro("scanflow", "graph", "-p", "trainig")
    assert result.returncode == 1, result
    assert "No pipeline named 'trainig'" in result.output, result
    assert "training" in result.output and "ImportError" not in result.output


def test_init_writes_a_valid_documented_file_and_never_overwrites_silently(toy_project):
    target = toy_project.path / "conf" / "staging" / "scanflow.yml"
    result = toy_project.kedro("scanflow", "init", "--env", "staging")
    assert result.returncode == 0, result
    config = ScanflowConfig.model_validate(yaml.safe_load(target.read_text()))
    assert config.tracker.experiment == "toy_project"
    assert target.read_text().count("#") > 10, "every option is documented"

    again = toy_project.kedro("scanflow", "init", "--env", "staging")
    assert again.returncode == 1 and "already exists; use --force" in again.output
    assert toy_project.kedro("scanflow", "init", "--env", "staging", "--force").returncode == 0


def test_runs_lists_workflows_and_shows_one_with_its_tasks(toy_project):
    assert toy_project.kedro("scanflow", "run").returncode == 0
    listing = toy_project.kedro("scanflow", "runs")
    assert listing.returncode == 0, listing
    assert "Workflow runs" in listing.output and "FINISHED" in listing.output

    run_id = next((toy_project.runs_root()).iterdir()).name
    detail = toy_project.kedro("scanflow", "runs", run_id, "--json")
    assert detail.returncode == 0, detail
    payload = json.loads(detail.output[detail.output.index("{") :])
    assert payload["workflow"]["status"] == "FINISHED"
    names = [task["name"] for task in payload["tasks"]]
    assert names[0] == "load_numbers" and names[-1] == "total", "oldest first"
    assert set(names) == {"load_numbers", "double", "square", "total"}
    assert all(task["tags"]["scanflow.pid"] for task in payload["tasks"])

    missing = toy_project.kedro("scanflow", "runs", "no-such-run")
    assert missing.returncode == 1 and "No workflow run 'no-such-run'" in missing.output
