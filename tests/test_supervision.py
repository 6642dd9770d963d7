"""Special nodes declared in ``scanflow.yml``: what supervise_pipelines adds, and when it refuses."""

from __future__ import annotations

import pytest
from kedro.pipeline import node, pipeline
from pydantic import ValidationError

from kedro_scanflow.config import ScanflowConfig
from kedro_scanflow.supervision import SupervisionError, is_supervised, supervise_pipelines


def identity(x):
    return x


INPUTS = {
    "new_data": "new_digits",
    "reference_data": "train_digits",
    "model": "champion",
    "holdout": "holdout_digits",
}


def _config(**supervision) -> ScanflowConfig:
    return ScanflowConfig.model_validate({"supervision": supervision})


@pytest.fixture
def pipelines():
    inference = pipeline([node(identity, "new_digits", "predictions", name="predict")])
    training = pipeline([node(identity, "raw", "train_digits", name="split")])
    return {"inference": inference, "training": training, "__default__": training + inference}


def test_the_paper_loop_becomes_tagged_namespaced_kedro_nodes(pipelines):
    config = _config(
        inference={
            "inputs": INPUTS,
            "checkers": [
                {"kind": "drift_detector", "n_critical": 10},
                {"kind": "human_labeler", "oracle": True},
            ],
            "improvers": [{"kind": "model_trainer"}],
            "planner": {"model_name": "digits"},
        }
    )
    supervised = supervise_pipelines(pipelines, config)
    special = {n.name: n for n in supervised["inference"].nodes if n.name != "predict"}
    assert set(special) == {
        "supervision.fit_drift_detector",
        "supervision.score_drift",
        "supervision.select_critical_points",
        "supervision.request_labels",
        "supervision.improve_with_model_trainer",
        "supervision.plan_promotion",
        "supervision.supervision_report",
    }
    kinds = {
        name: {t for t in n.tags if t.count(".") == 1 and t.startswith("scanflow.")}
        - {"scanflow.supervision"}
        for name, n in special.items()
    }
    assert kinds["supervision.fit_drift_detector"] == {"scanflow.checker"}
    assert kinds["supervision.request_labels"] == {"scanflow.checker"}
    assert kinds["supervision.improve_with_model_trainer"] == {"scanflow.improver"}
    assert kinds["supervision.plan_promotion"] == {"scanflow.planner"}
    assert kinds["supervision.supervision_report"] == {"scanflow.tracker"}
    assert all(n.namespace == "supervision" for n in special.values())
    assert special["supervision.improve_with_model_trainer"].inputs == [
        "champion",
        "train_digits",
        "supervision.labelled_points",
        "holdout_digits",
    ]
    assert set(supervised["__default__"].nodes) >= set(special.values()), (
        "__default__ holds inference"
    )
    assert supervised["training"] is pipelines["training"]


def test_supervising_twice_adds_nothing(pipelines):
    config = _config(
        inference={"inputs": INPUTS, "checkers": [{"kind": "random_selector", "n_critical": 5}]}
    )
    once = supervise_pipelines(pipelines, config)
    twice = supervise_pipelines(once, config)
    assert is_supervised(once["inference"], "inference")
    assert len(twice["inference"].nodes) == len(once["inference"].nodes)


def test_an_unknown_supervised_pipeline_is_an_error_when_strict(pipelines):
    config = _config(inferenc={"inputs": INPUTS, "checkers": [{"kind": "random_selector"}]})
    with pytest.raises(
        SupervisionError,
        match="supervises pipeline 'inferenc'.*registered: __default__, inference, training",
    ):
        supervise_pipelines(pipelines, config)
    assert supervise_pipelines(pipelines, config, strict=False) == pipelines


def test_custom_checkers_are_added_by_dotted_path(pipelines):
    config = _config(
        inference={
            "inputs": INPUTS,
            "checkers": [
                {
                    "kind": "custom",
                    "name": "too_dark",
                    "function": "tests.test_supervision.identity",
                    "inputs": ["new_digits"],
                    "outputs": ["dark_report"],
                }
            ],
        }
    )
    [custom] = [
        n
        for n in supervise_pipelines(pipelines, config)["inference"].nodes
        if n.name == "supervision.too_dark"
    ]
    assert "scanflow.checker" in custom.tags and custom.outputs == ["dark_report"]


