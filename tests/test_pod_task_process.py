"""What runs inside a Kubernetes pod, run here for real as a process: the task with its
spec in the environment, its failure in the termination message, the success markers and
upstream gate of exported workflows, and the seeding of the shared volume."""

from __future__ import annotations

import atexit
import os
import subprocess
import sys

import pytest

from kedro_scanflow.backends.kubernetes.volume_seed import seed
from kedro_scanflow.runs.run_directory import RunDirectory, TaskFailure
from kedro_scanflow.runs.run_request import RunRequest
from kedro_scanflow.tasks.process_end import ProcessEnd
from kedro_scanflow.tasks.task_spec import TaskSpec
from kedro_scanflow.tasks.termination_message import (
    MAX_TERMINATION_MESSAGE,
    termination_message,
)
from kedro_scanflow.tasks.upstream_gate import wait_for_upstream

from .conftest import cli_env

SPEC_VARIABLE = "SCANFLOW_TASK_SPEC"


TASK_COMMAND = (sys.executable, "-m", "kedro_scanflow.tasks")


def run_task_process(
    project,
    spec: TaskSpec,
    *extra: str,
    command: tuple[str, ...] = TASK_COMMAND,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m kedro_scanflow.tasks --spec-env ...``, as a task pod runs it (or
    ``command`` with the same arguments), with ``extra_env`` added to its environment."""
    return subprocess.run(
        [
            *command,
            "--spec-env",
            SPEC_VARIABLE,
            "--project-path",
            str(project.path),
            *extra,
        ],
        cwd=project.path,
        env=cli_env(**{SPEC_VARIABLE: spec.model_dump_json()}, **(extra_env or {})),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def toy_spec(run: RunDirectory, project, slug: str, node: str, shared: dict[str, str]) -> TaskSpec:
    return TaskSpec(
        run_id=run.run_id,
        slug=slug,
        name=node,
        nodes=[node],
        pipelines=["numbers"],
        run_directory=os.path.relpath(run.root, project.path),
        shared_datasets=shared,
        backend="kubernetes",
    )


def test_a_pod_task_reads_its_spec_from_the_environment_and_reports_through_files(
    toy_project, tmp_path
):
    run = RunDirectory.create(toy_project.runs_root(), RunRequest(pipelines=["numbers"]))
    marker = tmp_path / "load-numbers.succeeded"
    termination_log = tmp_path / "termination-log"
    load = toy_spec(run, toy_project, "load-numbers", "load_numbers", {"numbers": "numbers.pkl"})

    done = run_task_process(toy_project, load, "--success-marker", str(marker))
    assert done.returncode == 0, done.stderr
    assert marker.read_text().strip() == "load-numbers"
    assert (run.volume / "numbers.pkl").is_file()

    (toy_project.path / "data" / "FAIL_DOUBLE").write_text("")
    double = toy_spec(
        run, toy_project, "double", "double", {"numbers": "numbers.pkl", "doubled": "doubled.pkl"}
    )
    failed = run_task_process(
        toy_project,
        double,
        "--termination-log",
        str(termination_log),
        "--success-marker",
        str(tmp_path / "double.succeeded"),
    )
    assert failed.returncode == 1
    reported = TaskFailure.model_validate_json(termination_log.read_text())
    assert reported == run.task_failure("double"), "the same failure as failure.json"
    assert reported.node == "double" and reported.error_type == "RuntimeError"
    assert not (tmp_path / "double.succeeded").exists()


def test_the_task_command_needs_exactly_one_way_to_get_its_spec(toy_project):
    for arguments in (
        [],
        ["--spec", "x.json", "--spec-env", "X"],
        ["--spec-env", "X", "--await-spec"],
    ):
        completed = subprocess.run(
            [sys.executable, "-m", "kedro_scanflow.tasks", *arguments],
            cwd=toy_project.path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode == 2, arguments
        assert "--spec" in completed.stderr


def test_a_long_failure_is_cut_to_what_kubernetes_keeps_and_stays_valid_json():
    failure = TaskFailure(
        node="train", error_type="ValueError", message="m" * 6000, traceback="t" * 20000
    )
    text = termination_message(failure)
    assert len(text.encode()) <= MAX_TERMINATION_MESSAGE
    parsed = TaskFailure.model_validate_json(text)
    assert parsed.node == "train" and parsed.error_type == "ValueError"
    assert parsed.message.startswith("mmm")


def test_the_upstream_gate_opens_on_markers_and_fails_on_an_upstream_failure(tmp_path):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    markers = [tasks / "a.succeeded", tasks / "b.succeeded"]
    failures = [tasks / "a.failure.json", tasks / "b.failure.json"]
    assert wait_for_upstream(markers, failures, timeout=0.2, poll=0.05) == (
        "gave up waiting for a.succeeded, b.succeeded"
    )
    markers[0].write_text("a")
    failures[1].write_text("{}")
    assert wait_for_upstream(markers, failures, timeout=1, poll=0.05) == (
        "upstream task(s) failed: b"
    )
    failures[1].unlink()
    markers[1].write_text("b")
    assert wait_for_upstream(markers, failures, timeout=1, poll=0.05) is None


def test_seeding_copies_missing_files_only(tmp_path):
    image = tmp_path / "image"
    (image / "data" / "01_raw" / "nested").mkdir(parents=True)
    (image / "data" / "01_raw" / "numbers.json").write_text("from the image")
    (image / "data" / "01_raw" / "nested" / "more.json").write_text("nested")
    claim = tmp_path / "claim"
    (claim / "01_raw").mkdir(parents=True)
    (claim / "01_raw" / "numbers.json").write_text("edited on the volume")

    copied = seed(image, claim, ["data/01_raw"])

    assert copied == [claim / "01_raw" / "nested" / "more.json"]
    assert (claim / "01_raw" / "numbers.json").read_text() == "edited on the volume"
    with pytest.raises(FileNotFoundError, match="backends.docker.include"):
        seed(image, claim, ["data/02_intermediate"])


def test_a_task_process_ends_after_every_exit_handler_with_its_output_flushed(
    toy_project, tmp_path
):
    """The process ends without the interpreter's teardown once its task has reported,
    yet after the exit handlers: the task's own, and those registered before the task
    command started (coverage, tracing agents), which then keep the usual teardown."""
    run = RunDirectory.create(toy_project.runs_root(), RunRequest(pipelines=["numbers"]))
    load = toy_spec(run, toy_project, "load-numbers", "load_numbers", {"numbers": "numbers.pkl"})

    (toy_project.path / "data" / "LINGER").write_text("0 3")  # the node's handler exits 3
    lingered = run_task_process(toy_project, load)
    assert lingered.returncode == 3, lingered.stderr
    (toy_project.path / "data" / "LINGER").unlink()

    early = tmp_path / "early-handler"
    wrapped = run_task_process(
        toy_project,
        load,
        command=(
            sys.executable,
            "-c",
            "import atexit, pathlib, runpy, sys\n"
            f"atexit.register(pathlib.Path({str(early)!r}).write_text, 'ran')\n"
            "sys.argv = ['kedro_scanflow.tasks', *sys.argv[1:]]\n"
            "runpy.run_module('kedro_scanflow.tasks', run_name='__main__', alter_sys=True)\n",
        ),
    )
    assert wrapped.returncode == 0, wrapped.stderr
    assert early.read_text() == "ran"

    printed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from kedro_scanflow.tasks.process_end import ProcessEnd\n"
            "end = ProcessEnd()\n"
            "assert end.arm()\n"
            "sys.stdout.write('no newline, still flushed')\n"
            "end.after_report(4)\n"
            "sys.exit(0)\n",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert printed.returncode == 4, printed.stderr
    assert printed.stdout == "no newline, still flushed"


def test_process_end_stays_unarmed_behind_an_earlier_exit_handler():
    def earlier() -> None:
        """An exit handler registered before the task command started."""

    atexit.register(earlier)
    try:
        assert ProcessEnd().arm() is False
    finally:
        atexit.unregister(earlier)
