"""Read and validate ``scanflow.yml`` through the project's Kedro config loader.

Going through the config loader gives users what they expect from any Kedro
configuration: environments (``conf/local`` overrides ``conf/base``), ``--env`` and the
loader's resolvers. Validation errors name the file, the key and the bad value.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from kedro.config import MissingConfigException
from pydantic import ValidationError

from kedro_scanflow.config.scanflow_config import ScanflowConfig

if TYPE_CHECKING:
    from kedro.config import AbstractConfigLoader

CONFIG_KEY = "scanflow"
CONFIG_PATTERNS = ["scanflow*", "scanflow*/**"]

logger = logging.getLogger(__name__)


class ScanflowConfigError(ValueError):
    """``scanflow.yml`` does not match its schema."""


def load_scanflow_config(config_loader: AbstractConfigLoader) -> ScanflowConfig:
    """Load ``scanflow.yml`` of the loader's environment and validate it.

    Args:
        config_loader: The project's config loader (``context.config_loader``).

    Returns:
        The validated configuration; defaults when the project has no ``scanflow.yml``.

    Raises:
        ScanflowConfigError: When the file does not match the schema. The message names
            the file, each bad key and its value.
    """
    if CONFIG_KEY not in config_loader.config_patterns:
        config_loader.config_patterns.update({CONFIG_KEY: CONFIG_PATTERNS})
    try:
        raw = config_loader[CONFIG_KEY]
    except MissingConfigException:
        if _config_files(config_loader):
            raise  # the files exist but cannot be read: not a case for defaults
        logger.debug("No scanflow.yml found; using the defaults.")
        raw = {}
    try:
        return ScanflowConfig.model_validate(raw or {})
    except ValidationError as error:
        files = _config_files(config_loader)
        raise ScanflowConfigError(_describe(error, files)) from None


def _config_files(config_loader: AbstractConfigLoader) -> list[Path]:
    """The ``scanflow*.yml`` files the loader reads, base environment first."""
    conf_source = Path(getattr(config_loader, "conf_source", "conf"))
    base_env = getattr(config_loader, "base_env", "base")
    run_env = getattr(config_loader, "env", None) or getattr(config_loader, "default_run_env", None)
    envs = [base_env] if run_env == base_env else [base_env, run_env]
    files: list[Path] = []
    for env in filter(None, envs):
        env_dir = conf_source / env
        for pattern in ("scanflow*.yml", "scanflow*.yaml", "scanflow*/**/*.yml"):
            files.extend(sorted(env_dir.glob(pattern)))
    return files


def _describe(error: ValidationError, files: list[Path]) -> str:
    lines = ["Invalid scanflow configuration:"]
    for problem in error.errors():
        location = tuple(str(part) for part in problem["loc"])
        key = ".".join(location)
        where = _file_defining(location, files) or (files[0] if files else Path("scanflow.yml"))
        value = problem.get("input")
        shown = "" if problem["type"] == "missing" else f" (got {value!r})"
        lines.append(f"  {where}: key '{key}': {problem['msg']}{shown}")
    return "\n".join(lines)


def _file_defining(location: tuple[str, ...], files: list[Path]) -> Path | None:
    """The file that defines the longest prefix of the key path; later files win ties,
    as they win the merge."""
    best, best_depth = None, 0
    for path in files:
        try:
            node: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        depth = 0
        for part in location:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                break
            depth += 1
        if depth and depth >= best_depth:
            best, best_depth = path, depth
    return best
