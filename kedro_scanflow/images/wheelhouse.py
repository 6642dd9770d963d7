"""``Wheelhouse``: the wheels an image needs, built on the host, installed offline.

Inside a build (and inside most corporate or HPC containers) there is no usable package
index: images install everything with ``pip install --no-index`` from wheels that the
host built or downloaded. Versions are pinned to the host's own environment (its ``pip
freeze`` is the constraints file), so containers run the code the host tested. Wheels
are cached under ``~/.cache/kedro-scanflow/wheels`` and reused across builds.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

try:
    import tomllib as _toml
except ImportError:  # Python 3.10
    import tomli as _toml  # type: ignore[no-redef]

logger = logging.getLogger(__name__)

PLUGIN = "kedro-scanflow"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class WheelhouseError(RuntimeError):
    """pip could not build or download the wheels."""


def cache_directory() -> Path:
    """Where wheels are kept between builds."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "kedro-scanflow" / "wheels"


def requirement_name(requirement: str) -> str | None:
    """The normalised project name of a requirement line (``None`` for options/paths)."""
    line = requirement.strip()
    if not line or line.startswith(("-", "#", ".", "/")) or "://" in line.split("@")[0]:
        return None
    match = _NAME.match(line)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else None


def plugin_requirement() -> str:
    """How to install the kedro-scanflow that runs this command: its source folder when
    installed from one (editable or local path), else its exact version."""
    distribution = metadata.distribution(PLUGIN)
    direct_url = distribution.read_text("direct_url.json")
    if direct_url:
        url = json.loads(direct_url).get("url", "")
        if url.startswith("file://"):
            return url.removeprefix("file://")
    return f"{PLUGIN}=={distribution.version}"


def host_constraints() -> list[str]:
    """The host environment's pins (``pip freeze``), minus editable and URL installs."""
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=False,
    )
    return [
        line
        for line in completed.stdout.splitlines()
        if line and "==" in line and " @ " not in line and not line.startswith("-")
    ]


@dataclass(frozen=True)
class Wheelhouse:
    """Wheels split in two folders, so an image installs them as two cacheable layers.

    ``deps/`` holds third-party wheels and ``deps.txt`` pins them (they change rarely);
    ``local/`` holds the wheels built from local folders (kedro-scanflow from a checkout,
    path requirements), installed with ``--no-deps`` on top.
    """

    folder: Path
    requirements: tuple[str, ...]

    @property
    def deps(self) -> Path:
        return self.folder / "deps"

    @property
    def local(self) -> Path:
        return self.folder / "local"

    @classmethod
    def build(
        cls,
        folder: Path,
        requirements: list[str],
        cache: Path | None = None,
        with_plugin: bool = True,
    ) -> Wheelhouse:
        """Build (or fetch from the cache) every wheel ``requirements`` need into ``folder``.

        Raises:
            WheelhouseError: When pip fails; the message ends with pip's own output.
        """
        cache = cache or cache_directory()
        cache.mkdir(parents=True, exist_ok=True)
        staging = folder / "staging"
        staging.mkdir(parents=True, exist_ok=True)
        wanted = [r for r in requirements if requirement_name(r) != PLUGIN]
        if with_plugin:
            wanted.append(plugin_requirement())
        requirements_file = folder / "requested.txt"
        requirements_file.write_text("\n".join(wanted) + "\n", encoding="utf-8")
        constraints_file = folder / "constraints.txt"
        constraints_file.write_text("\n".join(host_constraints()) + "\n", encoding="utf-8")
        command = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--wheel-dir",
            str(staging),
            "--find-links",
            str(cache),
            "-r",
            str(requirements_file),
            "-c",
            str(constraints_file),
        ]
        logger.info("Building the wheelhouse: %s", " ".join(wanted))
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-25:])
            raise WheelhouseError(f"pip wheel failed for {wanted}:\n{tail}")
        local_names = {_local_project_name(r) for r in wanted if requirement_name(r) is None}
        wheelhouse = cls(folder=folder, requirements=tuple(wanted))
        wheelhouse.deps.mkdir(exist_ok=True)
        wheelhouse.local.mkdir(exist_ok=True)
        pins = []
        for wheel in sorted(staging.glob("*.whl")):
            name, version = _wheel_name_version(wheel)
            if name in local_names:
                wheel.rename(wheelhouse.local / wheel.name)
            else:
                _keep_in_cache(wheel, cache / wheel.name)
                pins.append(f"{name}=={version}")
                wheel.rename(wheelhouse.deps / wheel.name)
        (folder / "deps.txt").write_text("\n".join(pins) + "\n", encoding="utf-8")
        shutil.rmtree(staging)
        return wheelhouse


def _wheel_name_version(wheel: Path) -> tuple[str, str]:
    """Normalised project name and version of a wheel file (PEP 427 file name)."""
    name, version = wheel.name.split("-")[:2]
    return re.sub(r"[-_.]+", "-", name).lower(), version


def _keep_in_cache(wheel: Path, cached: Path) -> None:
    """Hard-link (or copy, across file systems) a new wheel into the cache."""
    if cached.exists():
        return
    try:
        os.link(wheel, cached)
    except OSError:
        shutil.copyfile(wheel, cached)


def _local_project_name(requirement: str) -> str:
    """The project name of a path requirement (e.g. the plugin's source folder)."""
    pyproject = Path(requirement) / "pyproject.toml"
    if pyproject.is_file():
        name = _toml.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("name")
        if name:
            return re.sub(r"[-_.]+", "-", str(name)).lower()
    raise WheelhouseError(f"Cannot tell which project the requirement {requirement!r} builds.")
