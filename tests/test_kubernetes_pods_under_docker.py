"""The exported Kubernetes workflow, run in the real project image with Docker in place of
the kubelet.

No cluster can run on the CI machine, but its Docker engine can run the containers of the
exported Jobs exactly as their pod specs say: the image, command and environment, the
unprivileged uid, a read-only root file system with ``/tmp`` in memory, no capabilities,
the shared claim (a Docker volume) and the termination-message file; the tracker
Deployment's container is reachable under its Service's name. This shows that what the
pods run works: the spec from the environment, the failure in the termination message,
the upstream gates, the seedless data on the claim and the in-cluster tracker URI.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
from kubernetes.client import ApiClient

from kedro_scanflow.config import ScanflowConfig
from kedro_scanflow.export.kubernetes_manifests import export_kubernetes
from kedro_scanflow.runs.run_directory import TaskFailure
from kedro_scanflow.runs.run_request import RunRequest

from . import test_docker_backend
from .kubernetes_toy import TOY, toy_plan

# The Docker backend's tests build the toy project's image; reuse it (and its engine).
docker_client = test_docker_backend.docker_client
toy_image = test_docker_backend.toy_image

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]


class Kubelet:
    """Runs the containers of exported pod specs with Docker, one at a time."""

    def __init__(self, client, prefix: str, scratch: Path):
        self.client = client
        self.scratch = scratch
        self.network = client.networks.create(f"{prefix}-net")
        self.volumes = {
            role: client.volumes.create(f"{prefix}-{role}").name for role in ("data", "store")
        }
        self.started = []

    def prepare_volumes(self, image: str, uid: int, raw: Path) -> None:
        """What the cluster's storage gives: claims the pods' user can write; the toy
        project's raw data on the shared claim."""
        for volume in self.volumes.values():
            self.client.containers.run(
                image,
                ["chown", f"{uid}:{uid}", "/v"],
                user="root",
                volumes={volume: {"bind": "/v"}},
                remove=True,
            )
        numbers = raw.read_text()
        self.client.containers.run(
            image,
            [
                "python",
                "-c",
                f"import os; os.makedirs('/v/01_raw'); open('/v/01_raw/numbers.json', 'w').write({numbers!r})",
            ],
            user=str(uid),
            volumes={self.volumes["data"]: {"bind": "/v"}},
            remove=True,
        )

    def run(self, container: dict, pod: dict, alias: str | None = None, detach: bool = False):
        """Run one container of ``pod``; return (exit code, log, termination message)."""
        volumes = {v["name"]: v for v in pod["volumes"]}
        uid = container["securityContext"]["runAsUser"]
        binds, tmpfs = {}, {}
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            if "emptyDir" in volume:
                tmpfs[mount["mountPath"]] = f"rw,exec,uid={uid}"
            elif "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                role = "data" if claim.endswith("-data") else "store"
                binds[self.volumes[role]] = {"bind": mount["mountPath"], "mode": "rw"}
        termination_log = self.scratch / f"termination-{len(self.started)}"
        termination_log.write_text("")
        termination_log.chmod(0o666)
        binds[str(termination_log)] = {"bind": "/dev/termination-log", "mode": "rw"}
        created = self.client.containers.create(
            image=container["image"],
            command=container["command"],
            environment={e["name"]: e["value"] for e in container.get("env", []) if "value" in e},
            working_dir=container.get("workingDir"),
            user=f"{uid}:{container['securityContext']['runAsGroup']}",
            read_only=container["securityContext"]["readOnlyRootFilesystem"],
            cap_drop=container["securityContext"]["capabilities"]["drop"],
            security_opt=["no-new-privileges:true"],
            tmpfs=tmpfs,
            volumes=binds,
            network=self.network.name,
            detach=True,
        )
        self.started.append(created)
        if alias:
            self.network.disconnect(created)
            self.network.connect(created, aliases=[alias])
        created.start()
        if detach:
            return created
        code = created.wait()["StatusCode"]
        return code, created.logs().decode(), termination_log.read_text()

    def close(self) -> None:
        for container in self.started:
            with contextlib.suppress(Exception):
                container.remove(force=True)
        with contextlib.suppress(Exception):
            self.network.remove()
        for volume in self.volumes.values():
            with contextlib.suppress(Exception):
                self.client.volumes.get(volume).remove(force=True)


