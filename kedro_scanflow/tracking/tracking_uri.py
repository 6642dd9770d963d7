"""Where the tracker edge points: the MLflow tracking URI and experiment of a project.

Resolution order: the ``SCANFLOW_TRACKING_URI`` environment variable (set by ``kedro
scanflow deploy`` in the containers of ``serve`` and ``agent``, whose tracker is the
deployment's server whatever the project's files say), then ``scanflow.yml``
(``tracker.uri``, ``tracker.experiment``), then kedro-mlflow's ``mlflow.yml``
(``server.mlflow_tracking_uri``, ``tracking.experiment.name``), then the
``MLFLOW_TRACKING_URI`` environment variable, then a sqlite database ``mlflow.db`` at the
project root and the package name. Relative sqlite paths are made absolute against the project, so
every task process, whatever its working directory, reaches the same database.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kedro.config import AbstractConfigLoader

    from kedro_scanflow.config import TrackerOptions

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
OVERRIDE_VARIABLE = "SCANFLOW_TRACKING_URI"

logger = logging.getLogger(__name__)


class TrackingConfigError(ValueError):
    """The tracking URI cannot be used."""


@dataclass(frozen=True)
class TrackingTarget:
    """A resolved tracker: absolute URI, experiment name and artifact root."""

    uri: str
    experiment: str
    artifact_location: str | None
    """Artifact root of a new experiment; ``None`` lets a tracking server decide."""
    source: str
    """Which file (or default) the URI came from, for messages."""


def resolve_tracking_target(
    options: TrackerOptions,
    config_loader: AbstractConfigLoader,
    project_path: Path,
    package_name: str,
) -> TrackingTarget:
    """Resolve the tracking URI and experiment for a project.

    Raises:
        TrackingConfigError: When the URI is a plain file store, which MLflow 3 refuses.
    """
    mlflow_yml = kedro_mlflow_settings(config_loader)
    server = mlflow_yml.get("server") or {}
    experiment_conf = (mlflow_yml.get("tracking") or {}).get("experiment") or {}
    if os.environ.get(OVERRIDE_VARIABLE):
        uri, source = os.environ[OVERRIDE_VARIABLE], f"the {OVERRIDE_VARIABLE} variable"
    elif options.uri:
        uri, source = options.uri, "scanflow.yml (tracker.uri)"
    elif server.get("mlflow_tracking_uri"):
        uri, source = server["mlflow_tracking_uri"], "mlflow.yml (server.mlflow_tracking_uri)"
    elif os.environ.get("MLFLOW_TRACKING_URI"):
        uri, source = os.environ["MLFLOW_TRACKING_URI"], "the MLFLOW_TRACKING_URI variable"
    else:
        uri, source = DEFAULT_TRACKING_URI, "default"
    experiment = options.experiment or experiment_conf.get("name") or package_name
    artifacts = Path(options.artifact_location)
    if not artifacts.is_absolute():
        artifacts = project_path / artifacts
    return TrackingTarget(
        uri=absolute_tracking_uri(uri, project_path, source),
        experiment=experiment,
        artifact_location=artifacts.resolve().as_uri(),
        source=source,
    )


def absolute_tracking_uri(uri: str, project_path: Path, source: str = "tracker.uri") -> str:
    """Make a sqlite URI absolute against the project; reject plain file stores."""
    if uri.startswith("sqlite:///"):
        database = uri[len("sqlite:///") :]
        if database and not database.startswith("/") and database != ":memory:":
            return f"sqlite:///{(project_path / database).resolve()}"
        return uri
    if "://" not in uri or uri.startswith("file:"):
        if os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() != "true":
            raise TrackingConfigError(
                f"The tracking URI {uri!r} from {source} is a file store, which MLflow 3 "
                "refuses. Use a database such as 'sqlite:///mlflow.db' (relative to the "
                "project) or a tracking server URL."
            )
        path = Path(uri.removeprefix("file://").removeprefix("file:"))
        return (path if path.is_absolute() else project_path / path).resolve().as_uri()
    return uri


def override_kedro_mlflow_uri(config_loader: AbstractConfigLoader) -> None:
    """Make kedro-mlflow use ``SCANFLOW_TRACKING_URI`` too, when it is set.

    kedro-mlflow reads ``server.mlflow_tracking_uri`` from ``mlflow.yml`` and ignores the
    environment; a value set on the config loader takes the place of the files, so the
    same ``conf/`` works on a laptop (sqlite) and in a deployment (the tracker server).
    """
    uri = os.environ.get(OVERRIDE_VARIABLE)
    if not uri:
        return
    settings = kedro_mlflow_settings(config_loader)
    server = dict(settings.get("server") or {})
    server["mlflow_tracking_uri"] = uri
    config_loader["mlflow"] = {**settings, "server": server}


def keep_kedro_mlflow_in_task_run(config_loader: AbstractConfigLoader) -> None:
    """In a task process, stop kedro-mlflow from opening the task's run again before every
    node (``tracking.run.nested: false``).

    The task process opens its MLflow run before its session, and kedro-mlflow's hook logs
    into that active run. Before every node the hook opens the same run again, for
    runners that run nodes in threads of their own; with ``nested`` (its default) that
    costs three requests to the tracker per node and one more to end the run. A task's
    nodes run one after the other in its main thread, where the run is already active:
    without ``nested`` the hook finds it so and sends nothing.
    """
    settings = kedro_mlflow_settings(config_loader)
    tracking = dict(settings.get("tracking") or {})
    tracking["run"] = {**(tracking.get("run") or {}), "nested": False}
    config_loader["mlflow"] = {**settings, "tracking": tracking}


def kedro_mlflow_settings(config_loader: AbstractConfigLoader) -> dict[str, Any]:
    """kedro-mlflow's ``mlflow.yml``, or an empty dict when the project has none."""
    if "mlflow" not in config_loader.config_patterns:
        config_loader.config_patterns.update({"mlflow": ["mlflow*", "mlflow*/**"]})
    try:
        return dict(config_loader["mlflow"] or {})
    except Exception as error:  # noqa: BLE001 - any failure means "no usable mlflow.yml"
        logger.debug("mlflow.yml not used: %s", error)
        return {}
