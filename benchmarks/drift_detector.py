"""Benchmark of the Drift Detector Checker: training time, and scoring speed against Keras.

Trains the detector on the 5,000-image MNIST subset shipped in ``data/01_raw``, then
scores the same images (repeated to make a longer batch) three ways in one process:

- ``model.predict`` as a user would call it (default batch size, 32),
- ``model.predict`` with a large batch (1,024), the best plain Keras can do,
- ``DriftDetectorChecker.score``, the code path the checker uses.

Each is warmed up once, then timed ``--repeats`` times in interleaved rounds (so that
load from other processes hits all three alike); the median is reported. ``predict``
timings cover the forward pass only (the error is not even computed), ``score``
timings cover input checks, the forward pass and the per-image error.

Run from the repository root::

    .venv/bin/python benchmarks/drift_detector.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from kedro_scanflow.checkers import DriftDetectorChecker
from kedro_scanflow.io import IdxImageDataset

REPO_ROOT = Path(__file__).resolve().parents[1]
IMAGES = REPO_ROOT / "data/01_raw/mnist_5k/images-idx3-ubyte.gz"
LABELS = REPO_ROOT / "data/01_raw/mnist_5k/labels-idx1-ubyte.gz"


def _timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--epochs", type=int, default=None, help="training epochs (default: the detector's, 20)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument(
        "--tile", type=int, default=4, help="score the 5k set this many times over (default 4)"
    )
    arguments = parser.parse_args()

    import keras  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    training = IdxImageDataset(str(IMAGES), str(LABELS)).load()
    print(
        f"machine: {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}, Keras {keras.__version__}"
    )

    settings = {"epochs": arguments.epochs} if arguments.epochs else {}
    detector = DriftDetectorChecker(seed=42, **settings)
    detector.fit(training)
    summary = detector.training_summary
    print(
        f"training: {summary['n_images']} images, {summary['epochs']} epochs, "
        f"{summary['seconds']:.1f} s, final loss {summary['final_loss']:.5f} "
        f"(per-image error median {summary['errors']['quantiles']['0.50']:.4f})"
    )

    images = np.concatenate([training.images] * arguments.tile)
    pixels = images.astype(np.float32)[..., None] / 255.0
    model = detector.model
    contenders = {
        "model.predict (batch 32)": lambda: model.predict(pixels, verbose=0),
        "model.predict (batch 1024)": lambda: model.predict(pixels, batch_size=1024, verbose=0),
        "DriftDetectorChecker.score": lambda: detector.score(images),
    }
    for run in contenders.values():
        run()  # warm-up: tracing, oneDNN primitive creation
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(arguments.repeats):
        for name, run in contenders.items():
            seconds[name].append(_timed(run))

    reference = keras.ops.convert_to_numpy(
        keras.losses.binary_crossentropy(pixels[:5000], model.predict(pixels[:5000], verbose=0))
    ).mean(axis=(1, 2))
    difference = float(np.abs(detector.score(images[:5000]) - reference).max())

    rates = {name: len(images) / statistics.median(times) for name, times in seconds.items()}
    print(f"\nscoring {len(images)} 28x28 images, median of {arguments.repeats} rounds:\n")
    print("| path | images/s (median) | slowest round | fastest round |")
    print("|---|---:|---:|---:|")
    for name, times in seconds.items():
        print(
            f"| {name} | {rates[name]:,.0f} | {len(images) / max(times):,.0f} "
            f"| {len(images) / min(times):,.0f} |"
        )
    ours = rates["DriftDetectorChecker.score"]
    print(
        f"\nscore() / plain predict (batch 32):   {ours / rates['model.predict (batch 32)']:.2f}x"
    )
    print(
        f"score() / tuned predict (batch 1024): {ours / rates['model.predict (batch 1024)']:.2f}x"
    )
    print(f"largest |score() - BCE(predict)| over 5,000 images: {difference:.2e}")


if __name__ == "__main__":
    main()
