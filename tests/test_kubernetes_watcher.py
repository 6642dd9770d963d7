"""How a Kubernetes run reacts to what the cluster reports, against recorded API responses.

The real ``KubernetesBackend`` and the shared ``Scheduler`` run the toy project's
pipeline (``load_numbers`` -> ``double`` and ``square`` -> ``total``) through the official
client; only the API server is replayed (``tests/kubernetes_api_replay.py``), from the
situations recorded in ``tests/fixtures/kubernetes``: a pod that succeeds, fails with an
exit code, is evicted, cannot pull its image, runs past its deadline, is OOM-killed, or
whose Job is deleted from outside.
"""

from __future__ import annotations

import json

import pytest
from kubernetes.client import ApiClient, V1Job

from kedro_scanflow.backends.kubernetes import KubernetesBackend
from kedro_scanflow.runs.run_directory import TaskStatus
from kedro_scanflow.runs.scheduler import Scheduler
from kedro_scanflow.tasks.task_spec import TaskSpec

from .kubernetes_api_replay import RecordedApiServer
from .kubernetes_toy import backend_context, kubernetes_config, spec_builder, toy_plan

pytestmark = pytest.mark.timeout(120)


def run_on_replayed_cluster(tmp_path, situations, **options):
    """Run the toy pipeline; return the outcome, the run directory and the server."""
    server = RecordedApiServer(situations)
    config = kubernetes_config(image_pull_timeout=0, **options)
    context = backend_context(tmp_path, config)
    plan = toy_plan()
    backend = KubernetesBackend(context, api_client=server.api_client())
    try:
        backend.start()
        scheduler = Scheduler(
            plan,
            backend,
            context.run_directory,
            spec_builder(context, plan, backend.tracking_uri("unused")),
            max_workers=4,
        )
        outcome = scheduler.run()
    finally:
        backend.stop()
        server.close()
    return outcome, context.run_directory, server


def submitted_tasks(server: RecordedApiServer) -> list[str]:
    return [job["metadata"]["labels"]["scanflow.io/task"] for job in server.created("jobs")]


def test_every_task_runs_as_a_job_once_its_inputs_are_ready_and_the_run_cleans_up(tmp_path):
    outcome, run, server = run_on_replayed_cluster(tmp_path, {})

    assert outcome.ok, outcome
    assert sorted(outcome.succeeded) == ["double", "load-numbers", "square", "total"]
    order = submitted_tasks(server)
    assert order[0] == "load-numbers" and order[-1] == "total", "dependencies first"
    assert sorted(order[1:3]) == ["double", "square"]
    log = run.log_path("double").read_text()
    assert "Running node: double" in log, "pod logs are streamed into the run directory"
    for job in server.created("jobs"):
        typed = ApiClient().deserialize(json.dumps(job), "V1Job", "application/json")
        assert isinstance(typed, V1Job)
        [container] = typed.spec.template.spec.containers
        [spec_variable] = [e for e in container.env if e.name == "SCANFLOW_TASK_SPEC"]
        spec = TaskSpec.model_validate_json(spec_variable.value)
        assert spec.slug == job["metadata"]["labels"]["scanflow.io/task"]
        assert spec.tracking.uri == "https://mlflow.example.com"
    assert sorted(server.deleted("jobs")) == sorted(
        j["metadata"]["name"] for j in server.created("jobs")
    )
    for slug in outcome.succeeded:
        assert run.task_state(slug).status == TaskStatus.SUCCEEDED


def test_a_node_that_raises_fails_the_run_with_its_error_and_its_dependents_never_start(tmp_path):
    outcome, run, server = run_on_replayed_cluster(tmp_path, {"double": "pod_failed_exit_code"})

    assert "total" not in submitted_tasks(server), "a dependent Job is never submitted"
    assert outcome.cancelled == ["total"]
    [failure] = outcome.failed
    described = failure.describe()
    assert failure.node == "double" and failure.exit_code == 1
    assert "RuntimeError: double refuses to run while data/FAIL_DOUBLE exists" in described
    assert "BackoffLimitExceeded" in described, "the Job's events are in the log tail"
    assert run.task_failure("double").node == "double", "the termination message is kept"
    assert "square" in outcome.succeeded, "running tasks finish; their outputs are kept"
    assert len(server.deleted("jobs")) == 3, "cleanup deletes every Job of the run"


