"""Latency and throughput of ``kedro scanflow serve``'s application under load, and
whether every prediction is recorded.

In a temporary folder, the script registers the reference project's CNN (untrained
weights: latency does not depend on them) as the champion of a sqlite MLflow registry,
starts the serve application on uvicorn in its own process on loopback (the code
``kedro scanflow serve`` runs), and measures, in this one run (the machine is shared and
noisy, so the ratios matter more than the absolute figures):

1. the bare model call on one image (``LoadedModel.predict``), in this process: the
   baseline;
2. one client sending single-image JSON requests one after the other: latency seen by the
   client and by the server (``/metrics``);
3. ``--clients`` concurrent clients (keep-alive connections) sending single-image
   requests: requests per second and latency percentiles;
4. one client sending batches of 32 images: images per second.

Then it stops the server (SIGTERM, as a supervisor would) and counts the records in the
prediction store: every successful prediction must be there. Run from the repository
root::

    .venv/bin/python benchmarks/serve_load.py [--requests 1000] [--clients 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL_NAME = "bench-digits"
BATCH = 32
TARGET_P99_MS = 50.0


def register_champion(tracking_uri: str) -> None:
    """Register the reference project's CNN as ``MODEL_NAME@champion``."""
    import keras  # noqa: F401, PLC0415 - before MLflow's import hooks
    import mlflow  # noqa: PLC0415

    sys.path.insert(0, str(REPO_ROOT / "src"))
    from kedro_scanflow.tracking.model_registry import ModelRegistry  # noqa: PLC0415
    from scanflow_mnist.classifier import build_classifier  # noqa: PLC0415

    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run():
        info = mlflow.keras.log_model(build_classifier((28, 28), 10, 0.001), name="classifier")
    registry = ModelRegistry(mlflow.tracking.MlflowClient(tracking_uri))
    version = registry.register(info.model_uri, MODEL_NAME)
    registry.promote(MODEL_NAME, str(version.version))


def serve(tracking_uri: str, store_path: str, port: int) -> None:
    """The server process: the serve application on uvicorn, as the CLI starts it."""
    import keras  # noqa: F401, PLC0415
    import uvicorn  # noqa: PLC0415

    from kedro_scanflow.serving.champion_model import ChampionModel  # noqa: PLC0415
    from kedro_scanflow.serving.prediction_store import PredictionStore  # noqa: PLC0415
    from kedro_scanflow.serving.serve_app import serve_app  # noqa: PLC0415

    champion = ChampionModel(tracking_uri, MODEL_NAME)
    champion.load()
    app = serve_app(champion, PredictionStore(Path(store_path)))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def bare_model_latencies(tracking_uri: str, repeats: int) -> list[float]:
    """Milliseconds of ``LoadedModel.predict`` on one image, in this process."""
    from kedro_scanflow.serving.champion_model import ChampionModel  # noqa: PLC0415

    model = ChampionModel(tracking_uri, MODEL_NAME).load()
    image = np.random.default_rng(0).random((1, 28, 28), dtype=np.float32)
    for _ in range(20):
        model.predict(image)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.predict(image)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


class Client:
    """One keep-alive HTTP connection to the server."""

    def __init__(self, port: int):
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str) -> dict:
        self._connection.request("GET", path)
        response = self._connection.getresponse()
        return json.loads(response.read())

    def predict(self, body: bytes) -> tuple[int, float]:
        """The status and the milliseconds the request took, seen from here."""
        started = time.perf_counter()
        self._connection.request(
            "POST", "/predict", body=body, headers={"Content-Type": "application/json"}
        )
        response = self._connection.getresponse()
        response.read()
        return response.status, (time.perf_counter() - started) * 1000

    def close(self) -> None:
        self._connection.close()


def digit_body(images: int, seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (images, 28, 28)).tolist()
    return json.dumps({"images": pixels} if images > 1 else {"image": pixels[0]}).encode()


