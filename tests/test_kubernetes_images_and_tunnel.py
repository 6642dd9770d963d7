"""How the orchestrator reaches what runs in the cluster: the image names it pushes and
runs, and the tunnel to the in-cluster tracker (here to a real local HTTP server, in place
of the API server's port-forward stream)."""

from __future__ import annotations

import contextlib
import http.server
import io
import socket
import tarfile
import threading
import urllib.request

import pytest

from kedro_scanflow.backends.kubernetes.cluster_image import cluster_image
from kedro_scanflow.backends.kubernetes.tracker_tunnel import TrackerTunnel
from kedro_scanflow.config import ScanflowConfig
from kedro_scanflow.images.docker_engine import DockerEngineError, docker_client
from kedro_scanflow.images.image_push import ImagePushError, push_images, split_reference


def kubernetes_options(**options):
    return ScanflowConfig.model_validate({"backends": {"kubernetes": options}}).backends.kubernetes


def test_the_cluster_runs_the_image_that_build_push_publishes():
    assert cluster_image(kubernetes_options(), "toy_project") == "scanflow/toy-project:latest"
    assert (
        cluster_image(kubernetes_options(registry="registry.example.com:5000/team/"), "toy_project")
        == "registry.example.com:5000/team/scanflow/toy-project:latest"
    )
    assert cluster_image(kubernetes_options(image="my/own:2"), "toy_project") == "my/own:2"
    assert split_reference("registry.example.com:5000/team/scanflow/toy:latest-ab12") == (
        "registry.example.com:5000/team/scanflow/toy",
        "latest-ab12",
    )
    assert split_reference("localhost:5000/scanflow/toy") == (
        "localhost:5000/scanflow/toy",
        "latest",
    )


class _Tracker(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the standard library's name
        body = f"tracker saw Host {self.headers['Host']} and path {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_tunnel_carries_each_connection_to_a_new_stream_to_the_tracker():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Tracker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    streams = []

    def open_stream():
        stream = socket.create_connection(server.server_address)
        streams.append(stream)
        return stream

    tunnel = TrackerTunnel(open_stream).start()
    try:
        for attempt in range(3):
            with urllib.request.urlopen(f"{tunnel.uri}/health?n={attempt}", timeout=10) as reply:
                text = reply.read().decode()
            assert text == f"tracker saw Host 127.0.0.1:{tunnel.port} and path /health?n={attempt}"
        assert len(streams) == 3
        assert tunnel.uri.startswith("http://127.0.0.1:"), "only the loopback interface"
    finally:
        tunnel.close()
        server.shutdown()


@pytest.mark.docker
def test_build_push_tags_the_images_and_reports_a_registry_it_cannot_reach():
    """No registry can run on the CI machine (nothing can be pulled, not even
    ``registry:2``): the push goes to a port where nothing listens and must fail clearly,
    after the image was tagged for the registry."""
    try:
        client = docker_client()
    except DockerEngineError as error:
        pytest.skip(f"Docker engine not reachable: {error}")
    source = "scanflow-push-test:1"
    client.api.import_image_from_data(_tiny_image(), repository="scanflow-push-test", tag="1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    registry = f"127.0.0.1:{port}/team"
    target = f"{registry}/{source}"
    try:
        with pytest.raises(ImagePushError, match=f"Pushing {target} failed: .*{port}"):
            push_images([source], registry)
        assert client.images.get(target), "the image was tagged for the registry first"
    finally:
        for name in (target, source):
            with contextlib.suppress(Exception):
                client.images.remove(name, force=True)


def _tiny_image() -> bytes:
    """A one-file root file system, for ``docker import`` (nothing is pulled)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        content = b"kedro-scanflow push test\n"
        info = tarfile.TarInfo("README")
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()
