"""Turning a prediction request into images the model can take, or a clear 4xx error.

Two forms are accepted: JSON (``{"image": [[...]]}`` for one image, ``{"images":
[[[...]]]}`` for several, optional ``"label"``/``"labels"`` when the client knows the
truth) and an upload of a PNG or JPEG file (the form on the server's page). Pixels are
0-255 levels, or floats in [0, 1] when ``"scale": "unit"``. Anything else (wrong shape,
not numbers, NaN, out of range, too many images, too big a body) is refused with a
message that says what is wrong and what is expected.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np


class RequestError(ValueError):
    """A request the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RequestImages:
    """Validated images of one request."""

    pixels: np.ndarray
    """uint8 levels ``(n, h, w)`` (what the prediction store keeps)."""
    labels: list[int | None]

    @property
    def unit(self) -> np.ndarray:
        """float32 pixels in ``[0, 1]``, the model's input."""
        return self.pixels.astype(np.float32) / 255.0


def images_from_json(
    body: bytes, shape: tuple[int, int], max_images: int, n_classes: int
) -> RequestImages:
    """Validate a JSON body.

    Raises:
        RequestError: When the body is not the JSON described above.
    """
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestError(f"The body is not valid JSON: {error}.", 400) from None
    if not isinstance(payload, dict):
        raise RequestError('Send a JSON object: {"image": [[...]]} or {"images": [...]}.', 400)
    if ("image" in payload) == ("images" in payload):
        raise RequestError(
            'Send exactly one of "image" (one image) and "images" (a list of images).', 400
        )
    single = "image" in payload
    raw = [payload["image"]] if single else payload["images"]
    if not isinstance(raw, list) or not raw:
        raise RequestError('"images" must be a non-empty list of images.')
    if len(raw) > max_images:
        raise RequestError(f"At most {max_images} images per request, got {len(raw)}.", 413)
    scale = payload.get("scale", "levels")
    if scale not in ("levels", "unit"):
        raise RequestError('"scale" must be "levels" (0-255) or "unit" (0-1).')
    pixels = np.stack([_image(image, index, shape, scale) for index, image in enumerate(raw)])
    labels = _labels(payload, len(raw), single, n_classes)
    return RequestImages(pixels, labels)


def images_from_upload(
    content: bytes, shape: tuple[int, int], label: str | None, n_classes: int
) -> RequestImages:
    """Validate an uploaded PNG or JPEG.

    Raises:
        RequestError: When it is not an image, or not of the model's size.
    """
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    try:
        with Image.open(io.BytesIO(content)) as image:
            grayscale = np.asarray(image.convert("L"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as error:
        raise RequestError(f"The upload is not a PNG or JPEG image: {error}.", 415) from None
    if grayscale.shape != shape:
        raise RequestError(
            f"The image is {grayscale.shape[1]}x{grayscale.shape[0]} pixels; the model takes "
            f"{shape[1]}x{shape[0]} grayscale images."
        )
    if label in (None, ""):
        return RequestImages(grayscale[np.newaxis], [None])
    try:
        number = int(label.strip())
    except ValueError:
        raise RequestError(f'"label" must be a class number, got {label[:20]!r}.') from None
    return RequestImages(grayscale[np.newaxis], [_label(number, "label", n_classes)])


def _image(image: Any, index: int, shape: tuple[int, int], scale: str) -> np.ndarray:
    where = f"image {index}"
    try:
        array = np.asarray(image, dtype=np.float64)
    except (TypeError, ValueError):
        raise RequestError(
            f"{where}: pixels must be numbers in nested lists (rows of pixels)."
        ) from None
    if array.shape != shape:
        raise RequestError(
            f"{where}: expected {shape[0]} rows of {shape[1]} pixels, got shape {array.shape}."
        )
    if not np.isfinite(array).all():
        raise RequestError(f"{where}: pixels must be finite numbers (no NaN or infinity).")
    top = 1.0 if scale == "unit" else 255.0
    if array.min() < 0 or array.max() > top:
        raise RequestError(f"{where}: pixels must lie in [0, {top:g}] (scale '{scale}').")
    levels = array * 255.0 if scale == "unit" else array
    return np.rint(levels).astype(np.uint8)


def _labels(
    payload: dict[str, Any], n_images: int, single: bool, n_classes: int
) -> list[int | None]:
    key = "label" if single else "labels"
    if key not in payload:
        return [None] * n_images
    values = [payload[key]] if single else payload[key]
    if not isinstance(values, list) or len(values) != n_images:
        raise RequestError(f'"labels" must list one label per image ({n_images}).')
    return [None if v is None else _label(v, key, n_classes) for v in values]


def _label(value: Any, key: str, n_classes: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value != int(value)
    ):
        raise RequestError(f'"{key}" must hold class numbers, got {value!r}.')
    if not 0 <= int(value) < n_classes:
        raise RequestError(
            f'"{key}": class {int(value)} does not exist (classes 0-{n_classes - 1}).'
        )
    return int(value)
