"""``kedro scanflow serve``'s application on a real HTTP server (uvicorn on loopback), with
a real Keras model in a real MLflow registry: predictions, refused requests, records,
and a champion that moves while requests keep coming."""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
mlflow = pytest.importorskip("mlflow")
uvicorn = pytest.importorskip("uvicorn")

from kedro_scanflow.serving.champion_model import ChampionModel  # noqa: E402
from kedro_scanflow.serving.prediction_store import PredictionStore  # noqa: E402
from kedro_scanflow.serving.serve_app import serve_app  # noqa: E402
from kedro_scanflow.tracking.model_registry import ModelRegistry  # noqa: E402

from .conftest import free_port  # noqa: E402

MODEL = "digits"


def _tiny_classifier(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(loss="sparse_categorical_crossentropy")
    return model


def _register(tracking_uri: str, seed: int) -> str:
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run():
        info = mlflow.keras.log_model(_tiny_classifier(seed), name="model")
    registry = ModelRegistry(mlflow.tracking.MlflowClient(tracking_uri))
    version = str(registry.register(info.model_uri, MODEL).version)
    registry.promote(MODEL, version)
    return version


class Server:
    """The serve application on a real uvicorn server in a thread."""

    def __init__(self, tracking_uri: str, store_path: Path, poll_seconds: float = 0.3):
        self.champion = ChampionModel(tracking_uri, MODEL, poll_seconds=poll_seconds)
        self.champion.load()
        self.store = PredictionStore(store_path)
        self.port = free_port()
        app = serve_app(self.champion, self.store, max_images=8, max_body_bytes=200_000)
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> Server:
        self._thread.start()
        deadline = time.time() + 30
        while not self._server.started:
            assert time.time() < deadline, "the server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)

    def post(self, body: bytes, content_type: str = "application/json") -> tuple[int, dict]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/predict",
            data=body,
            headers={"Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=30) as response:
            return json.load(response)


@pytest.fixture
def registry_uri(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _register(uri, seed=1)
    return uri


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory):
    """One server for the many refused requests (it must survive all of them)."""
    folder = tmp_path_factory.mktemp("serving")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    _register(uri, seed=1)
    with Server(uri, folder / "predictions.db") as server:
        yield server


def _digit(value: float = 0) -> list[list[float]]:
    return np.full((28, 28), value).tolist()


def _multipart(content: bytes, label: str | None = None) -> tuple[bytes, str]:
    boundary = "scanflowtestboundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="digit.png"\r\n'
        "Content-Type: image/png\r\n\r\n".encode()
        + content
        + b"\r\n"
    ]
    if label is not None:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="label"\r\n\r\n{label}\r\n'.encode()
        )
    return b"".join(
        parts
    ) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _png(shape: tuple[int, int]) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros(shape, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_predictions_are_answered_and_every_image_is_recorded(registry_uri, tmp_path):
    with Server(registry_uri, tmp_path / "predictions.db") as server:
        status, single = server.post(json.dumps({"image": _digit(10), "label": 3}).encode())
        assert status == 200, single
        [prediction] = single["predictions"]
        assert single["model_version"] == "1"
        assert 0 <= prediction["class"] < 10 and len(prediction["probabilities"]) == 10
        assert sum(prediction["probabilities"]) == pytest.approx(1.0, abs=1e-4)

        status, several = server.post(
            json.dumps({"images": [_digit(0.2), _digit(0.9)], "scale": "unit"}).encode()
        )
        assert status == 200 and len(several["predictions"]) == 2
        body, content_type = _multipart(_png((28, 28)), label="5")
        status, uploaded = server.post(body, content_type)
        assert status == 200 and len(uploaded["predictions"]) == 1

        metrics = server.get("/metrics")
        assert metrics["requests"] == 3 and metrics["images"] == 4 and metrics["failures"] == 0
        assert set(metrics["latency_ms"]) == {"p50", "p90", "p99"}
        assert metrics["model"] == {"name": MODEL, "alias": "champion", "version": "1"}
    store = PredictionStore(tmp_path / "predictions.db")
    assert store.count() == 4, "every predicted image is recorded, none lost at shutdown"
    batch = store.batch(0, store.last_id())
    assert batch.images.images.dtype == np.uint8 and batch.images.images.shape == (4, 28, 28)
    assert batch.images.labels is None, "labels are only given when every record has one"
    assert int(batch.images.images[0].max()) == 10 and int(batch.images.images[2].max()) == 230


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b"this is not json", "application/json", 400, "not valid JSON"),
        (b"[1, 2, 3]", "application/json", 400, "JSON object"),
        (
            json.dumps({"image": _digit(), "images": [_digit()]}).encode(),
            "application/json",
            400,
            "exactly one",
        ),
        (
            json.dumps({"image": [[0] * 27] * 28}).encode(),
            "application/json",
            422,
            "expected 28 rows of 28 pixels",
        ),
        (
            json.dumps({"image": [[0] * 28] * 28 + [[0] * 28]}).encode(),
            "application/json",
            422,
            "got shape (29, 28)",
        ),
        (
            b'{"image": ' + json.dumps(_digit()).replace("0", "NaN", 1).encode() + b"}",
            "application/json",
            422,
            "NaN",
        ),
        (json.dumps({"image": _digit(300)}).encode(), "application/json", 422, "[0, 255]"),
        (
            json.dumps({"image": [["a"] * 28] * 28}).encode(),
            "application/json",
            422,
            "must be numbers",
        ),
        (
            json.dumps({"image": _digit(), "label": 12}).encode(),
            "application/json",
            422,
            "class 12 does not exist",
        ),
        (
            json.dumps({"images": [_digit()] * 9}).encode(),
            "application/json",
            413,
            "At most 8 images",
        ),
        (json.dumps({"images": []}).encode(), "application/json", 422, "non-empty list"),
        (b"x" * 300_000, "application/json", 413, "at most 200000"),
        (b"image bytes", "text/plain", 415, "application/json"),
    ],
    ids=[
        "not-json",
        "not-object",
        "both-keys",
        "short-rows",
        "extra-row",
        "nan",
        "out-of-range",
        "strings",
        "unknown-class",
        "too-many-images",
        "no-images",
        "huge-body",
        "wrong-type",
    ],
)
def test_malformed_requests_are_refused_with_a_clear_message(
    shared_server, body, content_type, status, message
):
    before = shared_server.get("/metrics")
    answered, payload = shared_server.post(body, content_type)
    assert answered == status, payload
    assert message in payload["error"]
    ok, _ = shared_server.post(json.dumps({"image": _digit()}).encode())
    assert ok == 200, "the server keeps answering after a bad request"
    after = shared_server.get("/metrics")
    assert after["failures"] == before["failures"] + 1
    assert (
        after["failures_by_status"][str(status)]
        == before["failures_by_status"].get(str(status), 0) + 1
    )
    deadline = time.time() + 10  # records are written by a background thread
    while after["records_written"] < before["records_written"] + 1 and time.time() < deadline:
        time.sleep(0.05)
        after = shared_server.get("/metrics")
    assert after["records_written"] == before["records_written"] + 1, (
        "refused requests are not recorded"
    )


