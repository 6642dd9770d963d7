"""Per-node overhead of the Docker backend, measured in one run against two baselines.

Uses the synthetic project of ``runner_overhead.py`` (a chain of trivial nodes, every
edge over the shared volume), builds its image with ``kedro scanflow build`` (needs the
base image: ``kedro scanflow base-image``), then measures in the same process:

1. a no-op ``docker run`` of the same image (``true``) without a network, and one that
   starts Python (``python -c pass``): what any container-per-node system pays at least.
   The target is measured against the first. ``docker run --rm IMAGE true`` as typed
   attaches the container to the engine's default bridge network, which costs more; it
   is measured too, for reference;
2. Kedro's in-process ``SequentialRunner`` on the chain;
3. the local backend (fork server) on the chain;
4. the Docker backend on the chain (one container per node, prewarmed), and on a chain
   half as long. Whole runs give the cost per node a user sees, fixed cost included
   (network, tracker container, parent run, clean-up). The span of a run's tasks (first
   start to last end, from the task states the orchestrator saved) leaves the fixed cost
   out; the difference between the two chains' spans is what one more node costs
   within a run. Differences of whole runs would carry the tracker's start-up time,
   which varies by a second or more from run to run;
5. the Docker backend on the chain again while ``kedro scanflow tracker`` serves the
   project's tracker volume: runs join that tracker instead of starting their own;
6. the machine's busy CPU time during the Docker runs, per node: on a small machine a
   chain of containers is bound by it, since every container pays for its interpreter.

Measures 1 to 4 are taken in rounds, one of each per round, and each overhead is worked
out within its round before the median is taken: on a shared machine a slow spell then
falls on a Docker run and on the baselines it is compared with alike.

Run from the repository root::

    .venv/bin/python benchmarks/docker_overhead.py [--nodes 10] [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runner_overhead import (  # noqa: E402
    _end_leftover_mlflow_runs,
    time_local_backend,
    time_sequential,
    write_project,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from kedro_scanflow.runs.run_directory import RunDirectory

IMAGE = "scanflow/bench-project:latest"


@dataclass(frozen=True)
class DockerTimes:
    """Median wall seconds, busy CPU seconds and task span of Docker runs of a pipeline."""

    wall: float
    cpu: float
    span: float


@dataclass(frozen=True)
class Round:
    """One of each measurement, taken one after the other."""

    noop_true: float
    noop_python: float
    noop_bridge: float
    sequential: float
    local: float
    docker: DockerTimes
    docker_half: DockerTimes

    def per_node(self, nodes: int) -> float:
        """Seconds per node of a whole Docker run over the SequentialRunner."""
        return (self.docker.wall - self.sequential) / nodes

    def in_run(self, nodes: int) -> float:
        """Seconds one more node adds within a Docker run, its own work left out."""
        half = nodes // 2
        spans = self.docker.span - self.docker_half.span
        return spans / (nodes - half) - self.sequential / nodes


def measure_round(root: Path, nodes: int) -> Round:
    """The baselines and the Docker runs of one round (two samples of each no-op run)."""
    pipeline = "chain" if nodes == 20 else f"chain{nodes}"
    return Round(
        noop_true=time_noop_container(["true"], 2),
        noop_python=time_noop_container(["python", "-c", "pass"], 2),
        noop_bridge=time_noop_container(["true"], 2, network_mode="default"),
        sequential=time_sequential(root, pipeline, 1),
        local=time_local_backend(root, pipeline, 1),
        docker=time_docker_backend(root, pipeline, 1),
        docker_half=time_docker_backend(root, f"chain{nodes // 2}", 1),
    )


def time_noop_container(command: list[str], repeats: int, network_mode: str = "none") -> float:
    """Median seconds to create, start, wait for and remove a container of the image;
    ``network_mode`` ``default`` leaves the engine's default (its bridge network)."""
    from kedro_scanflow.images import docker_client  # noqa: PLC0415

    client = docker_client()
    network = {} if network_mode == "default" else {"network_mode": network_mode}
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        client.containers.run(IMAGE, command, remove=True, **network)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine spent busy (user, nice, system) since boot."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system = (int(value) for value in fields[:3])
    return (user + nice + system) / os.sysconf("SC_CLK_TCK")


