"""A Kubernetes API server that replays recorded objects, for the official client.

No cluster can run on the CI machine. This is the one test double of the Kubernetes
tests, and it stands in for the API server only: it plugs into the client's REST layer
(``ApiClient.rest_client``), so that everything above it runs for real: our backend,
the client's typed API calls, the serialisation of our typed models into request bodies,
the deserialisation of responses, ``kubernetes.watch`` streams and log streams.

Jobs, pods and events follow the situations recorded in ``tests/fixtures/kubernetes``
(see its README): when a Job is created, its pod goes through the recorded states, then
the Job takes the recorded status. Every request is kept in :attr:`requests`.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubernetes.client import ApiClient, Configuration
from kubernetes.client.rest import RESTResponse

RECORDINGS = Path(__file__).parent / "fixtures" / "kubernetes"

_CORE = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/(?P<res>[a-z]+)(?:/(?P<name>[^/]+))?$")
_GROUP = re.compile(
    r"^/apis/(?P<group>[a-z0-9.]+/v1)/namespaces/(?P<ns>[^/]+)/(?P<res>[a-z]+)(?:/(?P<name>[^/]+))?$"
)
_LOG = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)/log$")
_VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.0",
    "gitCommit": "7c48c2bd72b9bf5c44d21d7338cc7bea77d0ad2a",
    "gitTreeState": "clean",
    "buildDate": "2024-05-13T22:02:25Z",
    "goVersion": "go1.22.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_KINDS = {
    "namespaces": "Namespace",
    "serviceaccounts": "ServiceAccount",
    "persistentvolumeclaims": "PersistentVolumeClaim",
    "services": "Service",
    "pods": "Pod",
    "events": "Event",
    "roles": "Role",
    "rolebindings": "RoleBinding",
    "deployments": "Deployment",
    "jobs": "Job",
}


def recording(name: str) -> dict[str, Any]:
    """One recorded situation (``pod_succeeded``, ``pod_evicted``...)."""
    return json.loads((RECORDINGS / f"{name}.json").read_text())


@dataclass
class Request:
    """One request the client sent."""

    method: str
    path: str
    query: dict[str, str]
    body: Any = None


class _HttpResponse:
    """What urllib3 returns, as far as the client reads it."""

    def __init__(self, status: int, body: Any = None, chunks: Any = None):
        self.status = status
        self.reason = "OK" if status < 400 else "Error"
        self.headers = {"content-type": "application/json"}
        self.data = b"" if body is None else json.dumps(body).encode()
        self._chunks = chunks

    def stream(self, amt: int | None = None, decode_content: bool | None = None):
        if self._chunks is None:
            yield self.data
        else:
            yield from self._chunks

    def getheaders(self) -> dict[str, str]:
        return self.headers

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


@dataclass
class _Scenario:
    recording: dict[str, Any]
    values: dict[str, str]
    events: list[dict[str, Any]] = field(default_factory=list)


class RecordedApiServer:
    """Answers the client's requests from recorded situations, one per task."""

    def __init__(self, situations: dict[str, str] | None = None, default: str = "pod_succeeded"):
        """Create the server.

        Args:
            situations: Recording name per task slug (``{"double": "pod_evicted"}``).
            default: The recording of every other task.
        """
        self.situations = situations or {}
        self.default = default
        self.requests: list[Request] = []
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self._history: list[tuple[int, str, str, dict[str, Any]]] = []
        self._scenarios: dict[str, _Scenario] = {}
        self._versions = itertools.count(1000)
        self._changed = threading.Condition()
        self._closed = False
        self.watch_idle_s = 1.0

    def api_client(self) -> ApiClient:
        """A real client of the official library, talking to this server."""
        client = ApiClient(Configuration(host="https://replayed-api-server.invalid"))
        client.rest_client = self
        return client

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def created(self, resource: str) -> list[dict[str, Any]]:
        """Bodies of the objects of ``resource`` the client created, in order."""
        return [
            r.body for r in self.requests if r.method == "POST" and r.path.endswith(f"/{resource}")
        ]

    def deleted(self, resource: str) -> list[str]:
        return [
            r.path.rsplit("/", 1)[1]
            for r in self.requests
            if r.method == "DELETE" and f"/{resource}/" in r.path
        ]

    # The REST layer of the client ---------------------------------------------------

    def request(
        self, method, url, headers=None, body=None, post_params=None, _request_timeout=None
    ):
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.requests.append(Request(method, parts.path, query, body))
        return RESTResponse(self._answer(method, parts.path, query, body))

    def _answer(  # noqa: PLR0911 - one answer per route
        self, method: str, path: str, query: dict[str, str], body: Any
    ) -> _HttpResponse:
        if path == "/version/":
            return _HttpResponse(200, _VERSION)
        if path == "/api/v1/namespaces" and method == "POST":
            return self._create("namespaces", body)
        if match := _LOG.match(path):
            return self._log(match["name"])
        match = _CORE.match(path) or _GROUP.match(path)
        if match is None:
            return _HttpResponse(404, _status(404, "NotFound", path))
        resource, name = match["res"], match["name"]
        if method == "POST":
            return self._create(resource, body)
        if method == "DELETE":
            return self._delete(resource, name)
        if name is not None:
            obj = self.objects.get((resource, name))
            return (
                _HttpResponse(200, obj)
                if obj
                else _HttpResponse(404, _status(404, "NotFound", name))
            )
        if resource == "events":
            return _HttpResponse(200, self._event_list(query.get("fieldSelector", "")))
        if query.get("watch") == "true":
            return _HttpResponse(200, chunks=self._watch(resource, query))
        return _HttpResponse(200, self._list(resource, query.get("labelSelector", "")))

    # Objects -------------------------------------------------------------------------

    def _create(self, resource: str, body: dict[str, Any]) -> _HttpResponse:
        name = body["metadata"]["name"]
        with self._changed:
            if (resource, name) in self.objects:
                return _HttpResponse(409, _status(409, "AlreadyExists", name))
            obj = json.loads(json.dumps(body))
            obj["metadata"].update(
                uid=str(uuid.uuid4()),
                creationTimestamp=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            )
            if resource == "jobs":
                obj["status"] = {}
            self._store(resource, "ADDED", obj)
        if resource == "jobs":
            threading.Thread(target=self._play, args=(obj,), daemon=True).start()
        if resource == "deployments":
            self._start_deployment(obj)
        return _HttpResponse(201, obj)

    def _delete(self, resource: str, name: str) -> _HttpResponse:
        with self._changed:
            obj = self.objects.get((resource, name))
            if obj is None:
                return _HttpResponse(404, _status(404, "NotFound", name))
            if resource == "jobs":
                for pod in self._pods_of(name):
                    self._store("pods", "DELETED", pod)
            self._store(resource, "DELETED", obj)
        return _HttpResponse(200, _status(200, "Success", name))

    def _store(self, resource: str, event: str, obj: dict[str, Any]) -> None:
        """Record a change (with the lock held) and wake the watches."""
        version = next(self._versions)
        obj["metadata"]["resourceVersion"] = str(version)
        key = (resource, obj["metadata"]["name"])
        if event == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = obj
        self._history.append((version, resource, event, json.loads(json.dumps(obj))))
        self._changed.notify_all()

    def _pods_of(self, job: str) -> list[dict[str, Any]]:
        return [
            obj
            for (resource, _), obj in self.objects.items()
            if resource == "pods" and obj["metadata"]["labels"].get("job-name") == job
        ]

    def _start_deployment(self, deployment: dict[str, Any]) -> None:
        """The Deployment's pod, ready at once (as recorded)."""
        template = deployment["spec"]["template"]
        name = deployment["metadata"]["name"]
        values = {
            "deployment": name,
            "pod": f"{name}-6d9f8b7c5d-{uuid.uuid4().hex[:5]}",
            "namespace": deployment["metadata"]["namespace"],
            "pod_uid": str(uuid.uuid4()),
            "replicaset_uid": str(uuid.uuid4()),
            "image": template["spec"]["containers"][0]["image"],
        }
        [pod] = _render(recording("tracker_pod_ready"), values)["pod_states"]
        pod["metadata"]["labels"].update(template["metadata"]["labels"])
        with self._changed:
            self._store("pods", "ADDED", pod)

    def _play(self, job: dict[str, Any]) -> None:
        """The recorded life of a Job's pod, then the Job's recorded end."""
        template = job["spec"]["template"]
        task = template["metadata"]["labels"].get("scanflow.io/task", "")
        name = job["metadata"]["name"]
        values = {
            "job": name,
            "pod": f"{name}-{uuid.uuid4().hex[:5]}",
            "namespace": job["metadata"]["namespace"],
            "job_uid": job["metadata"]["uid"],
            "pod_uid": str(uuid.uuid4()),
            "image": template["spec"]["containers"][0]["image"],
            "task": _node_of(job),
        }
        recorded = _render(recording(self.situations.get(task, self.default)), values)
        self._scenarios[name] = _Scenario(recorded, values, recorded["events"])
        for index, state in enumerate(recorded["pod_states"]):
            time.sleep(0.02)
            state["metadata"]["labels"] = {
                **template["metadata"]["labels"],
                **state["metadata"]["labels"],
            }
            with self._changed:
                if ("jobs", name) not in self.objects:
                    return
                self._store("pods", "ADDED" if index == 0 else "MODIFIED", state)
        time.sleep(0.02)
        with self._changed:
            current = self.objects.get(("jobs", name))
            if current is None:
                return
            if recorded.get("job_deleted"):
                for pod in self._pods_of(name):
                    self._store("pods", "DELETED", pod)
                self._store("jobs", "DELETED", current)
            elif recorded["job_status"] is not None:
                updated = json.loads(json.dumps(current))
                updated["status"] = recorded["job_status"]
                self._store("jobs", "MODIFIED", updated)

    # Reads -------------------------------------------------------------------------

    def _list(self, resource: str, selector: str) -> dict[str, Any]:
        with self._changed:
            items = [
                obj
                for (kind, _), obj in self.objects.items()
                if kind == resource and _selects(selector, obj)
            ]
            version = str(self._history[-1][0]) if self._history else "1"
        return {
            "apiVersion": "v1",
            "kind": f"{_KINDS[resource]}List",
            "metadata": {"resourceVersion": version},
            "items": items,
        }

    def _watch(self, resource: str, query: dict[str, str]):
        """Events after the given resource version, as a watch stream, until idle."""
        seen = int(query.get("resourceVersion") or 0)
        selector = query.get("labelSelector", "")
        idle_since = time.monotonic()
        while True:
            with self._changed:
                pending = [h for h in self._history if h[0] > seen]
                if not pending:
                    if self._closed or time.monotonic() - idle_since > self.watch_idle_s:
                        return
                    self._changed.wait(0.05)
                    continue
            for version, kind, event, obj in pending:
                seen = version
                if kind == resource and _selects(selector, obj):
                    idle_since = time.monotonic()
                    yield (json.dumps({"type": event, "object": obj}) + "\n").encode()

    def _log(self, pod: str) -> _HttpResponse:
        for scenario in self._scenarios.values():
            if scenario.values["pod"] == pod:
                lines = scenario.recording["log"].splitlines(keepends=True)
                return _HttpResponse(200, chunks=iter([line.encode() for line in lines]))
        return _HttpResponse(404, _status(404, "NotFound", pod))

    def _event_list(self, field_selector: str) -> dict[str, Any]:
        wanted = field_selector.removeprefix("involvedObject.name=")
        events = [
            event
            for scenario in list(self._scenarios.values())
            for event in scenario.events
            if event["involvedObject"]["name"] == wanted
        ]
        return {"apiVersion": "v1", "kind": "EventList", "metadata": {}, "items": events}


def _node_of(job: dict[str, Any]) -> str:
    annotations = job["metadata"].get("annotations") or {}
    return annotations.get("scanflow.io/nodes", job["metadata"]["name"]).split(",")[0]


def _render(recorded: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    text = json.dumps(recorded)
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return json.loads(text)


def _selects(selector: str, obj: dict[str, Any]) -> bool:
    labels = obj["metadata"].get("labels") or {}
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


def _status(code: int, reason: str, name: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure" if code >= 400 else "Success",
        "message": f"{reason}: {name}",
        "reason": reason,
        "code": code,
    }
