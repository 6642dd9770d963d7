"""Training pipeline: split, preprocess, train, evaluate, register."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