@pytest.mark.parametrize(
    ("supervision", "message"),
    [
        ({"checkers": [{"kind": "human_labeler"}]}, "need a drift_detector or random_selector"),
        (
            {"checkers": [{"kind": "random_selector"}], "improvers": [{"kind": "model_trainer"}]},
            "needs a human_labeler",
        ),
        ({"checkers": [{"kind": "random_selector"}, {"kind": "human_finder"}]}, "latent space"),
        ({"checkers": [{"kind": "drift_detector", "n_critical": 0}]}, "greater than 0"),
        ({"checkers": [{"kind": "drift_detektor"}]}, "drift_detektor"),
        (
            {"checkers": [{"kind": "custom", "name": "x", "function": "nodots"}]},
            "not a dotted path",
        ),
    ],
)
def test_inconsistent_supervision_is_refused_with_the_reason(supervision, message):
    with pytest.raises(ValidationError, match=message):
        _config(inference={"inputs": INPUTS, **supervision})


def test_two_supervised_pipelines_need_two_namespaces():
    entry = {"inputs": INPUTS, "checkers": [{"kind": "random_selector"}]}
    with pytest.raises(ValidationError, match="same namespace 'supervision'"):
        _config(inference=entry, batch=entry)
    config = _config(inference=entry, batch={**entry, "namespace": "batch_supervision"})
    assert set(config.supervision) == {"inference", "batch"}


def test_replacing_applies_another_configuration_to_a_supervised_pipeline(pipelines):
    base = _config(
        inference={"inputs": INPUTS, "checkers": [{"kind": "random_selector", "n_critical": 5}]}
    )
    other = _config(
        inference={"inputs": INPUTS, "checkers": [{"kind": "drift_detector", "n_critical": 5}]}
    )
    supervised = supervise_pipelines(pipelines, base)
    kept = supervise_pipelines(supervised, other)
    replaced = supervise_pipelines(supervised, other, replace=True)
    names = lambda p: {n.name for n in p.nodes}  # noqa: E731
    assert "supervision.select_random_points" in names(kept["inference"])
    assert "supervision.select_random_points" not in names(replaced["inference"])
    assert "supervision.fit_drift_detector" in names(replaced["inference"])
    assert names(replaced["__default__"]) >= names(replaced["inference"])


@pytest.mark.slow
def test_a_registered_drift_detector_is_reused_without_training(tmp_path, monkeypatch):
    import mlflow
    import numpy as np

    from kedro_scanflow.config.supervision_config import DriftDetectorOptions
    from kedro_scanflow.io import IdxImageDataset
    from kedro_scanflow.supervision.checker_nodes import fit_drift_detector

    from .conftest import REPO_ROOT

    digits = (
        IdxImageDataset(
            str(REPO_ROOT / "data/01_raw/mnist_5k/images-idx3-ubyte.gz"),
            str(REPO_ROOT / "data/01_raw/mnist_5k/labels-idx1-ubyte.gz"),
        )
        .load()
        .subset(np.arange(0, 5000, 16))
    )
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlflow.start_run():
        fitted = fit_drift_detector(
            digits,
            options=DriftDetectorOptions(
                kind="drift_detector", epochs=1, register_as="mnist-drift"
            ),
        )
    reused = fit_drift_detector(
        digits.subset([0]),
        options=DriftDetectorOptions(kind="drift_detector", model_uri="models:/mnist-drift/1"),
    )
    assert np.allclose(reused.score(digits), fitted.score(digits))
    assert np.array_equal(reused.training_losses, fitted.training_losses)
    with pytest.raises(ValidationError, match="choose one"):
        DriftDetectorOptions(kind="drift_detector", model_uri="models:/x/1", register_as="x")