def time_docker_backend(root: Path, pipeline: str, repeats: int) -> DockerTimes:
    """Medians over ``repeats`` Docker runs of ``pipeline``: wall time, busy CPU time and
    the span of its tasks."""
    from rich.console import Console  # noqa: PLC0415

    from kedro_scanflow.runs import RunRequest, run_workflow  # noqa: PLC0415

    samples, cpu, spans = [], [], []
    for _ in range(repeats):
        request = RunRequest(pipelines=[pipeline], backend="docker", max_workers=2)
        cpu_before = busy_cpu_seconds()
        started = time.perf_counter()
        result = run_workflow(root, "bench_project", request, Console(file=open(os.devnull, "w")))  # noqa: SIM115
        samples.append(time.perf_counter() - started)
        cpu.append(busy_cpu_seconds() - cpu_before)
        if not result.succeeded:
            raise RuntimeError(f"benchmark run {result.run_id} failed: {result.outcome.failed}")
        spans.append(task_span(result.run_directory, list(result.plan.tasks)))
    return DockerTimes(statistics.median(samples), statistics.median(cpu), statistics.median(spans))


def task_span(run_directory: RunDirectory, slugs: list[str]) -> float:
    """Seconds from the first task's start to the last task's end, from the task states
    the orchestrator saved: the run without its fixed cost (the tracker's start before
    the first task, the clean-up after the last)."""
    states = [run_directory.task_state(slug) for slug in slugs]
    starts = [datetime.fromisoformat(s.started_at) for s in states if s and s.started_at]
    ends = [datetime.fromisoformat(s.ended_at) for s in states if s and s.ended_at]
    return (max(ends) - min(starts)).total_seconds()


