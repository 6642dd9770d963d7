"""``label_app``: the labeling page of ``kedro scanflow label`` (a Starlette application).

The page (plain HTML and JavaScript shipped with the package, no build step) shows the
pending items of a labeling task one by one or in a grid, with the model's prediction
and the criticality score; the human answers with the keyboard (a digit, ``s`` to skip,
``u`` to undo) or, for a Human Finder task, picks the most similar of the proposed clean
samples. Every answer goes to the :class:`~kedro_scanflow.human.LabelStore` (atomic,
locked, never lost).

Security: the server binds to 127.0.0.1 by default and every API call, reads included,
must carry the token printed at start (header ``X-Scanflow-Token``, or ``?token=`` in the
page address, which the page turns into the header). Answers are validated by the store:
the class must exist and the item must be pending.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from kedro_scanflow.human import TaskKind

if TYPE_CHECKING:
    from starlette.requests import Request

    from kedro_scanflow.human import LabelStore

logger = logging.getLogger(__name__)

TOKEN_HEADER = "x-scanflow-token"
_MAX_BODY = 64 * 1024


class _Refused(Exception):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def new_token() -> str:
    """A token for one labeling session."""
    return secrets.token_urlsafe(24)


def label_app(store: LabelStore, token: str) -> Starlette:
    """The labeling application over ``store``, guarded by ``token``."""

    def authorised(request: Request) -> None:
        given = request.headers.get(TOKEN_HEADER) or request.query_params.get("token") or ""
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise _Refused(
                "Missing or wrong token: use the address printed by `kedro scanflow label`.", 403
            )

    def guarded(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                authorised(request)
                return await handler(request)
            except _Refused as refused:
                return JSONResponse({"error": str(refused)}, status_code=refused.status)
            except FileNotFoundError as error:
                return JSONResponse({"error": str(error)}, status_code=404)
            except (ValueError, KeyError) as error:
                return JSONResponse({"error": _message(error)}, status_code=_status_of(error))
            except Exception as error:  # noqa: BLE001 - a bug must not take the page down
                logger.exception("Labeling request failed")
                return JSONResponse(
                    {"error": f"internal error: {type(error).__name__}"}, status_code=500
                )

        return endpoint

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(_static("index.html"))

    async def script(request: Request) -> Response:
        return Response(_static("labeling.js"), media_type="text/javascript")

    async def style(request: Request) -> Response:
        return Response(_static("labeling.css"), media_type="text/css")

    async def tasks(request: Request) -> JSONResponse:
        listed = []
        for name in store.tasks():
            progress = store.progress(name)
            listed.append(
                {
                    "name": name,
                    "kind": store.task(name).kind.value,
                    "answered": progress.answered,
                    "total": progress.total,
                }
            )
        return JSONResponse({"tasks": listed})

    async def task(request: Request) -> JSONResponse:
        return JSONResponse(_task_view(store, request.path_params["name"]))

    async def image(request: Request) -> Response:
        name, item_id = request.path_params["name"], request.path_params["item_id"]
        position = _position(store, name, item_id)
        return Response(_png(store.item_images(name)[position]), media_type="image/png")

    async def proposal(request: Request) -> Response:
        name, item_id = request.path_params["name"], request.path_params["item_id"]
        proposals = store.proposals(name)[item_id]
        rank = int(request.path_params["rank"])
        if not 0 <= rank < len(proposals.images):
            raise KeyError(f"item {item_id} has no proposal {rank}")
        return Response(_png(proposals.images[rank]), media_type="image/png")

    async def answer(request: Request) -> JSONResponse:
        name, body = request.path_params["name"], await _json_body(request)
        value = body.get("value")
        store.answer(
            name,
            str(body.get("item_id")),
            value,
            annotator=str(body.get("annotator") or "labeling-page"),
        )
        return JSONResponse(_progress(store, name))

    async def skip(request: Request) -> JSONResponse:
        name, body = request.path_params["name"], await _json_body(request)
        store.skip(name, str(body.get("item_id")), annotator="labeling-page")
        return JSONResponse(_progress(store, name))

    async def undo(request: Request) -> JSONResponse:
        name, body = request.path_params["name"], await _json_body(request)
        previous = store.undo(name, str(body.get("item_id")), annotator="labeling-page")
        return JSONResponse({**_progress(store, name), "undone": previous.value})

    return Starlette(
        routes=[
            Route("/", page),
            Route("/labeling.js", script),
            Route("/labeling.css", style),
            Route("/api/tasks", guarded(tasks)),
            Route("/api/tasks/{name}", guarded(task)),
            Route("/api/tasks/{name}/items/{item_id}.png", guarded(image)),
            Route("/api/tasks/{name}/items/{item_id}/proposals/{rank:int}.png", guarded(proposal)),
            Route("/api/tasks/{name}/answer", guarded(answer), methods=["POST"]),
            Route("/api/tasks/{name}/skip", guarded(skip), methods=["POST"]),
            Route("/api/tasks/{name}/undo", guarded(undo), methods=["POST"]),
        ]
    )


def _message(error: Exception) -> str:
    """The error's message (a ``KeyError`` quotes its own)."""
    return str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)


def _status_of(error: Exception) -> int:
    message = str(error).lower()
    if isinstance(error, KeyError) or "no item" in message or "no task" in message:
        return 404
    if "not pending" in message or "already" in message:
        return 409
    return 422


async def _json_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > _MAX_BODY:
        raise _Refused("Request too large.", 413)
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _Refused("Send a JSON object.", 400) from None
    if not isinstance(payload, dict) or "item_id" not in payload:
        raise _Refused('Send a JSON object with "item_id".', 400)
    return payload


def _task_view(store: LabelStore, name: str) -> dict[str, Any]:
    task = store.task(name)
    items = []
    for item in task.items:
        entry: dict[str, Any] = {
            "item_id": item.item_id,
            "sample_id": item.sample_id,
            "status": item.status.value,
            "prediction": item.prediction,
            "score": item.score,
            "answer": None if item.answer is None else item.answer.value,
        }
        if task.kind is TaskKind.FIND:
            entry["proposals"] = list(item.proposal_ids)
        items.append(entry)
    return {
        "name": name,
        "kind": task.kind.value,
        "classes": list(task.classes),
        "items": items,
        **_progress(store, name),
    }


def _progress(store: LabelStore, name: str) -> dict[str, int]:
    progress = store.progress(name)
    return {"answered": progress.answered, "skipped": progress.skipped, "total": progress.total}


def _position(store: LabelStore, name: str, item_id: str) -> int:
    for position, item in enumerate(store.task(name).items):
        if item.item_id == item_id:
            return position
    raise KeyError(f"task {name} has no item {item_id}")


def _png(image: np.ndarray) -> bytes:
    from PIL import Image  # noqa: PLC0415

    pixels = np.asarray(image)
    if pixels.dtype != np.uint8:
        pixels = np.clip(np.rint(pixels * 255.0 if pixels.max() <= 1.0 else pixels), 0, 255).astype(
            np.uint8
        )
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _static(name: str) -> str:
    return (
        resources.files("kedro_scanflow.labeling")
        .joinpath("static", name)
        .read_text(encoding="utf-8")
    )
