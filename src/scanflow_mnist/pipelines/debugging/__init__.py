"""Debugging pipeline: the Scanflow paper's MNIST-C scenarios over label budgets and seeds."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
