"""Plugin hooks a task process leaves unloaded.

Kedro registers the hooks of every installed plugin (the ``kedro.hooks`` entry points) in
each session, and imports them before it applies ``DISABLE_HOOKS_FOR_PLUGINS``: a
project cannot spare its task processes the import. A task process blocks the entry
points it has no use for, by name, in the hook manager of each of its Kedro sessions
(pluggy skips blocked names without loading them):

* kedro-telemetry's, always: telemetry is off in task processes (the user's own command
  reports the run), and its hook imports ``requests`` and Kedro's command line;
* kedro-mlflow's, when the task loads MLflow on demand
  (:mod:`~kedro_scanflow.tasks.mlflow_on_demand`): its hook imports MLflow.
"""

from __future__ import annotations

import importlib.metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

_KEDRO_HOOKS_GROUP = "kedro.hooks"
KEDRO_TELEMETRY = "kedro_telemetry"
KEDRO_MLFLOW = "kedro_mlflow"


def hook_entry_points(modules: Iterable[str]) -> list[str]:
    """Names of the ``kedro.hooks`` entry points whose hooks live in ``modules`` (top-level
    package names, e.g. ``kedro_mlflow``)."""
    packages = set(modules)
    return sorted(
        entry_point.name
        for entry_point in importlib.metadata.entry_points(group=_KEDRO_HOOKS_GROUP)
        if entry_point.value.split(".", 1)[0] in packages
    )


def skip_plugin_hooks(modules: Iterable[str]) -> list[str]:
    """Have the Kedro sessions of this process leave out the hooks that ``modules``
    install, without importing them. Returns the entry point names left out."""
    from kedro.framework.session import session as kedro_session  # noqa: PLC0415

    blocked = hook_entry_points(modules)
    create_hook_manager = getattr(
        kedro_session._create_hook_manager, "unblocked", kedro_session._create_hook_manager
    )

    def create_without_skipped_hooks() -> Any:
        manager = create_hook_manager()
        for name in blocked:
            manager.set_blocked(name)
        return manager

    create_without_skipped_hooks.unblocked = create_hook_manager  # type: ignore[attr-defined]
    kedro_session._create_hook_manager = create_without_skipped_hooks
    return blocked
