"""Inference pipeline: batch predictions of new digits with the champion model."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
