"""How a task process logs: one plain line per record.

A task's log is streamed into the orchestrator's console (each line prefixed with the
task's name) and kept in a file per task. Kedro's default logging, when ``rich`` is
installed, renders every record as a box 80 columns wide, wrapping long messages and
tracebacks over several lines: hard to read once prefixed, and hard to grep.

- Before Kedro's settings are imported, :func:`plain_logging_unless_configured` points
  Kedro at ``task_logging.yml`` (Kedro's default configuration with plain lines), unless
  the project chose its logging: a ``KEDRO_LOGGING_CONFIG`` environment variable, or a
  ``conf/logging`` file, which Kedro then reads as usual. Rich is then never loaded:
  about 0.05 CPU-seconds less per task.
- :func:`use_plain_log_output` swaps any Rich handler that is configured all the same (a
  project's own configuration, a task forked by the local fork server) for a plain one.
- :func:`quiet_repeated_warnings` leaves out warnings that are not about the project and
  that every task would repeat.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import TextIO

#: The environment variable Kedro reads its logging configuration's path from.
LOGGING_CONFIG_VARIABLE = "KEDRO_LOGGING_CONFIG"
#: Kedro's logging configuration for task processes; its format is :data:`PLAIN_FORMAT`.
TASK_LOGGING_CONFIG = Path(__file__).with_name("task_logging.yml")
PLAIN_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: Warnings that are not about the project, which every task would repeat in its log
#: (parts of their messages): Kedro's resolver API, which kedro-mlflow calls, and
#: kedro-mlflow's own pipeline model, imported with its hook, whose ``predict`` has no
#: type hints.
REPEATED_WARNINGS = (
    "register_new_resolver() is deprecated",
    "Add type hints to the `predict` method",
)


def plain_logging_unless_configured() -> bool:
    """Have Kedro log plain lines, unless the project chose its logging configuration.

    Call it before Kedro's project settings are imported: Kedro reads its configuration
    then. Looks for ``conf/logging`` in the current directory, as Kedro does.

    Returns:
        Whether the task's configuration is used (``False``: the project's is kept).
    """
    if os.environ.get(LOGGING_CONFIG_VARIABLE):
        return False
    from kedro.utils import find_config_file  # noqa: PLC0415 - Kedro's own rule

    if find_config_file("conf/logging") is not None:
        return False
    os.environ[LOGGING_CONFIG_VARIABLE] = str(TASK_LOGGING_CONFIG)
    return True


def use_plain_log_output() -> None:
    """Swap Rich console handlers for plain lines: task logs go to files and prefixes."""
    if "rich.logging" not in sys.modules:  # nothing configured a Rich handler
        return
    from rich.logging import RichHandler  # noqa: PLC0415

    root = logging.getLogger()
    targets = [root] + [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]
    for target in targets:
        if not isinstance(target, logging.Logger):
            continue
        for handler in list(target.handlers):
            if isinstance(handler, RichHandler):
                plain = logging.StreamHandler(sys.stderr)
                plain.setLevel(handler.level)
                plain.setFormatter(logging.Formatter(PLAIN_FORMAT))
                target.removeHandler(handler)
                target.addHandler(plain)


class MessageFilter(logging.Filter):
    """Drops the records whose message contains one of ``parts``."""

    def __init__(self, parts: Iterable[str]) -> None:
        super().__init__()
        self.parts = tuple(parts)

    def matches(self, message: str) -> bool:
        """Whether ``message`` contains one of the parts."""
        return any(part in message for part in self.parts)

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.matches(record.getMessage())


_REPEATED = MessageFilter(REPEATED_WARNINGS)


def quiet_repeated_warnings() -> None:
    """Keep :data:`REPEATED_WARNINGS` out of the task's output; call it before Kedro loads
    the plugins' hooks.

    MLflow warns inside ``warnings.catch_warnings()`` with a filter of its own in front,
    so no warnings filter can silence it. The display hook (``warnings.showwarning``)
    leaves these warnings out, and so does a filter on the ``py.warnings`` logger, where
    they go once a Rich handler captures warnings into logging.
    """
    global _show_before_quieting  # noqa: PLW0603 - installed once per process
    if _show_before_quieting is not None:
        return
    _show_before_quieting = warnings.showwarning
    warnings.showwarning = _show_unless_repeated
    logging.getLogger("py.warnings").addFilter(_REPEATED)


_show_before_quieting: Callable[..., None] | None = None


def _show_unless_repeated(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    if _REPEATED.matches(str(message)):
        return
    assert _show_before_quieting is not None
    _show_before_quieting(message, category, filename, lineno, file, line)