@pytest.mark.parametrize(
    ("situation", "exit_code", "reason"),
    [
        (
            "pod_evicted",
            137,
            "Evicted: the cluster node evicted the pod (The node was low on resource: memory",
        ),
        (
            "pod_image_pull_backoff",
            -1,
            "the pod never started: ErrImagePull: the image cannot be pulled",
        ),
        ("job_deadline_exceeded", 143, "DeadlineExceeded: the task ran longer than its timeout"),
        ("pod_oom_killed", 137, "OOMKilled: the pod ran out of memory"),
        ("job_deleted_outside", -1, "its Job was deleted outside the run"),
        ("job_failed_create", -1, "its pod cannot be created: Error creating: pods"),
    ],
)
def test_a_failing_pod_fails_the_run_naming_the_node_and_the_reason(
    tmp_path, situation, exit_code, reason
):
    outcome, run, server = run_on_replayed_cluster(tmp_path, {"load-numbers": situation})

    assert submitted_tasks(server) == ["load-numbers"], "no dependent Job is submitted"
    assert sorted(outcome.cancelled) == ["double", "square", "total"]
    [failure] = outcome.failed
    assert failure.node == "load_numbers"
    assert failure.exit_code == exit_code
    assert reason in failure.error, failure.describe()
    assert failure.describe().startswith(f"node 'load_numbers' failed (exit code {exit_code}): ")
    state = run.task_state("load-numbers")
    assert state.status == TaskStatus.FAILED and state.reason == failure.error
    if situation != "job_deleted_outside":
        assert server.deleted("jobs"), "cleanup deletes the Job (and its pod)"


def test_a_pod_that_cannot_pull_its_image_is_stopped_and_its_events_are_shown(tmp_path):
    outcome, run, server = run_on_replayed_cluster(
        tmp_path, {"load-numbers": "pod_image_pull_backoff"}
    )

    [failure] = outcome.failed
    assert "pull access denied" in failure.log_tail, "the kubelet's warning is in the log tail"
    [job] = server.created("jobs")
    assert job["metadata"]["name"] in server.deleted("jobs")
    assert "[kubernetes] pod" in run.log_path("load-numbers").read_text()


def test_kept_runs_leave_their_jobs_in_the_cluster(tmp_path):
    server = RecordedApiServer({})
    config = kubernetes_config()
    context = backend_context(tmp_path, config, keep=True)
    plan = toy_plan()
    backend = KubernetesBackend(context, api_client=server.api_client())
    try:
        backend.start()
        outcome = Scheduler(
            plan, backend, context.run_directory, spec_builder(context, plan, "x"), 4
        ).run()
    finally:
        backend.stop()
        server.close()
    assert outcome.ok
    assert not server.deleted("jobs")
    assert all(
        j["metadata"]["labels"]["scanflow.io/keep"] == "true" for j in server.created("jobs")
    )


def test_start_makes_the_project_objects_and_reaches_the_tracker_through_a_local_port(tmp_path):
    server = RecordedApiServer({})
    config = kubernetes_config(tracker={})
    context = backend_context(tmp_path, config)
    backend = KubernetesBackend(context, api_client=server.api_client())
    try:
        backend.start()
        target = backend.tracker_target(context.tracking)
        assert target.uri.startswith("http://127.0.0.1:") and target.artifact_location is None
        assert (
            backend.tracking_uri(context.tracking.uri) == "http://scanflow-toy-project-tracker:5000"
        )
        assert "kubectl port-forward -n scanflow-toy-project" in backend.tracker_note()
    finally:
        backend.stop()
        server.close()
    created = [(r.path.rsplit("/", 1)[1], r.body) for r in server.requests if r.method == "POST"]
    assert [resource for resource, _ in created] == [
        "namespaces",
        "serviceaccounts",
        "roles",
        "rolebindings",
        "persistentvolumeclaims",
        "persistentvolumeclaims",
        "deployments",
        "services",
    ]
    client = ApiClient()
    for _, body in created:
        model = f"V1{body['kind']}"
        typed = client.deserialize(json.dumps(body), model, "application/json")
        assert client.sanitize_for_serialization(typed) == body, "sent as the typed model"


def test_seed_folders_are_copied_onto_the_volume_before_the_first_task(tmp_path):
    outcome, run, server = run_on_replayed_cluster(tmp_path, {}, storage={"seed": ["data/01_raw"]})

    assert outcome.ok
    [seed, *tasks] = server.created("jobs")
    assert seed["metadata"]["labels"]["app.kubernetes.io/component"] == "seed"
    command = seed["spec"]["template"]["spec"]["containers"][0]["command"]
    assert (
        command[-1] == "data/01_raw" and "kedro_scanflow.backends.kubernetes.volume_seed" in command
    )
    assert len(tasks) == 4