def run_exported_workflow(toy_image, docker_client, tmp_path, fail_double=False):
    """Export the toy workflow and run its pods one after the other, as the cluster would
    (the tracker first); return each Job's outcome: the gate's, else the task's."""
    config = ScanflowConfig.model_validate({"backends": {"kubernetes": {"image": toy_image}}})
    exported = export_kubernetes(
        plan=toy_plan(),
        config=config,
        request=RunRequest(pipelines=["numbers"]),
        project_path=tmp_path,
        package_name="toy_project",
        experiment="toy",
    )
    documents = [ApiClient().sanitize_for_serialization(obj) for obj in exported.objects]
    jobs = [d for d in documents if d["kind"] == "Job"]
    [tracker] = [d for d in documents if d["kind"] == "Deployment"]
    uid = jobs[0]["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    assert uid != 0
    kubelet = Kubelet(docker_client, f"scanflow-k8s-{exported.run_id}", tmp_path)
    outcomes = {}
    try:
        kubelet.prepare_volumes(toy_image, uid, TOY / "data/01_raw/numbers.json")
        if fail_double:
            docker_client.containers.run(
                toy_image,
                ["python", "-c", "open('/v/FAIL_DOUBLE', 'w').close()"],
                user=str(uid),
                volumes={kubelet.volumes["data"]: {"bind": "/v"}},
                remove=True,
            )
        tracker_pod = tracker["spec"]["template"]["spec"]
        kubelet.run(
            tracker_pod["containers"][0],
            tracker_pod,
            alias=tracker["metadata"]["name"],
            detach=True,
        )
        time.sleep(10)
        for job in jobs:
            labels = job["metadata"]["labels"]
            name = labels.get("scanflow.io/task") or job["metadata"]["name"].rsplit("-", 1)[-1]
            pod = job["spec"]["template"]["spec"]
            outcome = None
            for init in pod.get("initContainers") or []:
                code, log, message = kubelet.run(init, pod)
                if code != 0:
                    outcome = ("gate", code, log, message)
            if outcome is None:
                outcome = ("task", *kubelet.run(pod["containers"][0], pod))
            outcomes[name] = outcome
    finally:
        kubelet.close()
    return outcomes


def test_the_exported_pods_run_the_workflow_in_the_real_image(toy_image, docker_client, tmp_path):
    outcomes = run_exported_workflow(toy_image, docker_client, tmp_path)

    assert sorted(outcomes) == ["double", "finish", "load-numbers", "square", "start", "total"]
    assert all(stage == "task" and code == 0 for stage, code, _, _ in outcomes.values()), outcomes
    assert "Saving data to summary" in outcomes["total"][2]


def test_a_failing_pod_reports_its_node_in_the_termination_message_and_stops_its_dependents(
    toy_image, docker_client, tmp_path
):
    outcomes = run_exported_workflow(toy_image, docker_client, tmp_path, fail_double=True)

    stage, code, _, message = outcomes["double"]
    assert (stage, code) == ("task", 1)
    failure = TaskFailure.model_validate_json(message)
    assert failure.node == "double" and failure.error_type == "RuntimeError"
    assert "FAIL_DOUBLE" in failure.message
    assert outcomes["square"][:2] == ("task", 0), "independent tasks still run"
    for dependent in ("total", "finish"):
        stage, code, log, _ = outcomes[dependent]
        assert (stage, code) == ("gate", 1)
        assert "upstream task(s) failed: double" in log
