"""``kedro scanflow deploy --backend kubernetes``: ``serve`` and ``agent`` next to the tracker.

The objects are the client's typed models: ``serve`` (a Deployment that never drops a
request on redeploy, probed on ``/health``, behind a ClusterIP Service on port 8000) and
``agent`` (one at a time, no API token), both running the project's CLI in the project
image, logging to the tracker like tasks do, the shared claim as ``data/``, locked down
like every scanflow pod, and with no credential value anywhere. The deployer runs
against the replayed API server (``tests/kubernetes_api_replay.py``), extended here with
what Deployments and Services need (replace, a Deployment controller's status); the last
test deploys on a real cluster when ``KUBECONFIG`` points to one.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import threading
import time
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from kubernetes.client import ApiClient
from rich.console import Console

from kedro_scanflow.backends.docker.container_plan import (
    TRACKER_CLIENT_SETTINGS,
    task_container_plan,
)
from kedro_scanflow.backends.kubernetes.cluster_api import KubernetesBackendError
from kedro_scanflow.backends.kubernetes.cluster_names import (
    LABEL_COMPONENT,
    LABEL_PROJECT_PATH,
    ClusterNames,
)
from kedro_scanflow.backends.kubernetes.namespace_setup import pod_frame
from kedro_scanflow.backends.kubernetes.pod_templates import (
    container_security_context,
    pod_security_context,
)
from kedro_scanflow.backends.kubernetes.service_deployment import (
    KubernetesServiceDeployer,
    rollout_complete,
)
from kedro_scanflow.backends.kubernetes.service_objects import (
    ANNOTATION_DEPLOYED_AT,
    DEFAULT_REQUESTS,
    agent_deployment,
    serve_deployment,
    serve_service,
    services_tracking_uri,
)
from kedro_scanflow.backends.services import AGENT, SERVE, SERVICE_PORT, ServiceContext
from kedro_scanflow.config import ScanflowConfig
from kedro_scanflow.config.node_settings import TaskSettings

from .kubernetes_api_replay import _CORE, _GROUP, RecordedApiServer, _render, _Scenario, recording
from .kubernetes_toy import EXTERNAL_TRACKER

pytestmark = pytest.mark.timeout(120)

PLANTED_SECRET = "s3cr3t-planted-value-93ab"
PROJECT = "/home/kedro/project"
TRACKER = "http://scanflow-toy-project-tracker:5000"


def scanflow_config(**kubernetes: Any) -> ScanflowConfig:
    options = {"run_as_user": 1000, "image_pull_timeout": 0, **kubernetes}
    return ScanflowConfig.model_validate({"backends": {"kubernetes": options}})


def service_context(project: Path, config: ScanflowConfig, env: str | None = None):
    console = Console(file=io.StringIO(), force_terminal=False)
    return ServiceContext(project, "toy_project", config, env, console)


@pytest.fixture
def locked_config() -> ScanflowConfig:
    """Secrets by name, a registry, pull secrets, resources: everything that must show."""
    return scanflow_config(
        namespace="team-ml",
        registry="registry.example.com/team",
        image_pull_secrets=["registry-pull"],
        secrets=[
            {"secret": "mlflow-auth", "keys": {"MLFLOW_TRACKING_PASSWORD": "password"}},
            {"secret": "s3-credentials"},
        ],
        credentials_secret="kedro-credentials",
        node_selector={"pool": "ml"},
    )


def objects_of(project: Path, config: ScanflowConfig, env: str | None = None, deployed_at=None):
    """serve's Deployment and Service and agent's Deployment, as the deployer builds them."""
    context = service_context(project, config, env)
    names = ClusterNames("toy_project", project, "services", config.backends.kubernetes.namespace)
    frame = pod_frame(config, names, "registry.example.com/team/scanflow/toy-project:latest", 1000)
    options = config.backends.kubernetes
    uri = services_tracking_uri(options, names)
    return (
        serve_deployment(
            names, frame, context.service_command(SERVE), uri, options.resources, deployed_at
        ),
        serve_service(names),
        agent_deployment(
            names, frame, context.service_command(AGENT), uri, options.resources, deployed_at
        ),
    )


def env_of(container) -> dict[str, Any]:
    return {e.name: e.value if e.value is not None else e.value_from for e in container.env}


# The objects ---------------------------------------------------------------------------


def test_serve_and_agent_run_the_projects_cli_in_the_project_image(tmp_path, locked_config):
    serve, _, agent = objects_of(tmp_path, locked_config, env="prod")
    context = service_context(tmp_path, locked_config, env="prod")
    for deployment, service in ((serve, SERVE), (agent, AGENT)):
        [container] = deployment.spec.template.spec.containers
        assert container.name == service
        assert container.command == context.service_command(service)
        assert container.image == "registry.example.com/team/scanflow/toy-project:latest"
        assert container.working_dir == PROJECT
    [serve_container] = serve.spec.template.spec.containers
    assert serve_container.command[:5] == ["kedro", "scanflow", "serve", "--host", "0.0.0.0"]
    assert serve_container.command[-2:] == ["--env", "prod"]
    [agent_container] = agent.spec.template.spec.containers
    assert agent_container.command[:5] == ["kedro", "scanflow", "agent", "--backend", "local"]


def test_services_log_to_the_namespaces_tracker_like_tasks_do(tmp_path, locked_config):
    task_environment = task_container_plan(
        name="t",
        image="i",
        user="1000:1000",
        labels={},
        spec_path=PurePosixPath("spec.json"),
        mounts=[],
        settings=TaskSettings(),
        preload=[],
        await_spec=False,
    ).environment
    for deployment in objects_of(tmp_path, locked_config)[::2]:
        [container] = deployment.spec.template.spec.containers
        env = env_of(container)
        assert env["MLFLOW_TRACKING_URI"] == TRACKER
        assert {k: env[k] for k in TRACKER_CLIENT_SETTINGS} == TRACKER_CLIENT_SETTINGS
        assert {k: env.get(k) for k in task_environment} == task_environment, (
            "the same process environment as a task pod"
        )


def test_with_an_external_tracker_the_services_log_there(tmp_path):
    config = scanflow_config(tracker={"uri": EXTERNAL_TRACKER})
    for deployment in objects_of(tmp_path, config)[::2]:
        [container] = deployment.spec.template.spec.containers
        assert env_of(container)["MLFLOW_TRACKING_URI"] == EXTERNAL_TRACKER


def test_the_shared_claim_is_the_projects_data_folder_as_for_task_pods(tmp_path, locked_config):
    for deployment in objects_of(tmp_path, locked_config)[::2]:
        pod = deployment.spec.template.spec
        [claim] = [v for v in pod.volumes if v.persistent_volume_claim is not None]
        assert claim.persistent_volume_claim.claim_name == "scanflow-toy-project-data"
        assert claim.persistent_volume_claim.read_only is not True
        [container] = pod.containers
        mounts = {m.mount_path: m for m in container.volume_mounts}
        assert mounts[f"{PROJECT}/data"].name == claim.name
        assert not mounts[f"{PROJECT}/data"].read_only, "predictions are written there"
        assert mounts[f"{PROJECT}/conf/local"].read_only is True


def test_serve_listens_on_8000_and_is_probed_on_health(tmp_path, locked_config):
    serve, _, agent = objects_of(tmp_path, locked_config)
    [container] = serve.spec.template.spec.containers
    assert [(p.name, p.container_port) for p in container.ports] == [("http", SERVICE_PORT)]
    for probe in (container.startup_probe, container.readiness_probe, container.liveness_probe):
        assert (probe.http_get.path, probe.http_get.port) == ("/health", SERVICE_PORT)
    assert (
        container.startup_probe.period_seconds * container.startup_probe.failure_threshold >= 120
    ), "loading the champion may take minutes before liveness counts"
    [agent_container] = agent.spec.template.spec.containers
    assert agent_container.ports is None and agent_container.readiness_probe is None


def test_serve_never_drops_a_request_on_redeploy_and_two_agents_never_run(tmp_path, locked_config):
    serve, _, agent = objects_of(tmp_path, locked_config)
    assert serve.spec.replicas == 1
    assert serve.spec.strategy.type == "RollingUpdate"
    assert serve.spec.strategy.rolling_update.max_unavailable == 0
    assert serve.spec.strategy.rolling_update.max_surge == 1
    assert agent.spec.replicas == 1
    assert agent.spec.strategy.type == "Recreate" and agent.spec.strategy.rolling_update is None
    for deployment in (serve, agent):
        assert deployment.spec.template.spec.restart_policy == "Always"


def test_serve_is_reachable_inside_the_cluster_only(tmp_path, locked_config):
    serve, service, agent = objects_of(tmp_path, locked_config)
    assert service.metadata.name == serve.metadata.name == "scanflow-toy-project-serve"
    assert service.spec.type == "ClusterIP"
    [port] = service.spec.ports
    assert (port.port, port.target_port, port.node_port) == (SERVICE_PORT, "http", None)
    assert not service.spec.external_ips and not service.spec.load_balancer_source_ranges
    labels = serve.spec.template.metadata.labels
    assert service.spec.selector.items() <= labels.items(), "the Service selects serve's pods"
    assert not service.spec.selector.items() <= agent.spec.template.metadata.labels.items()


def test_labels_name_the_role_and_selectors_never_change(tmp_path, locked_config):
    serve, service, agent = objects_of(tmp_path, locked_config)
    for obj, role in ((serve, SERVE), (service, SERVE), (agent, AGENT)):
        assert obj.metadata.labels[LABEL_COMPONENT] == role
        assert obj.metadata.namespace == "team-ml"
        assert obj.metadata.labels["app.kubernetes.io/managed-by"] == "kedro-scanflow"
    for deployment in (serve, agent):
        selector = deployment.spec.selector.match_labels
        assert selector.items() <= deployment.spec.template.metadata.labels.items()
        assert LABEL_PROJECT_PATH not in selector, "a selector is immutable: no folder key in it"
    other_checkout = objects_of(tmp_path / "elsewhere", locked_config)
    assert other_checkout[0].spec.selector == serve.spec.selector
    assert agent.metadata.name == "scanflow-toy-project-agent"


def test_service_pods_are_locked_down_like_task_pods_without_an_api_token(tmp_path, locked_config):
    for deployment in objects_of(tmp_path, locked_config)[::2]:
        pod = deployment.spec.template.spec
        assert pod.automount_service_account_token is False
        assert pod.enable_service_links is False
        assert pod.service_account_name == "scanflow"
        assert pod.security_context == pod_security_context(1000)
        assert pod.node_selector == {"pool": "ml"}
        assert [s.name for s in pod.image_pull_secrets] == ["registry-pull"]
        [container] = pod.containers
        assert container.security_context == container_security_context(1000)
        assert container.security_context.read_only_root_filesystem is True
        tmp = {v.name for v in pod.volumes if v.empty_dir is not None}
        assert {m.name for m in container.volume_mounts if m.mount_path == "/tmp"} <= tmp


def test_secrets_are_referenced_by_name_and_no_value_is_written(
    tmp_path, locked_config, monkeypatch
):
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PLANTED_SECRET)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", PLANTED_SECRET)
    objects = objects_of(tmp_path, locked_config)
    wire = json.dumps([ApiClient().sanitize_for_serialization(o) for o in objects])
    assert PLANTED_SECRET not in wire
    for deployment in objects[::2]:
        pod = deployment.spec.template.spec
        [container] = pod.containers
        password = env_of(container)["MLFLOW_TRACKING_PASSWORD"]
        assert (password.secret_key_ref.name, password.secret_key_ref.key) == (
            "mlflow-auth",
            "password",
        )
        assert [s.secret_ref.name for s in container.env_from] == ["s3-credentials"]
        [conf_local] = [v for v in pod.volumes if v.secret is not None]
        assert conf_local.secret.secret_name == "kedro-credentials"


def test_every_object_survives_the_client_serializer(tmp_path, locked_config):
    client = ApiClient()
    for obj in objects_of(tmp_path, locked_config, deployed_at="2026-11-23T09:14:00Z"):
        assert type(obj).__module__.startswith("kubernetes.client.models")
        wire = client.sanitize_for_serialization(obj)
        back = client.deserialize(json.dumps(wire), type(obj).__name__, "application/json")
        assert back == obj, obj.kind
        assert client.sanitize_for_serialization(back) == wire


def test_resources_come_from_the_backend_defaults_else_small_requests(tmp_path):
    serve, _, agent = objects_of(tmp_path, scanflow_config())
    for deployment in (serve, agent):
        resources = deployment.spec.template.spec.containers[0].resources
        assert resources.requests == DEFAULT_REQUESTS and resources.limits is None
    sized = scanflow_config(resources={"cpus": 2, "memory": "4g", "requests": {"cpus": 0.5}})
    for deployment in objects_of(tmp_path, sized)[::2]:
        resources = deployment.spec.template.spec.containers[0].resources
        assert resources.limits == {"cpu": "2", "memory": "4096Mi"}
        assert resources.requests == {"cpu": "500m"}


def test_every_deploy_marks_the_pod_template_so_that_pods_are_rolled(tmp_path, locked_config):
    first = objects_of(tmp_path, locked_config, deployed_at="2026-11-23T09:14:00Z")
    second = objects_of(tmp_path, locked_config, deployed_at="2026-11-23T10:02:00Z")
    for before, after in ((first[0], second[0]), (first[2], second[2])):
        assert before.spec.template.metadata.annotations == {
            ANNOTATION_DEPLOYED_AT: "2026-11-23T09:14:00Z"
        }
        assert before.spec.template != after.spec.template
        assert before.spec.selector == after.spec.selector


# The deployer, against the replayed API server -----------------------------------------


class ServicesApiServer(RecordedApiServer):
    """The replayed API server, with what ``deploy`` uses beyond a run: ``PUT`` (replace,
    with the API server's checks: ``resourceVersion``, immutable selectors and cluster IPs)
    and a Deployment controller that plays the recorded pod of each role, then writes the
    Deployment's status; a new pod that is not ready leaves the old one in place, as
    ``maxUnavailable: 0`` does."""

    def __init__(self, pods: dict[str, str] | None = None, refuse: dict[str, int] | None = None):
        """Create the server.

        Args:
            pods: Recording of the pod per role (``{"serve": "serve_pod_crash_loop"}``);
                default ``service_pod_ready`` (``tracker_pod_ready`` for the tracker).
            refuse: ``"METHOD resource"`` -> HTTP status to answer instead.
        """
        super().__init__()
        self.pods = pods or {}
        self.refuse = refuse or {}
        self.conflicts = 0
        """Replaces to answer with 409, as when a controller wrote the object meanwhile."""
        self._cluster_ips = (f"10.96.{n // 250}.{n % 250 + 2}" for n in range(10_000))

    def replaced(self, resource: str) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.method == "PUT" and f"/{resource}/" in r.path]

    def stored(self, resource: str) -> dict[str, dict[str, Any]]:
        return {name: obj for (kind, name), obj in self.objects.items() if kind == resource}

    def _answer(self, method, path, query, body):
        match = _CORE.match(path) or _GROUP.match(path)
        if match is not None and f"{method} {match['res']}" in self.refuse:
            code = self.refuse[f"{method} {match['res']}"]
            return _Response(code, _status(code, "Forbidden" if code == 403 else "Error", path))
        if method == "PUT" and match is not None and self.conflicts:
            self.conflicts -= 1
            return _Response(409, _status(409, "Conflict", "the object has been modified"))
        if method == "PUT" and match is not None:
            return self._replace(match["res"], match["name"], body)
        return super()._answer(method, path, query, body)

    def _create(self, resource, body):
        body = json.loads(json.dumps(body))
        if resource == "services":
            body["spec"].setdefault("clusterIP", next(self._cluster_ips))
            body["spec"]["clusterIPs"] = [body["spec"]["clusterIP"]]
        if resource == "deployments":
            body["metadata"]["generation"] = 1
        return super()._create(resource, body)

    def _replace(self, resource: str, name: str, body: dict[str, Any]):
        with self._changed:
            current = self.objects.get((resource, name))
            if current is None:
                return _Response(404, _status(404, "NotFound", name))
            version = body["metadata"].get("resourceVersion")
            if resource == "services" and not version:
                return _Response(
                    422,
                    _status(
                        422, "Invalid", "metadata.resourceVersion must be specified for an update"
                    ),
                )
            if version and version != current["metadata"]["resourceVersion"]:
                return _Response(409, _status(409, "Conflict", "the object has been modified"))
            if (
                resource == "deployments"
                and body["spec"]["selector"] != current["spec"]["selector"]
            ):
                return _Response(422, _status(422, "Invalid", "spec.selector: field is immutable"))
            if (
                resource == "services"
                and body["spec"].get("clusterIP") != current["spec"]["clusterIP"]
            ):
                return _Response(422, _status(422, "Invalid", "spec.clusterIP: field is immutable"))
            obj = json.loads(json.dumps(body))
            for key in ("uid", "creationTimestamp"):
                obj["metadata"][key] = current["metadata"][key]
            rolls = resource == "deployments" and obj["spec"] != current["spec"]
            if resource == "deployments":
                obj["metadata"]["generation"] = current["metadata"]["generation"] + int(rolls)
                obj["status"] = current.get("status", {})
            self._store(resource, "MODIFIED", obj)
        if rolls:
            self._start_deployment(obj)
        return _Response(200, obj)

    def _delete(self, resource, name):
        obj = self.objects.get((resource, name))
        answer = super()._delete(resource, name)
        if resource == "deployments" and obj is not None:
            with self._changed:
                for pod in self._pods_of_deployment(obj):
                    self._store("pods", "DELETED", pod)
        return answer

    def _pods_of_deployment(self, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        selector = deployment["spec"]["selector"]["matchLabels"]
        return [
            obj
            for (resource, _), obj in list(self.objects.items())
            if resource == "pods" and selector.items() <= obj["metadata"]["labels"].items()
        ]

    def _start_deployment(self, deployment: dict[str, Any]) -> None:
        """The ReplicaSet of the current generation makes its pod; the status follows."""
        template = deployment["spec"]["template"]
        role = template["metadata"]["labels"].get(LABEL_COMPONENT, "")
        name = deployment["metadata"]["name"]
        generation = deployment["metadata"]["generation"]
        template_hash = f"{uuid.uuid4().hex[:8]}g{generation}"
        default = "tracker_pod_ready" if role == "tracker" else "service_pod_ready"
        values = {
            "deployment": name,
            "pod": f"{name}-{template_hash}-{uuid.uuid4().hex[:5]}",
            "namespace": deployment["metadata"]["namespace"],
            "pod_uid": str(uuid.uuid4()),
            "replicaset_uid": str(uuid.uuid4()),
            "image": template["spec"]["containers"][0]["image"],
            "container": template["spec"]["containers"][0]["name"],
            "template_hash": template_hash,
        }
        recorded = _render(recording(self.pods.get(role, default)), values)
        if "log" in recorded:
            self._scenarios[values["pod"]] = _Scenario(recorded, values, recorded["events"])
        with self._changed:
            old = self._pods_of_deployment(deployment)
            for index, state in enumerate(recorded["pod_states"]):
                state["metadata"]["labels"].update(template["metadata"]["labels"])
                self._store("pods", "ADDED" if index == 0 else "MODIFIED", state)
            ready = _is_ready(recorded["pod_states"][-1])
            if ready:
                for pod in old:
                    self._store("pods", "DELETED", pod)
            available = 1 if ready else sum(_is_ready(p) for p in old)
            current = self.objects.get(("deployments", name))
            if current is None:
                return
            updated = json.loads(json.dumps(current))
            updated["status"] = {
                "observedGeneration": generation,
                "replicas": 1 if ready else len(old) + 1,
                "updatedReplicas": 1,
                "readyReplicas": available,
                "availableReplicas": available,
                **({} if ready else {"unavailableReplicas": 1}),
                "conditions": [
                    {
                        "type": "Available",
                        "status": "True" if available else "False",
                        "reason": "MinimumReplicasAvailable"
                        if available
                        else "MinimumReplicasUnavailable",
                        "message": "Deployment has minimum availability."
                        if available
                        else "Deployment does not have minimum availability.",
                    },
                    {
                        "type": "Progressing",
                        "status": "True",
                        "reason": "NewReplicaSetAvailable" if ready else "ReplicaSetUpdated",
                        "message": f'ReplicaSet "{name}-{template_hash}" is progressing.',
                    },
                ],
            }
            self._store("deployments", "MODIFIED", updated)


class _Response:
    """An answer of the API server, as urllib3 gives it to the client."""

    def __init__(self, status: int, body: Any):
        self.status = status
        self.reason = "OK" if status < 400 else "Error"
        self.headers = {"content-type": "application/json"}
        self.data = json.dumps(body).encode()

    def getheaders(self) -> dict[str, str]:
        return self.headers


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": f"{reason}: {message}",
        "reason": reason,
        "code": code,
    }


def _is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def deployer_for(
    tmp_path: Path, server: ServicesApiServer, ready_timeout: float = 5, **options: Any
) -> KubernetesServiceDeployer:
    return KubernetesServiceDeployer(
        service_context(tmp_path, scanflow_config(**options)),
        api_client=server.api_client(),
        ready_timeout=ready_timeout,
        poll_seconds=0.05,
    )


def test_deploy_makes_the_tracker_and_the_services_and_says_how_to_reach_serve(tmp_path):
    server = ServicesApiServer()
    report = deployer_for(tmp_path, server).deploy()

    namespace = "scanflow-toy-project"
    created = {
        (r.path.rsplit("/", 1)[1], r.body["metadata"]["name"])
        for r in server.requests
        if r.method == "POST"
    }
    assert {
        ("deployments", "scanflow-toy-project-tracker"),
        ("services", "scanflow-toy-project-tracker"),
        ("persistentvolumeclaims", "scanflow-toy-project-data"),
        ("deployments", "scanflow-toy-project-serve"),
        ("services", "scanflow-toy-project-serve"),
        ("deployments", "scanflow-toy-project-agent"),
    } <= created
    posts = [r.body["metadata"]["name"] for r in server.requests if r.method == "POST"]
    assert posts.index("scanflow-toy-project-serve") > posts.index(
        "scanflow-toy-project-tracker"
    ), "the tracker exists before serve asks it for the champion"
    assert not server.replaced("deployments") and not server.replaced("services")
    assert report.objects == [
        "Deployment/scanflow-toy-project-serve",
        "Service/scanflow-toy-project-serve",
        "Deployment/scanflow-toy-project-agent",
    ]
    assert report.serve_address.startswith(
        f"kubectl -n {namespace} port-forward service/scanflow-toy-project-serve 8000:8000"
    )
    assert "service/scanflow-toy-project-tracker 5000:5000" in report.tracker_address
    assert any("logs -f deployment/scanflow-toy-project-agent" in note for note in report.notes)
    serve = server.stored("deployments")["scanflow-toy-project-serve"]
    assert rollout_complete(
        ApiClient().deserialize(json.dumps(serve), "V1Deployment", "application/json")
    )


def test_redeploy_replaces_the_services_and_rolls_their_pods(tmp_path):
    server = ServicesApiServer()
    deployer_for(tmp_path, server).deploy()
    before = server.stored("deployments")
    service_ip = server.stored("services")["scanflow-toy-project-serve"]["spec"]["clusterIP"]
    first = len(server.requests)

    deployer_for(tmp_path, server).deploy()

    replaced = {d["metadata"]["name"] for d in server.replaced("deployments")}
    assert replaced == {"scanflow-toy-project-serve", "scanflow-toy-project-agent"}
    assert [s["metadata"]["name"] for s in server.replaced("services")] == [
        "scanflow-toy-project-serve"
    ]
    created_again = {
        r.body["metadata"]["name"] for r in server.requests[first:] if r.method == "POST"
    }
    assert not created_again & {
        "scanflow-toy-project-serve",
        "scanflow-toy-project-agent",
    }, "the second deploy replaces, never creates"
    after = server.stored("deployments")
    for name in ("scanflow-toy-project-serve", "scanflow-toy-project-agent"):
        assert after[name]["metadata"]["generation"] == before[name]["metadata"]["generation"] + 1
    assert after["scanflow-toy-project-tracker"] == before["scanflow-toy-project-tracker"], (
        "the tracker is reused as is"
    )
    assert (
        server.stored("services")["scanflow-toy-project-serve"]["spec"]["clusterIP"] == service_ip
    )
    serve_pods = [
        p
        for p in server.stored("pods").values()
        if p["metadata"]["labels"][LABEL_COMPONENT] == SERVE
    ]
    assert len(serve_pods) == 1, "the new serve pod replaced the old one"


def test_a_serve_pod_that_keeps_crashing_fails_the_deploy_with_its_state_events_and_log(tmp_path):
    server = ServicesApiServer(pods={SERVE: "serve_pod_crash_loop"})
    deployer = deployer_for(tmp_path, server, ready_timeout=60)  # reported before that
    started = time.monotonic()
    with pytest.raises(KubernetesBackendError) as raised:
        deployer.deploy()
    message = str(raised.value)
    assert time.monotonic() - started < 30
    assert (
        "serve (Deployment scanflow-toy-project-serve in namespace scanflow-toy-project) is not ready"
        in message
    )
    assert "keeps crashing" in message
    assert "CrashLoopBackOff" in message and "restarted 3 times, last exit code 1" in message
    assert "event Warning BackOff: Back-off restarting failed container serve" in message
    assert (
        "kubectl -n scanflow-toy-project describe deployment/scanflow-toy-project-serve" in message
    )
    assert message.rstrip().endswith(
        "has no toy-digits@champion: train and register a model first "
        "(e.g. `kedro scanflow run --pipeline training`)."
    ), "the message ends with serve's log"


def test_a_serve_pod_that_never_answers_health_fails_at_the_timeout(tmp_path):
    server = ServicesApiServer(pods={SERVE: "serve_pod_not_ready"})
    deployer = deployer_for(tmp_path, server, ready_timeout=1)
    with pytest.raises(KubernetesBackendError) as raised:
        deployer.deploy()
    message = str(raised.value)
    assert "it is not ready after 1 s" in message
    assert "running, not ready (its probes do not pass)" in message
    assert "Startup probe failed" in message
    assert "Deployment: Available=False MinimumReplicasUnavailable" in message


def test_a_failed_redeploy_leaves_the_previous_serve_pod_answering(tmp_path):
    server = ServicesApiServer()
    deployer_for(tmp_path, server).deploy()
    [old] = [
        p
        for p in server.stored("pods").values()
        if p["metadata"]["labels"][LABEL_COMPONENT] == SERVE
    ]
    server.pods[SERVE] = "serve_pod_crash_loop"
    with pytest.raises(KubernetesBackendError, match="keeps crashing"):
        deployer_for(tmp_path, server).deploy()
    serve_pods = [
        p
        for p in server.stored("pods").values()
        if p["metadata"]["labels"][LABEL_COMPONENT] == SERVE
    ]
    assert old["metadata"]["name"] in {p["metadata"]["name"] for p in serve_pods}
    assert len(serve_pods) == 2 and sum(map(_is_ready, serve_pods)) == 1


def test_an_object_changed_during_a_replace_is_read_again_and_replaced(tmp_path):
    server = ServicesApiServer()
    deployer_for(tmp_path, server).deploy()
    server.conflicts = 2
    deployer_for(tmp_path, server).deploy()
    assert len(server.replaced("deployments")) == 2 + 2, "two conflicts, then both replaced"


def test_remove_deletes_the_services_and_keeps_tracker_claims_and_rbac(tmp_path):
    server = ServicesApiServer()
    deployer_for(tmp_path, server).deploy()
    kept = {key for key in server.objects if key[0] != "pods"} - {
        ("deployments", "scanflow-toy-project-serve"),
        ("deployments", "scanflow-toy-project-agent"),
        ("services", "scanflow-toy-project-serve"),
    }

    removed = deployer_for(tmp_path, server).remove()

    assert sorted(removed) == [
        "Deployment/scanflow-toy-project-agent",
        "Deployment/scanflow-toy-project-serve",
        "Service/scanflow-toy-project-serve",
    ]
    assert {key for key in server.objects if key[0] != "pods"} == kept
    assert ("deployments", "scanflow-toy-project-tracker") in kept
    assert ("persistentvolumeclaims", "scanflow-toy-project-data") in kept
    assert ("roles", "scanflow-toy-project-runner") in kept
    roles = {p["metadata"]["labels"][LABEL_COMPONENT] for p in server.stored("pods").values()}
    assert roles == {"tracker"}, "the services' pods went with them"
    assert deployer_for(tmp_path, server).remove() == [], "removing twice is fine"


def test_a_claim_only_one_pod_may_mount_is_refused_before_anything_is_made(tmp_path):
    server = ServicesApiServer()
    deployer = deployer_for(tmp_path, server, storage={"access_modes": ["ReadWriteOncePod"]})
    with pytest.raises(KubernetesBackendError, match="ReadWriteOncePod.*ReadWriteMany"):
        deployer.deploy()
    assert not server.requests


def test_without_the_right_to_replace_the_error_says_which_rights_deploy_needs(tmp_path):
    server = ServicesApiServer()
    deployer_for(tmp_path, server).deploy()
    server.refuse["PUT deployments"] = 403
    with pytest.raises(KubernetesBackendError) as raised:
        deployer_for(tmp_path, server).deploy()
    message = str(raised.value)
    assert "Cannot create or replace Deployment scanflow-toy-project-serve" in message
    assert "update and delete on deployments and services" in message
    assert "Role is not widened" in message


def test_the_runner_role_is_not_widened_for_the_services():
    from kedro_scanflow.backends.kubernetes.project_objects import RUNNER_RULES  # noqa: PLC0415

    rules = {(group, resource): verbs for group, resource, verbs in RUNNER_RULES}
    assert rules[("apps", "deployments")] == ("create", "get")
    assert rules[("", "services")] == ("create", "get")


# On a real cluster --------------------------------------------------------------------

HOW_TO = "see docs/kubernetes.md, 'Serving and the agent', to run it on kind, minikube or k3d"
SERVED_MODEL = "toy-digits"


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
        VersionApi(client).get_code(_request_timeout=10)
    except Exception as error:  # noqa: BLE001 - any failure means: no usable cluster
        pytest.skip(f"No Kubernetes cluster reachable through {kubeconfig}: {error} ({HOW_TO})")
    return client


def _register_champion(tracking_uri: str) -> str:
    keras = pytest.importorskip("keras")
    mlflow = pytest.importorskip("mlflow")
    from kedro_scanflow.tracking.model_registry import ModelRegistry  # noqa: PLC0415

    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    client = mlflow.tracking.MlflowClient(tracking_uri)
    experiment = client.create_experiment(f"serve-{secrets.token_hex(3)}")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    try:
        with mlflow.start_run(experiment_id=experiment):
            info = mlflow.keras.log_model(model, name="model")
    finally:
        mlflow.set_tracking_uri(previous)
    registry = ModelRegistry(client)
    version = str(registry.register(info.model_uri, SERVED_MODEL).version)
    registry.promote(SERVED_MODEL, version)
    return version


def _post_digit(port: int) -> tuple[int, dict]:
    import urllib.request  # noqa: PLC0415

    body = json.dumps({"image": [[0.0] * 28] * 28}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/predict", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.load(response)


@pytest.mark.kubernetes
@pytest.mark.timeout(1800)
def test_serve_and_agent_deploy_answer_redeploy_and_go_on_a_real_cluster(tmp_path, cluster_client):
    from kubernetes.client import CoreV1Api  # noqa: PLC0415

    from kedro_scanflow.backends.kubernetes.tracker_tunnel import TrackerTunnel  # noqa: PLC0415

    namespace = f"scanflow-it-{secrets.token_hex(3)}"
    config = ScanflowConfig.model_validate(
        {
            "backends": {
                "kubernetes": {
                    "namespace": namespace,
                    "image": os.environ.get("SCANFLOW_K8S_IMAGE", "scanflow/toy-project:latest"),
                    "storage": {"size": "1Gi"},
                    "tracker": {"size": "1Gi"},
                    "image_pull_timeout": 180,
                }
            }
        }
    )
    context = service_context(tmp_path, config)
    deployer = KubernetesServiceDeployer(context, api_client=cluster_client, ready_timeout=600)
    try:
        cluster = deployer.prepare()
        names = deployer.names
        tracker_pod = cluster.pods(names.selector_text(names.project_labels("tracker")))[0]
        with TrackerTunnel(
            lambda: cluster.port_forward(tracker_pod.metadata.name, 5000)
        ).start() as tunnel:
            _register_champion(tunnel.uri)

        report = deployer.deploy()
        assert report.serve_address.startswith(f"kubectl -n {namespace} port-forward service/")
        selector = names.selector_text(
            {"scanflow.io/project": names.project_slug, LABEL_COMPONENT: SERVE}
        )

        def ready_pods() -> list:
            return [
                p
                for p in cluster.pods(selector)
                if p.metadata.deletion_timestamp is None
                and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
            ]

        def answer() -> dict:
            pod = ready_pods()[0]
            forward = TrackerTunnel(lambda: cluster.port_forward(pod.metadata.name, SERVICE_PORT))
            with forward.start():
                status, body = _post_digit(forward.port)
            assert status == 200, body
            return body

        assert len(answer()["predictions"]) == 1

        # While a redeploy rolls serve, the Service always has a ready pod behind it.
        ready_counts: list[int] = []
        stop = threading.Event()

        def watch_endpoints() -> None:
            while not stop.is_set():
                ready_counts.append(len(ready_pods()))
                time.sleep(0.5)

        watching = threading.Thread(target=watch_endpoints, daemon=True)
        watching.start()
        deployer.deploy()
        stop.set()
        watching.join(timeout=60)
        assert ready_counts and min(ready_counts) >= 1, ready_counts
        assert len(answer()["predictions"]) == 1, "the new serve pod answers"

        removed = deployer.remove()
        assert sorted(removed) == sorted(report.objects)
        assert cluster.apps.read_namespaced_deployment(names.tracker, namespace), (
            "the tracker stays"
        )
        claims = cluster.core.list_namespaced_persistent_volume_claim(namespace).items
        assert {c.metadata.name for c in claims} >= {names.data_claim, names.tracker_claim}
    finally:
        CoreV1Api(cluster_client).delete_namespace(namespace)
