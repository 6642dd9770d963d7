"""Per-node overhead and parallel speed-up of the local backend, measured in one run.

Builds a synthetic Kedro project in a temporary folder with two pipelines:

* ``chain``: 20 trivial nodes in a chain (each adds 1 to an in-memory number), so every
  edge crosses a task boundary and goes over the shared volume;
* ``fanout``: 8 independent nodes that each sleep for 1 second.

and measures, in this one process and run (the machine is shared and noisy, so only
ratios measured side by side are meaningful):

1. Kedro's in-process ``SequentialRunner`` (``session.run``) on ``chain``: the baseline;
2. ``kedro scanflow run`` on the local backend (fork server) on ``chain``;
3. the naive alternative: one ``kedro run --nodes X`` subprocess per node;
4. the local backend with ``start_method: spawn`` (a fresh interpreter per task) on a
   5-node chain;
5. ``fanout`` with the SequentialRunner and with the local backend, ``--max-workers 8``.

Both the SequentialRunner and the local backend log to MLflow (sqlite), so the
comparison includes tracking. Run from the repository root::

    .venv/bin/python benchmarks/runner_overhead.py [--repeats 3] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

CHAIN_LENGTH = 20
FANOUT_WIDTH = 8


def write_project(root: Path, extra_chains: tuple[int, ...] = ()) -> None:
    """Write the synthetic project into ``root``; ``extra_chains`` adds ``chain<n>``
    pipelines (the first n nodes of the chain)."""
    package = root / "src" / "bench_project"
    package.mkdir(parents=True)
    (root / "conf" / "base").mkdir(parents=True)
    (root / "conf" / "local").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [tool.kedro]
            package_name = "bench_project"
            project_name = "Bench Project"
            kedro_init_version = "1.7.0"
            source_dir = "src"
            """
        )
    )
    (root / ".telemetry").write_text("consent: false\n")
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text("")
    (package / "pipeline_registry.py").write_text(
        textwrap.dedent(
            f"""
            import time
            from kedro.pipeline import Pipeline, node, pipeline


            def start():
                return 0


            def add_one(value):
                return value + 1


            def sleep_one_second(index):
                time.sleep(1.0)
                return index


            def register_pipelines():
                chain = [node(start, None, "value_00", name="n00")]
                for i in range(1, {CHAIN_LENGTH}):
                    chain.append(node(add_one, f"value_{{i - 1:02d}}", f"value_{{i:02d}}", name=f"n{{i:02d}}"))
                fanout = [
                    node(sleep_one_second, f"params:index_{{i}}", f"slept_{{i}}", name=f"sleep_{{i}}")
                    for i in range({FANOUT_WIDTH})
                ]
                pipelines = {{
                    "__default__": pipeline(chain),
                    "chain": pipeline(chain),
                    "fanout": pipeline(fanout),
                }}
                for length in {sorted({5, *extra_chains})}:
                    pipelines[f"chain{{length}}"] = pipeline(chain[:length])
                return pipelines
            """
        )
    )
    (root / "conf" / "base" / "catalog.yml").write_text("{}\n")
    params = "\n".join(f"index_{i}: {i}" for i in range(FANOUT_WIDTH))
    (root / "conf" / "base" / "parameters.yml").write_text(params + "\n")
    (root / "conf" / "base" / "scanflow.yml").write_text(
        "run:\n  stream_logs: false\ntracker:\n  uri: sqlite:///mlflow.db\n  experiment: bench\n"
    )


def _median(samples: list[float]) -> float:
    return statistics.median(samples)


def time_sequential(root: Path, pipeline: str, repeats: int) -> float:
    """Median seconds of ``session.run`` with Kedro's SequentialRunner, in process."""
    from kedro.framework.session import KedroSession  # noqa: PLC0415

    samples = []
    for _ in range(repeats):
        with KedroSession.create(root) as session:
            started = time.perf_counter()
            session.run(pipeline_names=[pipeline])
            samples.append(time.perf_counter() - started)
        _end_leftover_mlflow_runs()
    return _median(samples)


