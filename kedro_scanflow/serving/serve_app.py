"""``serve_app``: the HTTP service of ``kedro scanflow serve`` (a Starlette application).

* ``POST /predict``: JSON or an uploaded PNG/JPEG; answers with the class, confidence and
  probabilities of each image and the model version that answered. Every predicted image
  is recorded in the prediction store the agents watch.
* ``GET /``: a page with an upload form and a JSON example.
* ``GET /metrics``: requests, failures by status, latency percentiles, model version.
* ``GET /health``: 200 once a model is loaded.

Inference runs in worker threads, off the event loop; the model is swapped underneath
when the champion alias moves (:class:`ChampionModel`), without dropping a request.
"""

from __future__ import annotations

import html
import logging
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from kedro_scanflow.serving.prediction_store import PredictionRecord
from kedro_scanflow.serving.request_images import (
    RequestError,
    RequestImages,
    images_from_json,
    images_from_upload,
)
from kedro_scanflow.serving.serve_metrics import ServeMetrics

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.requests import Request

    from kedro_scanflow.serving.champion_model import ChampionModel, LoadedModel
    from kedro_scanflow.serving.prediction_store import PredictionStore

logger = logging.getLogger(__name__)


def serve_app(
    champion: ChampionModel,
    store: PredictionStore,
    max_images: int = 256,
    max_body_bytes: int = 4 * 1024 * 1024,
) -> Starlette:
    """The application serving ``champion`` and recording into ``store``.

    Args:
        champion: The model to serve, already loaded.
        store: Where every prediction is recorded.
        max_images: Most images in one request.
        max_body_bytes: Largest accepted request body.
    """
    metrics = ServeMetrics()

    async def predict(request: Request) -> JSONResponse:
        started = time.perf_counter()
        try:
            model = champion.current
            images = await _request_images(request, model, max_images, max_body_bytes)
            probabilities = await run_in_threadpool(model.predict, images.unit)
        except RequestError as error:
            metrics.failure(error.status)
            return JSONResponse({"error": str(error)}, status_code=error.status)
        except Exception as error:  # noqa: BLE001 - a bug must not take the server down
            metrics.failure(500)
            logger.exception("Prediction failed")
            return JSONResponse(
                {"error": f"internal error: {type(error).__name__}"}, status_code=500
            )
        latency = time.perf_counter() - started
        _record(store, model, images, probabilities, latency)
        metrics.success(latency, len(images.pixels))
        return JSONResponse(
            {
                "model_version": model.version,
                "predictions": [
                    {
                        "class": int(row.argmax()),
                        "confidence": round(float(row.max()), 6),
                        "probabilities": [round(float(p), 6) for p in row],
                    }
                    for row in probabilities
                ],
            }
        )

    async def metrics_endpoint(request: Request) -> JSONResponse:
        model = champion.current
        return JSONResponse(
            {
                **metrics.snapshot(),
                "model": {
                    "name": champion.model_name,
                    "alias": champion.alias,
                    "version": model.version,
                },
                "model_reloads": champion.reloads,
                "records_written": store.written,
            }
        )

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "model_version": champion.current.version})

    async def home(request: Request) -> HTMLResponse:
        model = champion.current
        return HTMLResponse(
            _HOME.format(
                name=html.escape(champion.model_name),
                alias=html.escape(champion.alias),
                version=html.escape(model.version),
                height=model.image_shape[0],
                width=model.image_shape[1],
            )
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store.start()
        champion.start_watching()
        try:
            yield
        finally:
            champion.stop()
            store.close()

    return Starlette(
        routes=[
            Route("/", home),
            Route("/predict", predict, methods=["POST"]),
            Route("/metrics", metrics_endpoint),
            Route("/health", health),
        ],
        lifespan=lifespan,
    )


async def _request_images(
    request: Request, model: LoadedModel, max_images: int, max_body_bytes: int
) -> RequestImages:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_body_bytes:
        raise RequestError(
            f"The body is {int(length)} bytes; at most {max_body_bytes} are accepted.", 413
        )
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=4, max_part_size=max_body_bytes)
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise RequestError('Upload the image in a form field named "image".', 400)
        content = await upload.read()
        label = form.get("label")
        return images_from_upload(
            content, model.image_shape, label if isinstance(label, str) else None, model.n_classes
        )
    if not content_type.startswith("application/json"):
        raise RequestError("Send application/json, or multipart/form-data with an image file.", 415)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_body_bytes:
            raise RequestError(f"The body is larger than {max_body_bytes} bytes.", 413)
    return images_from_json(bytes(body), model.image_shape, max_images, model.n_classes)


def _record(
    store: PredictionStore,
    model: LoadedModel,
    images: RequestImages,
    probabilities: np.ndarray,
    latency: float,
) -> None:
    now = time.time()
    per_image_ms = latency * 1000.0 / len(images.pixels)
    for pixels, row, label in zip(images.pixels, probabilities, images.labels, strict=True):
        store.record(
            PredictionRecord(
                now, model.version, int(row.argmax()), float(row.max()), per_image_ms, pixels, label
            )
        )


_HOME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{name}@{alias}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}}
code,pre{{background:#f3f3f3;padding:.1rem .3rem}}pre{{padding:.6rem;overflow:auto}}</style></head>
<body><h1>{name}@{alias} (version {version})</h1>
<p>Upload a {width}x{height} grayscale PNG or JPEG, or POST JSON to <code>/predict</code>.</p>
<form action="/predict" method="post" enctype="multipart/form-data">
<input type="file" name="image" accept="image/png,image/jpeg" required>
<label>true label (optional) <input name="label" size="3"></label>
<button type="submit">Predict</button></form>
<pre>curl -X POST http://HOST:PORT/predict -H 'Content-Type: application/json' \\
  -d '{{"image": [[0, 0, ...], ...], "label": 7}}'   # {height} rows of {width} levels 0-255</pre>
<p><a href="/metrics">/metrics</a>: requests, failures, latency percentiles.</p></body></html>
"""
