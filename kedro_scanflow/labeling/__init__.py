"""The labeling page where a human answers labeling tasks (``kedro scanflow label``)."""

from __future__ import annotations

from kedro_scanflow.labeling.label_app import TOKEN_HEADER, label_app, new_token

__all__ = ["TOKEN_HEADER", "label_app", "new_token"]
