"""kedro-scanflow: Scanflow workflow management, supervision and debugging for Kedro.

Every Kedro node is a Scanflow task node that runs in its own process, container or
pod; catalog entries are the shared-volume edges between tasks and MLflow is the tracker
edge. See ``kedro scanflow --help`` for the commands.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