def load(port: int, clients: int, requests: int, images: int) -> dict:
    """``requests`` requests of ``images`` images each, spread over ``clients`` threads."""
    bodies = [digit_body(images, seed) for seed in range(16)]
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def work(share: int, offset: int) -> None:
        client = Client(port)
        mine_latencies, mine_statuses = [], []
        for i in range(share):
            status, latency = client.predict(bodies[(offset + i) % len(bodies)])
            mine_statuses.append(status)
            mine_latencies.append(latency)
        client.close()
        with lock:
            latencies.extend(mine_latencies)
            statuses.extend(mine_statuses)

    shares = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]
    threads = [threading.Thread(target=work, args=(s, i * 7)) for i, s in enumerate(shares)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    ok = sum(1 for s in statuses if s == 200)
    return {
        "clients": clients,
        "requests": len(statuses),
        "images_per_request": images,
        "ok": ok,
        "failed": len(statuses) - ok,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(len(statuses) / elapsed, 1),
        "images_per_s": round(ok * images / elapsed, 1),
        **percentiles(latencies),
    }


def percentiles(values: list[float]) -> dict[str, float]:
    array = np.asarray(values)
    return {f"p{q}_ms": round(float(np.percentile(array, q)), 3) for q in (50, 90, 99)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(port: int, server: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            Client(port).get("/health")
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not answer /health in time")


def stored_records(store: Path) -> int:
    with sqlite3.connect(store) as connection:
        [(count,)] = connection.execute("SELECT COUNT(*) FROM predictions").fetchall()
    return int(count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per measure")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument(
        "--serve", nargs=3, metavar=("URI", "STORE", "PORT"), help=argparse.SUPPRESS
    )
    arguments = parser.parse_args()
    if arguments.serve:
        uri, store, port = arguments.serve
        serve(uri, store, int(port))
        return

    with tempfile.TemporaryDirectory(prefix="scanflow-serve-bench-") as folder:
        tracking_uri = f"sqlite:///{Path(folder) / 'mlflow.db'}"
        store = Path(folder) / "predictions.db"
        register_champion(tracking_uri)
        bare = bare_model_latencies(tracking_uri, arguments.requests)

        port = free_port()
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", tracking_uri, str(store), str(port)],
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        try:
            wait_until_up(port, server)
            load(port, 1, 50, 1)  # warm-up: first calls trace the model
            warm = Client(port).get("/metrics")["requests"]
            sequential = load(port, 1, arguments.requests, 1)
            server_side = Client(port).get("/metrics")["latency_ms"]
            concurrent = load(port, arguments.clients, arguments.requests, 1)
            batches = load(port, 1, max(arguments.requests // 10, 20), BATCH)
            metrics = Client(port).get("/metrics")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        records = stored_records(store)

    # One record per image; the warm-up's requests hold one image each.
    expected = warm + sum(
        r["ok"] * r["images_per_request"] for r in (sequential, concurrent, batches)
    )
    results = {
        "bare_model_one_image": percentiles(bare),
        "sequential": sequential,
        "server_side_sequential_ms": server_side,
        "concurrent": concurrent,
        "batches": batches,
        "server_metrics": metrics,
        "records_stored": records,
        "records_expected": expected,
        "http_overhead_ratio_p50": round(sequential["p50_ms"] / statistics.median(bare), 2),
    }
    report(results)
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2))
    if records != expected or any(r["failed"] for r in (sequential, concurrent, batches)):
        raise SystemExit("requests failed or predictions were not recorded")


def report(results: dict) -> None:
    bare, sequential = results["bare_model_one_image"], results["sequential"]
    concurrent, batches = results["concurrent"], results["batches"]
    server = results["server_side_sequential_ms"]
    rows = [
        ("bare model call, 1 image, p50 / p99", f"{bare['p50_ms']} / {bare['p99_ms']} ms"),
        (
            "1 client, 1 image: client p50 / p99",
            f"{sequential['p50_ms']} / {sequential['p99_ms']} ms "
            f"(target p99 < {TARGET_P99_MS:.0f} ms)",
        ),
        ("1 client, 1 image: server p50 / p99", f"{server['p50']} / {server['p99']} ms"),
        ("1 client, 1 image: requests/s", f"{sequential['requests_per_s']}"),
        ("HTTP + recording over the bare call (p50)", f"{results['http_overhead_ratio_p50']}x"),
        (
            f"{concurrent['clients']} clients, 1 image: requests/s, p50 / p99",
            f"{concurrent['requests_per_s']}, {concurrent['p50_ms']} / {concurrent['p99_ms']} ms",
        ),
        (
            f"1 client, {BATCH} images per request: images/s, p50",
            f"{batches['images_per_s']}, {batches['p50_ms']} ms",
        ),
        (
            "records stored / expected",
            f"{results['records_stored']} / {results['records_expected']}",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
