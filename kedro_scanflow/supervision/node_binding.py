"""Special-node functions with their ``scanflow.yml`` options already bound.

A special node's function takes datasets *and* its options; Kedro passes only datasets.
:func:`bind_options` returns a function of the datasets alone whose signature Kedro can
check and whose source (through ``__wrapped__``) kedro-viz can show.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any


def bind_options(function: Callable[..., Any], **options: Any) -> Callable[..., Any]:
    """``function`` with the keyword arguments ``options`` fixed."""

    @functools.wraps(function)
    def special_node(*datasets: Any) -> Any:
        return function(*datasets, **options)

    signature = inspect.signature(function)
    special_node.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p for name, p in signature.parameters.items() if name not in options]
    )
    return special_node