@contextmanager
def shared_tracker(root: Path, kedro: str, env: dict[str, str]) -> Iterator[None]:
    """``kedro scanflow tracker`` running in the project for the block: Docker runs join
    it instead of starting a tracker container of their own."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(  # noqa: S603
        [kedro, "scanflow", "tracker", "--port", str(port)],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("kedro scanflow tracker did not serve") from None
                time.sleep(0.2)
        yield
    finally:
        server.send_signal(signal.SIGTERM)  # SIGINT is ignored by background jobs
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=10, help="Chain length (even, at most 20).")
    parser.add_argument("--repeats", type=int, default=5, help="Rounds of measurements.")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.nodes % 2 or not 2 <= args.nodes <= 20:
        parser.error("--nodes must be even, between 2 and 20")
    half = args.nodes // 2
    pipeline = "chain" if args.nodes == 20 else f"chain{args.nodes}"

    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="scanflow-bench-docker-") as folder:
        root = Path(folder)
        write_project(root, extra_chains=tuple({args.nodes, half} - {20}))
        kedro = str(Path(sys.executable).with_name("kedro"))
        env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
        started = time.perf_counter()
        subprocess.run(
            [kedro, "scanflow", "build"], cwd=root, env=env, check=True, capture_output=True
        )
        build_s = time.perf_counter() - started
        os.chdir(root)
        bootstrap_project(root)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        time_docker_backend(root, pipeline, 1)  # warm-up: tracker volume, page cache

        rounds = [measure_round(root, args.nodes) for _ in range(args.repeats)]
        with shared_tracker(root, kedro, env):
            shared = time_docker_backend(root, pipeline, args.repeats)
        _end_leftover_mlflow_runs()

    def median(measure: Callable[[Round], float]) -> float:
        return statistics.median(measure(r) for r in rounds)

    noop_true, noop_bridge = median(lambda r: r.noop_true), median(lambda r: r.noop_bridge)
    sequential = median(lambda r: r.sequential)
    docker = DockerTimes(
        median(lambda r: r.docker.wall),
        median(lambda r: r.docker.cpu),
        median(lambda r: r.docker.span),
    )
    per_node = median(lambda r: r.per_node(args.nodes))
    in_run = median(lambda r: r.in_run(args.nodes))
    above_noop = median(lambda r: r.per_node(args.nodes) - r.noop_true)
    above_bridge = median(lambda r: r.per_node(args.nodes) - r.noop_bridge)
    in_run_above_noop = median(lambda r: r.in_run(args.nodes) - r.noop_true)
    results = {
        "cpu_count": os.cpu_count(),
        "nodes": args.nodes,
        "repeats": args.repeats,
        "image_build_s": round(build_s, 1),
        "noop_docker_run_true_s": round(noop_true, 3),
        "noop_docker_run_python_s": round(median(lambda r: r.noop_python), 3),
        "noop_docker_run_default_network_s": round(noop_bridge, 3),
        "sequential_chain_s": round(sequential, 3),
        "local_chain_s": round(median(lambda r: r.local), 3),
        "docker_chain_s": round(docker.wall, 3),
        "docker_chain_task_span_s": round(docker.span, 3),
        "docker_half_chain_s": round(median(lambda r: r.docker_half.wall), 3),
        "docker_half_chain_task_span_s": round(median(lambda r: r.docker_half.span), 3),
        "docker_busy_cpu_per_node_s": round(docker.cpu / args.nodes, 3),
        "local_overhead_per_node_s": round(
            median(lambda r: (r.local - r.sequential) / args.nodes), 3
        ),
        "docker_overhead_per_node_s": round(per_node, 3),
        "docker_overhead_above_noop_run_s": round(above_noop, 3),
        "docker_overhead_above_noop_run_by_round_s": [
            round(r.per_node(args.nodes) - r.noop_true, 3) for r in rounds
        ],
        "docker_overhead_above_default_network_noop_run_s": round(above_bridge, 3),
        "docker_fixed_cost_per_run_s": round(median(lambda r: r.docker.wall - r.docker.span), 3),
        "docker_in_run_per_node_s": round(in_run, 3),
        "docker_in_run_above_noop_run_s": round(in_run_above_noop, 3),
        "shared_tracker_docker_chain_s": round(shared.wall, 3),
        "shared_tracker_fixed_cost_per_run_s": round(shared.wall - shared.span, 3),
        "shared_tracker_overhead_above_noop_run_s": round(
            (shared.wall - sequential) / args.nodes - noop_true, 3
        ),
    }
    width = max(len(key) for key in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    shared_per_node = (shared.wall - sequential) / args.nodes
    print(
        f"\nDocker backend, whole runs: {per_node:.2f} s per node over the SequentialRunner, "
        f"{above_noop:+.2f} s against a no-op `docker run` ({noop_true:.2f} s; "
        f"{above_bridge:+.2f} s against one on the default bridge network, "
        f"{noop_bridge:.2f} s), with a fixed cost of "
        f"{results['docker_fixed_cost_per_run_s']:.1f} s per run (tracker start, clean-up) "
        f"spread over {args.nodes} nodes; medians of per-round differences. Within a run, a "
        f"node costs {in_run:.2f} s ({in_run_above_noop:+.2f} s against the no-op run; "
        f"target < 1.0 s above it). The machine was busy {docker.cpu / args.nodes:.2f} "
        f"CPU-s per node on {os.cpu_count()} cores. With `kedro scanflow tracker` serving, "
        f"runs join its tracker: {shared_per_node:.2f} s per node "
        f"({shared_per_node - noop_true:+.2f} s against the no-op run), a fixed cost of "
        f"{shared.wall - shared.span:.1f} s per run."
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