def time_local_backend(root: Path, pipeline: str, repeats: int, max_workers: int = 1) -> float:
    """Median seconds of ``run_workflow`` on the local backend, in process."""
    from rich.console import Console  # noqa: PLC0415

    from kedro_scanflow.runs import RunRequest, run_workflow  # noqa: PLC0415

    samples = []
    for _ in range(repeats):
        request = RunRequest(pipelines=[pipeline], max_workers=max_workers)
        started = time.perf_counter()
        result = run_workflow(root, "bench_project", request, Console(file=open(os.devnull, "w")))  # noqa: SIM115
        samples.append(time.perf_counter() - started)
        if not result.succeeded:
            raise RuntimeError(f"benchmark run {result.run_id} failed")
    return _median(samples)


def time_naive_subprocess(root: Path, repeats: int) -> float:
    """Median seconds of one ``kedro run --nodes n00`` subprocess (one node)."""
    kedro = str(Path(sys.executable).with_name("kedro"))
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(
            [kedro, "run", "--pipeline", "chain", "--nodes", "n00"],
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
        )
        samples.append(time.perf_counter() - started)
    return _median(samples)


def _end_leftover_mlflow_runs() -> None:
    """kedro-mlflow's in-process runs can stay on MLflow's active-run stack after
    ``session.run``; end them before the temporary project disappears."""
    import mlflow  # noqa: PLC0415

    while mlflow.active_run() is not None:
        mlflow.end_run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="Also write the results here.")
    args = parser.parse_args()

    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="scanflow-bench-") as folder:
        root = Path(folder)
        write_project(root)
        os.chdir(root)
        bootstrap_project(root)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        # Warm-up: create the tracking database and import everything once.
        time_sequential(root, "chain5", 1)
        time_local_backend(root, "chain5", 1)

        sequential_chain = time_sequential(root, "chain", args.repeats)
        local_chain = time_local_backend(root, "chain", args.repeats)
        naive_node = time_naive_subprocess(root, args.repeats)
        sequential_fanout = time_sequential(root, "fanout", args.repeats)
        local_fanout = time_local_backend(root, "fanout", args.repeats, max_workers=FANOUT_WIDTH)
        config = root / "conf" / "base" / "scanflow.yml"
        config.write_text(config.read_text() + "backends:\n  local:\n    start_method: spawn\n")
        spawn_chain5 = time_local_backend(root, "chain5", 1)
        sequential_chain5 = time_sequential(root, "chain5", args.repeats)
        _end_leftover_mlflow_runs()

    results = {
        "cpu_count": os.cpu_count(),
        "repeats": args.repeats,
        "chain_nodes": CHAIN_LENGTH,
        "sequential_chain_s": round(sequential_chain, 3),
        "local_chain_s": round(local_chain, 3),
        "local_overhead_per_node_s": round((local_chain - sequential_chain) / CHAIN_LENGTH, 3),
        "naive_subprocess_per_node_s": round(naive_node, 3),
        "spawn_overhead_per_node_s": round((spawn_chain5 - sequential_chain5) / 5, 3),
        "fanout_nodes": FANOUT_WIDTH,
        "sequential_fanout_s": round(sequential_fanout, 3),
        "local_fanout_8_workers_s": round(local_fanout, 3),
        "parallel_speedup": round(sequential_fanout / local_fanout, 2),
    }
    width = max(len(key) for key in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    print(
        f"\nlocal backend: {results['local_overhead_per_node_s']:.3f} s/node over the in-process "
        f"SequentialRunner (target < 0.3), {results['naive_subprocess_per_node_s'] / max(results['local_overhead_per_node_s'], 1e-3):.1f}x "
        f"cheaper than a `kedro run --nodes` subprocess per node; 8 x 1 s nodes in "
        f"{results['local_fanout_8_workers_s']:.2f} s (target < 3), speed-up {results['parallel_speedup']}x."
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
