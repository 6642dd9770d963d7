"""How task processes log: plain lines without loading Rich, unless the project chose
its own logging configuration. Each case runs in a fresh interpreter, as a task does,
because Kedro reads its logging configuration once, when its settings are imported."""

from __future__ import annotations

import subprocess
import sys

import yaml

from kedro_scanflow.tasks.task_logging import PLAIN_FORMAT, TASK_LOGGING_CONFIG

from .conftest import cli_env

TASK_START = (
    "import logging, sys\n"
    "from kedro_scanflow.tasks.task_logging import plain_logging_unless_configured\n"
    "print('task configuration:', plain_logging_unless_configured())\n"
    "import kedro.framework.project\n"
    "from kedro_scanflow.tasks.task_logging import use_plain_log_output\n"
    "use_plain_log_output()\n"
    "print('rich loaded:', 'rich' in sys.modules)\n"
    "logging.getLogger('kedro.io').info('Loading %s', 'numbers')\n"
)


#: A project's own logging configuration with Kedro's Rich handler.
RICH_PROJECT_LOGGING = (
    "version: 1\n"
    "disable_existing_loggers: False\n"
    "handlers:\n"
    "  rich: {class: kedro.logging.RichHandler}\n"
    "loggers:\n"
    "  kedro: {level: INFO}\n"
    "root: {handlers: [rich]}\n"
)


def start_task_interpreter(cwd, **environment: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(**environment)
    if "KEDRO_LOGGING_CONFIG" not in environment:
        env.pop("KEDRO_LOGGING_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-c", TASK_START],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_a_task_logs_plain_lines_without_loading_rich(tmp_path):
    started = start_task_interpreter(tmp_path)
    assert "task configuration: True" in started.stdout
    assert "rich loaded: False" in started.stdout
    [line] = [line for line in started.stderr.splitlines() if "Loading numbers" in line]
    assert line.endswith(" INFO    kedro.io: Loading numbers"), line


def test_a_project_logging_configuration_is_kept_and_rich_boxes_become_lines(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "logging.yml").write_text(RICH_PROJECT_LOGGING)
    started = start_task_interpreter(tmp_path)
    assert "task configuration: False" in started.stdout
    assert "rich loaded: True" in started.stdout, "the project's handler was configured"
    [line] = [line for line in started.stderr.splitlines() if "Loading numbers" in line]
    assert line.endswith(" INFO    kedro.io: Loading numbers"), "then swapped for a plain one"


def test_a_logging_configuration_named_in_the_environment_is_kept(tmp_path):
    chosen = tmp_path / "chosen.yml"
    chosen.write_text(
        "version: 1\n"
        "disable_existing_loggers: False\n"
        "formatters:\n"
        "  chosen: {format: 'CHOSEN %(message)s'}\n"
        "handlers:\n"
        "  out: {class: logging.StreamHandler, formatter: chosen, stream: ext://sys.stderr}\n"
        "loggers:\n"
        "  kedro: {level: INFO}\n"
        "root: {handlers: [out]}\n"
    )
    started = start_task_interpreter(tmp_path, KEDRO_LOGGING_CONFIG=str(chosen))
    assert "task configuration: False" in started.stdout
    assert "CHOSEN Loading numbers" in started.stderr


def test_the_shipped_configuration_writes_the_plain_format():
    config = yaml.safe_load(TASK_LOGGING_CONFIG.read_text())
    assert config["formatters"]["plain"]["format"] == PLAIN_FORMAT
    assert config["loggers"]["kedro"]["level"] == "INFO"
