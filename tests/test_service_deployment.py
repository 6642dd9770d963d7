"""``kedro scanflow deploy --backend docker`` for real: the starter's image, trained with
the Docker backend, then ``serve`` and ``agent`` as containers next to the tracker. The
served champion answers on 127.0.0.1, the agent runs a cycle inside its container on the
recorded predictions, and ``--down`` removes the services but keeps the data."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from kedro_scanflow.images.base_image import BaseImageBuilder
from kedro_scanflow.images.docker_engine import DockerEngineError, docker_client
from kedro_scanflow.io import NpzImageDataset

from .conftest import free_port, render_starter

pytestmark = [pytest.mark.docker, pytest.mark.slow]
BASE_IMAGE = "scanflow-base:bookworm"
LABELS = {"scanflow.deployment": "true"}


@pytest.fixture(scope="module")
def engine():
    try:
        return docker_client()
    except DockerEngineError as error:
        pytest.skip(f"Docker engine not reachable: {error}")


@pytest.fixture(scope="module")
def deployed_project(engine, tmp_path_factory):
    """The starter with a small agent loop, its image built, trained on the Docker backend."""
    BaseImageBuilder(BASE_IMAGE).build()
    workspace = tmp_path_factory.mktemp("deploy")
    project = render_starter(workspace)
    config = project.path / "conf/base/scanflow.yml"
    text = (
        config.read_text()
        .replace("n_critical: 100", "n_critical: 20")
        .replace("epochs: 10", "epochs: 2")
    )
    port = free_port()
    config.write_text(
        text + f"\nserve:\n  port: {port}\n  poll_seconds: 1\n"
        "agent:\n  min_new_predictions: 120\n  min_critical: 5\n  poll_seconds: 1\n"
    )
    for command in (
        ("scanflow", "build"),
        ("scanflow", "run", "--backend", "docker", "-p", "training"),
    ):
        result = project.kedro(*command, timeout=1800)
        assert result.returncode == 0, result
    yield project, port
    project.kedro("scanflow", "deploy", "--down")


def test_deployed_services_serve_the_champion_and_the_agent_runs_a_cycle(deployed_project, engine):
    project, port = deployed_project
    deployed = project.kedro("scanflow", "deploy", "--backend", "docker", timeout=900)
    assert deployed.returncode == 0, deployed
    assert f"serve:   http://127.0.0.1:{port}" in deployed.output

    containers = {
        c.labels["scanflow.role"]: c
        for c in engine.containers.list(filters={"label": "scanflow.deployment=true"})
    }
    assert set(containers) == {"tracker", "serve", "agent"}
    for role, container in containers.items():
        config, host = container.attrs["Config"], container.attrs["HostConfig"]
        assert config["User"] not in ("", "0", "root") and not config["User"].startswith("0:"), role
        assert (
            host["CapDrop"] == ["ALL"]
            and host["ReadonlyRootfs"] is True
            and host["Privileged"] is False
        )
        assert "no-new-privileges:true" in host["SecurityOpt"]
        assert host["RestartPolicy"]["Name"] == "unless-stopped"
        mounts = [mount["Source"] for mount in container.attrs["Mounts"]]
        assert not any("docker.sock" in source for source in mounts), (
            "no service gets the Docker socket"
        )
    bindings = containers["serve"].attrs["HostConfig"]["PortBindings"]["8000/tcp"]
    assert [b["HostIp"] for b in bindings] == ["127.0.0.1"], "serve is published on loopback only"

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
        assert json.load(response)["model_version"] == "1"
    digits = NpzImageDataset(str(project.path / "data/05_model_input/test_digits.npz")).load()
    for start in range(0, 150, 50):
        body = json.dumps(
            {
                "images": digits.images[start : start + 50].tolist(),
                "labels": digits.labels[start : start + 50].tolist(),
            }
        ).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert len(json.load(response)["predictions"]) == 50

    state_file = project.path / "data/scanflow/agent/state.json"
    deadline = time.time() + 900
    while time.time() < deadline:
        if state_file.exists() and json.loads(state_file.read_text())["history"]:
            break
        assert containers["agent"].reload() or containers["agent"].status == "running", containers[
            "agent"
        ].logs(tail=50)
        time.sleep(2)
    else:
        pytest.fail(
            "the agent finished no cycle:\n"
            + containers["agent"].logs(tail=80).decode(errors="replace")
        )
    [cycle] = json.loads(state_file.read_text())["history"]
    assert cycle["critical"] == 20 and cycle["until"] == 150 and cycle["outcome"]
    assert not cycle["outcome"].startswith("failed"), cycle

    removed = project.kedro("scanflow", "deploy", "--down")
    assert removed.returncode == 0, removed
    assert not engine.containers.list(all=True, filters={"label": "scanflow.deployment=true"})
    assert state_file.exists() and (project.path / "data/scanflow/predictions.db").exists(), (
        "--down keeps the data"
    )
