"""``TaskPlan`` and ``ScanflowGraph``: how a pipeline becomes task nodes and edges."""

from __future__ import annotations

import json

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import node, pipeline
from kedro_datasets.json import JSONDataset

from kedro_scanflow.pipeline import ScanflowGraph, TaskPlan, TaskPlanError
from kedro_scanflow.pipeline.task_plan import slugify, unique_slugs, volume_file_names


def identity(x):
    return x


def combine(*xs):
    return xs


@pytest.fixture
def catalog(tmp_path) -> DataCatalog:
    return DataCatalog(
        {
            "raw": JSONDataset(filepath=str(tmp_path / "raw.json")),
            "report": JSONDataset(filepath=str(tmp_path / "report.json")),
            "explicit_memory": MemoryDataset(),
        }
    )


@pytest.fixture
def diamond():
    return pipeline(
        [
            node(identity, "raw", "clean", name="clean"),
            node(identity, "clean", "left", name="left", tags=["scanflow.checker"]),
            node(identity, "clean", "explicit_memory", name="right"),
            node(combine, ["left", "explicit_memory", "params:x"], "report", name="join"),
        ]
    )


def test_one_task_per_node_with_dependencies_and_volume_edges(diamond, catalog):
    plan = TaskPlan.from_pipeline(diamond, catalog)
    assert list(plan.tasks) == ["clean", "left", "right", "join"]
    assert plan.tasks["join"].dependencies == {"left", "right"}
    assert plan.tasks["join"].inputs == {"left", "explicit_memory"}, "parameters are not edges"
    assert plan.shared_datasets == {
        "clean": "clean.pkl",
        "left": "left.pkl",
        "explicit_memory": "explicit-memory.pkl",
    }, "in-memory datasets crossing tasks go over the volume; catalog files do not"
    assert plan.free_inputs == {"raw"} and plan.parameters == {"params:x"}
    assert [t.slug for t in plan.ready(done=set(), started=set())] == ["clean"]
    assert {t.slug for t in plan.ready(done={"clean"}, started={"clean"})} == {"left", "right"}
    assert plan.downstream("left") == {"join"} and plan.downstream("clean") == {
        "left",
        "right",
        "join",
    }


def test_grouping_by_namespace_keeps_internal_data_in_memory(catalog):
    grouped = pipeline(
        [
            node(identity, "raw", "clean", name="clean"),
            pipeline(
                [
                    node(identity, "clean", "a", name="first"),
                    node(identity, "a", "b", name="second"),
                ],
                namespace="stage",
                inputs={"clean"},
            ),
            node(identity, "stage.b", "report", name="report"),
        ]
    )
    plan = TaskPlan.from_pipeline(grouped, catalog, group_by="namespace")
    assert list(plan.tasks) == ["clean", "stage", "report"]
    assert plan.tasks["stage"].nodes == ("stage.first", "stage.second")
    assert "stage.a" not in plan.shared_datasets and "stage.b" in plan.shared_datasets


def test_empty_selection_is_an_error(catalog):
    with pytest.raises(TaskPlanError, match="no nodes"):
        TaskPlan.from_pipeline(pipeline([]), catalog)


def test_slugs_are_readable_unique_and_safe_for_kubernetes():
    assert slugify("train_classifier") == "train-classifier"
    assert slugify("supervision.request_labels") == "supervision-request-labels"
    long = slugify("split_data([mnist_raw,params:split]) -> [test_set,train_set]")
    assert len(long) <= 48 and long.startswith("split-data-mnist-raw")
    assert long != slugify("split_data([mnist_raw,params:split]) -> [test_set,other_set]")
    colliding = unique_slugs(["a.b", "a_b", "c"])
    assert len(set(colliding.values())) == 3 and colliding["c"] == "c"
    assert colliding["a.b"].startswith("a-b-") and colliding["a_b"].startswith("a-b-")
    files = volume_file_names(["stage.features", "stage_features"])
    assert len(set(files.values())) == 2, "two datasets never share a file on the volume"


def test_the_graph_has_task_tracker_and_volume_edges(diamond, catalog):
    plan = TaskPlan.from_pipeline(diamond, catalog)
    graph = ScanflowGraph.from_plan(plan, catalog, ["__default__"], "sqlite:///x.db")
    kinds = {n.id: n.kind for n in graph.nodes}
    assert kinds == {
        "clean": "task",
        "left": "checker",
        "right": "task",
        "join": "task",
        "tracker": "tracker",
    }
    volume = {
        (e.source, e.target, e.dataset, e.persisted_by) for e in graph.edges if e.kind == "volume"
    }
    assert volume == {
        ("clean", "left", "clean", "shared_volume"),
        ("clean", "right", "clean", "shared_volume"),
        ("left", "join", "left", "shared_volume"),
        ("right", "join", "explicit_memory", "shared_volume"),
    }
    assert {e.source for e in graph.edges if e.kind == "tracker"} == {
        "clean",
        "left",
        "right",
        "join",
    }
    as_json = json.loads(graph.to_json())
    assert as_json["tracker_uri"] == "sqlite:///x.db" and len(as_json["edges"]) == 8
    text = graph.to_text()
    assert "left [checker]" in text and "reads from the catalog: raw" in text
    assert "right --[explicit_memory: MemoryDataset, shared volume]--> join" in text