def test_uploads_that_are_not_digit_images_are_refused(registry_uri, tmp_path):
    with Server(registry_uri, tmp_path / "predictions.db") as server:
        body, content_type = _multipart(b"GIF89a not really")
        assert server.post(body, content_type)[0] == 415
        body, content_type = _multipart(_png((32, 32)))
        status, payload = server.post(body, content_type)
        assert status == 422 and "32x32 pixels" in payload["error"]
        body, content_type = _multipart(_png((28, 28)), label="ten")
        status, payload = server.post(body, content_type)
        assert status == 422 and "class number" in payload["error"], payload


def test_a_new_champion_is_served_without_a_failed_request(registry_uri, tmp_path):
    results: list[tuple[int, str | None]] = []
    stop = threading.Event()

    with Server(registry_uri, tmp_path / "predictions.db", poll_seconds=0.2) as server:

        def client() -> None:
            body = json.dumps({"image": _digit(40)}).encode()
            while not stop.is_set():
                status, payload = server.post(body)
                results.append((status, payload.get("model_version")))

        threads = [threading.Thread(target=client) for _ in range(3)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        new_version = _register(registry_uri, seed=2)
        deadline = time.time() + 60
        while server.get("/health")["model_version"] != new_version:
            assert time.time() < deadline, "the server never picked up the new champion"
            time.sleep(0.1)
        time.sleep(1.0)
        stop.set()
        for thread in threads:
            thread.join()
        metrics = server.get("/metrics")

    statuses = {status for status, _ in results}
    versions = [version for _, version in results]
    assert statuses == {200}, "no request failed during the switch"
    assert versions[0] == "1" and versions[-1] == new_version == "2"
    assert metrics["model_reloads"] == 1 and metrics["failures"] == 0
    assert PredictionStore(tmp_path / "predictions.db").count() == len(results)
