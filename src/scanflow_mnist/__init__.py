"""Scanflow MNIST: the reference Kedro project of kedro-scanflow."""

__version__ = "0.1.0"
