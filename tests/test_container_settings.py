"""How tasks become containers, without an engine: settings, limits, security, memory sizes."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from pydantic import ValidationError

from kedro_scanflow.backends.docker.container_plan import (
    TRACKER_CPU_SHARES,
    WAITING_TASK_CPU_SHARES,
    shared_mounts,
    task_container_plan,
    tracker_container_plan,
)
from kedro_scanflow.backends.docker.container_runtime import container_arguments
from kedro_scanflow.config.node_settings import settings_for
from kedro_scanflow.config.scanflow_config import ResourceOptions, ScanflowConfig, memory_bytes
from kedro_scanflow.images.project_image import variant_image_name
from kedro_scanflow.pipeline.task_plan import Task


def _task(name: str, tags=(), namespace=None) -> Task:
    return Task(
        name=name,
        slug=name.replace("_", "-").replace(".", "-"),
        nodes=(name,),
        dependencies=frozenset(),
        inputs=frozenset(),
        outputs=frozenset(),
        tags=frozenset(tags),
        namespace=namespace,
    )


@pytest.fixture
def config() -> ScanflowConfig:
    return ScanflowConfig.model_validate(
        {
            "backends": {"docker": {"resources": {"memory": "1g"}}},
            "nodes": [
                {"select": {"tags": ["modeling"]}, "resources": {"cpus": 2, "memory": "4g"}},
                {
                    "select": {"nodes": ["train"]},
                    "resources": {"gpus": 1},
                    "requirements": ["torch"],
                },
                {"select": {"namespaces": ["debugging"]}, "image": "my/debug:1"},
            ],
        }
    )


def test_later_entries_override_earlier_ones_field_by_field(config):
    defaults = config.backends.docker.resources
    train = settings_for(_task("train", tags=["modeling"]), config.nodes, defaults)
    assert (train.resources.cpus, train.resources.memory, train.resources.gpus) == (2, "4g", 1)
    assert train.requirements == ("torch",) and train.image is None
    other = settings_for(_task("split"), config.nodes, defaults)
    assert other.resources == ResourceOptions(memory="1g")
    nested = settings_for(
        _task("debugging.mdwi.fit", namespace="debugging.mdwi"), config.nodes, defaults
    )
    assert nested.image == "my/debug:1", "a namespace selects its sub-namespaces"
    assert (
        settings_for(_task("debuggingX.fit", namespace="debuggingX"), config.nodes, defaults).image
        is None
    )


def test_container_arguments_carry_limits_gpus_and_the_security_defaults(config, tmp_path):
    settings = settings_for(
        _task("train", tags=["modeling"]), config.nodes, config.backends.docker.resources
    )
    plan = task_container_plan(
        name="c",
        image="scanflow/p:latest",
        user="10001:10001",
        labels={"scanflow.task": "train"},
        spec_path=PurePosixPath("data/scanflow/runs/r/tasks/train.spec.json"),
        mounts=shared_mounts(tmp_path, tmp_path / "data/scanflow/runs/r"),
        settings=settings,
        preload=["tensorflow"],
        await_spec=True,
    )
    arguments = container_arguments(plan)
    assert arguments["nano_cpus"] == 2_000_000_000 and arguments["mem_limit"] == 4 * 2**30
    [request] = arguments["device_requests"]
    assert request["Count"] == 1 and request["Capabilities"] == [["gpu"]]
    assert arguments["privileged"] is False and arguments["cap_drop"] == ["ALL"]
    assert (
        arguments["security_opt"] == ["no-new-privileges:true"] and arguments["read_only"] is True
    )
    assert arguments["user"] == "10001:10001"
    assert arguments["volumes"] == {
        str(tmp_path / "data"): {"bind": "/home/kedro/project/data", "mode": "rw"},
        str(tmp_path / "conf"): {"bind": "/home/kedro/project/conf", "mode": "ro"},
    }
    assert "/var/run/docker.sock" not in str(arguments)
    assert arguments["command"][-4:] == [
        "/home/kedro/project",
        "--await-spec",
        "--preload",
        "tensorflow",
    ]


def test_waiting_containers_yield_the_cpu_to_running_tasks_and_the_tracker(config, tmp_path):
    settings = settings_for(_task("train"), config.nodes, config.backends.docker.resources)

    def plan(await_spec: bool):
        return task_container_plan(
            name="c",
            image="scanflow/p:latest",
            user="10001:10001",
            labels={},
            spec_path=PurePosixPath("data/scanflow/runs/r/tasks/train.spec.json"),
            mounts=[],
            settings=settings,
            preload=[],
            await_spec=await_spec,
        )

    waiting, due = container_arguments(plan(True)), container_arguments(plan(False))
    assert waiting["cpu_shares"] == WAITING_TASK_CPU_SHARES < 1024
    assert "--await-spec" in waiting["command"]
    assert "cpu_shares" not in due and "--await-spec" not in due["command"]
    tracker = container_arguments(
        tracker_container_plan(
            name="t", image="scanflow/p:latest", user="1:1", labels={}, port=5000, volume="v"
        )
    )
    assert tracker["cpu_shares"] == TRACKER_CPU_SHARES > 1024
    assert tracker["environment"]["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert waiting["environment"]["MLFLOW_DISABLE_TELEMETRY"] == "true"


def test_a_run_directory_outside_data_is_mounted_too(tmp_path):
    mounts = shared_mounts(tmp_path, tmp_path / "runs" / "r1")
    assert [m.target for m in mounts] == [
        "/home/kedro/project/data",
        "/home/kedro/project/conf",
        "/home/kedro/project/runs/r1",
    ]


def test_memory_sizes_are_binary_like_docker_and_bad_values_are_refused():
    assert memory_bytes("512m") == 512 * 2**20 == memory_bytes("512Mi")
    assert memory_bytes("1.5g") == int(1.5 * 2**30)
    for bad in ("lots", "-1g", "0"):
        with pytest.raises(ValueError):
            memory_bytes(bad)
    with pytest.raises(ValidationError, match="cpus"):
        ScanflowConfig.model_validate(
            {"nodes": [{"select": {"tags": ["x"]}, "resources": {"cpus": -1}}]}
        )
    with pytest.raises(ValidationError, match="gpus"):
        ScanflowConfig.model_validate({"backends": {"docker": {"resources": {"gpus": -2}}}})


def test_variant_images_are_named_after_their_requirements():
    first = variant_image_name("scanflow/p:latest", ["torch", "pillow"])
    assert first == variant_image_name("scanflow/p:latest", ["pillow", "torch"])
    assert first.startswith("scanflow/p:latest-") and first != variant_image_name(
        "scanflow/p:latest", ["torch"]
    )
    assert variant_image_name("registry:5000/p", ["x"]).startswith("registry:5000/p:latest-")


def test_the_project_path_is_not_part_of_the_image_layers(tmp_path):
    mounts = shared_mounts(
        Path("/somewhere/project"), Path("/somewhere/project/data/scanflow/runs/r")
    )
    assert len(mounts) == 2, "the run directory under data/ needs no mount of its own"
