"""What a task process loads before its task, in which order, and what it prints while
it does. Every task container pays for it and prints it, so a chain of containers does
so once per node. Each case runs in a fresh interpreter, as a task does."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kedro_scanflow.runs.run_directory import RunDirectory
from kedro_scanflow.runs.run_request import RunRequest

from .conftest import cli_env
from .test_pod_task_process import run_task_process, toy_spec
from .test_task_logging import RICH_PROJECT_LOGGING

SETTINGS_PROBE = """
import importlib.util as _util, json as _json, os as _os, sys as _sys
if _os.environ.get("SETTINGS_PROBE"):
    with open(_os.environ["SETTINGS_PROBE"], "a") as _probe:
        _loaded = sorted(m for m in ("mlflow", "pandas", "flask") if m in _sys.modules)
        _probe.write(_json.dumps([_loaded, _util.find_spec("flask") is not None]))
        _probe.write("\\n")
"""


def test_a_task_process_loads_the_project_settings_before_mlflow(toy_project, tmp_path):
    """dynaconf, loading the settings, walks every loaded module for each settings file
    it does not find: with MLflow loaded that is about 0.06 CPU-s more per task. dynaconf
    itself leaves Flask unloaded, and the settings can import it."""
    settings = next((toy_project.path / "src").glob("*/settings.py"))
    settings.write_text(settings.read_text() + SETTINGS_PROBE)
    probe = tmp_path / "loaded-when-settings-load.jsonl"
    run = RunDirectory.create(toy_project.runs_root(), RunRequest(pipelines=["numbers"]))
    spec = toy_spec(run, toy_project, "load-numbers", "load_numbers", {"numbers": "numbers.pkl"})

    done = run_task_process(toy_project, spec, extra_env={"SETTINGS_PROBE": str(probe)})

    assert done.returncode == 0, done.stderr
    assert (run.volume / "numbers.pkl").is_file()
    loaded, flask_importable = json.loads(probe.read_text().splitlines()[0])
    assert loaded == [], f"settings loaded after {loaded}"
    assert flask_importable


@pytest.mark.parametrize("project_logging", [False, True], ids=["task-logging", "rich"])
def test_a_task_log_does_not_repeat_warnings_about_the_plugins(toy_project, project_logging):
    """MLflow warns, when kedro-mlflow's hook is imported, that kedro-mlflow's pipeline
    model has no type hints: nothing a project can act on, in every task's log. With a
    project's Rich handler, warnings go through logging instead."""
    if project_logging:
        (toy_project.path / "conf" / "logging.yml").write_text(RICH_PROJECT_LOGGING)
    run = RunDirectory.create(toy_project.runs_root(), RunRequest(pipelines=["numbers"]))
    spec = toy_spec(run, toy_project, "load-numbers", "load_numbers", {"numbers": "numbers.pkl"})

    done = run_task_process(toy_project, spec)

    assert done.returncode == 0, done.stderr
    assert "Running node: load_numbers" in done.stderr
    assert "Add type hints" not in done.stderr + done.stdout
    assert "register_new_resolver" not in done.stderr + done.stdout


def test_a_project_without_supervision_does_not_load_the_special_nodes(toy_project):
    """The plugin's hook runs in every Kedro process of the project, task processes
    included; checkers, improvers and labelling are loaded only for a ``supervision``
    section."""
    session_start = (
        "import sys\n"
        "from pathlib import Path\n"
        "from kedro.framework.session import KedroSession\n"
        "from kedro.framework.startup import bootstrap_project\n"
        "bootstrap_project(Path.cwd())\n"
        "with KedroSession.create(Path.cwd()) as session:\n"
        "    catalog = session.load_context().catalog\n"
        "print(sorted({m.split('.')[1] for m in sys.modules\n"
        "              if m.startswith('kedro_scanflow.')}))\n"
    )
    started = subprocess.run(
        [sys.executable, "-c", session_start],
        cwd=toy_project.path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    packages = started.stdout.strip().splitlines()[-1]
    assert "'config'" in packages and "'framework'" in packages, packages
    for special in ("supervision", "agent", "checkers", "improvers", "human"):
        assert f"'{special}'" not in packages, packages
