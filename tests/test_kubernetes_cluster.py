"""``kedro scanflow run --backend kubernetes`` on a real cluster (kind, minikube, k3d...).

Runs whenever ``KUBECONFIG`` (or ``~/.kube/config``) points to a reachable cluster;
otherwise it is skipped, with the reason, and reported as skipped, never as passed. The
cluster must be able to run the toy project's image, with its raw data baked in
(``SCANFLOW_K8S_IMAGE``, default ``scanflow/toy-project:latest``); docs/kubernetes.md
says how to build it and load it into kind, minikube or k3d.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
import yaml

from kedro_scanflow.backends.kubernetes.cluster_api import ClusterApi
from kedro_scanflow.backends.kubernetes.cluster_names import (
    COMPONENT_TRACKER,
    TRACKER_PORT,
    ClusterNames,
)
from kedro_scanflow.backends.kubernetes.tracker_tunnel import TrackerTunnel
from kedro_scanflow.runs.run_directory import RunDirectory, TaskStatus
from kedro_scanflow.tracking.tracker_query import TrackerQuery

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(1800)]

HOW_TO = "see docs/kubernetes.md to run it on kind, minikube or k3d"


@pytest.fixture(scope="module")
def cluster_client():
    """A client of the cluster KUBECONFIG points to, or a skip that says why there is none."""
    from kubernetes import config  # noqa: PLC0415
    from kubernetes.client import VersionApi  # noqa: PLC0415

    kubeconfig = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    if not all(Path(path).is_file() for path in kubeconfig.split(os.pathsep)):
        pytest.skip(f"No Kubernetes cluster: no kubeconfig at {kubeconfig} ({HOW_TO})")
    try:
        client = config.new_client_from_config()
        version = VersionApi(client).get_code(_request_timeout=10)
    except Exception as error:  # noqa: BLE001 - any failure means: no usable cluster
        pytest.skip(f"No Kubernetes cluster reachable through {kubeconfig}: {error} ({HOW_TO})")
    print(f"Kubernetes {version.git_version} at {client.configuration.host}")
    return client


@pytest.fixture
def cluster_project(toy_project, cluster_client):
    namespace = f"scanflow-it-{secrets.token_hex(3)}"
    settings = yaml.safe_load((toy_project.path / "conf/base/scanflow.yml").read_text())
    settings["tracker"] = {"experiment": "toy"}
    settings["backends"] = {
        "docker": {"include": ["data/01_raw"]},
        "kubernetes": {
            "namespace": namespace,
            "image": os.environ.get("SCANFLOW_K8S_IMAGE", "scanflow/toy-project:latest"),
            "image_pull_policy": "IfNotPresent",
            "storage": {"size": "1Gi", "seed": ["data/01_raw"]},
            "resources": {"cpus": 1, "memory": "1g", "requests": {"cpus": 0.1, "memory": "256m"}},
            "image_pull_timeout": 180,
        },
    }
    (toy_project.path / "conf/base/scanflow.yml").write_text(yaml.safe_dump(settings))
    yield toy_project, ClusterApi(cluster_client, namespace)
    from kubernetes.client import CoreV1Api  # noqa: PLC0415

    CoreV1Api(cluster_client).delete_namespace(namespace)


def test_the_toy_pipeline_runs_as_one_pod_per_node_tracked_in_the_cluster(cluster_project):
    project, cluster = cluster_project
    result = project.kedro("scanflow", "run", "--pipeline", "numbers", "--backend", "kubernetes")
    assert result.returncode == 0, result

    [run] = RunDirectory.list(project.runs_root())
    states = {slug: run.task_state(slug) for slug in ("load-numbers", "double", "square", "total")}
    assert all(state.status == TaskStatus.SUCCEEDED for state in states.values()), states
    jobs = {state.handle for state in states.values()}
    assert len(jobs) == 4, "one Job per node"
    assert "Running node: total" in run.log_path("total").read_text(), "pod logs reach the run"
    names = ClusterNames("toy_project", project.path, run.run_id, cluster.namespace)
    assert not cluster.jobs(names.selector_text(names.run_selector())), "the run cleaned up"

    tracker = cluster.pods(names.selector_text(names.project_labels(COMPONENT_TRACKER)))[0]
    tunnel = TrackerTunnel(lambda: cluster.port_forward(tracker.metadata.name, TRACKER_PORT))
    with tunnel.start():
        query = TrackerQuery(tunnel.uri, experiment="toy")
        [parent] = query.workflow_runs(scanflow_run_id=run.run_id)
        assert parent.status == "FINISHED" and parent.tags["scanflow.backend"] == "kubernetes"
        tasks = {task.name: task for task in query.task_runs(parent.run_id)}
        assert set(tasks) == {"load_numbers", "double", "square", "total"}
        assert {task.tags["scanflow.k8s_job"] for task in tasks.values()} == jobs
        assert tasks["double"].metrics["doubled_sum"] == 20.0
