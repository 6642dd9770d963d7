"""Drift pipeline: production data that no longer looks like the training data."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
