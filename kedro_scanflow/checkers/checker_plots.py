"""Plots of the Drift Detector Checker, for people who would rather look than read.

- :func:`plot_reconstruction_errors`: histograms of the training and new reconstruction
  errors with the selector's thresholds, to see how far new data drifted and why samples
  were called critical.
- :func:`plot_critical_samples`: the selected samples as a grid, each captioned with its
  position in the new data, its error and (when given) the model's prediction, which is
  what a human labeller looks at.

Figures are built on matplotlib's object API with the Agg canvas: no pyplot state, no
display needed, safe in task processes and containers. Each function returns the
``Figure`` (Kedro's ``matplotlib.MatplotlibWriter`` saves it; ``mlflow.log_figure`` logs
it) and also writes a PNG when given a path.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kedro_scanflow.io.image_set import ImageSet

if TYPE_CHECKING:
    from collections.abc import Sequence

    from matplotlib.figure import Figure

    from kedro_scanflow.checkers.critical_point_selector import CriticalPoints


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | Path | None) -> None:
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, format="png")


def plot_reconstruction_errors(
    training_losses: np.ndarray,
    new_losses: np.ndarray,
    critical: CriticalPoints | None = None,
    *,
    lower_threshold: float | None = None,
    upper_threshold: float | None = None,
    bins: int = 60,
    title: str = "Drift detector: reconstruction error",
    path: str | Path | None = None,
) -> Figure:
    """Histogram of training vs new reconstruction errors, with both thresholds drawn.

    Args:
        training_losses: Errors of the training samples (``DriftDetectorChecker.training_losses``).
        new_losses: Errors of the new samples (``DriftDetectorChecker.score``).
        critical: A selection; its thresholds are drawn and its samples marked on the axis.
        lower_threshold: Lower threshold to draw when no selection is given.
        upper_threshold: Upper threshold to draw when no selection is given.
        bins: Number of histogram bins, shared by both histograms.
        title: Title of the plot.
        path: Where to write a PNG as well.

    Returns:
        The figure.

    Raises:
        ValueError: When either set of errors is empty.
    """
    training = np.asarray(training_losses, dtype=np.float64)
    new = np.asarray(new_losses, dtype=np.float64)
    if training.size == 0 or new.size == 0:
        raise ValueError("Both training and new losses are needed to draw their histograms.")
    if critical is not None:
        lower_threshold, upper_threshold = critical.lower_threshold, critical.upper_threshold
    figure = _new_figure(8, 4.5)
    axes = figure.add_subplot()
    finite = np.concatenate([training[np.isfinite(training)], new[np.isfinite(new)]])
    edges = np.histogram_bin_edges(finite, bins=bins)
    axes.hist(
        training,
        bins=edges,
        density=True,
        alpha=0.55,
        color="tab:blue",
        label=f"training ({training.size})",
    )
    axes.hist(
        new, bins=edges, density=True, alpha=0.55, color="tab:orange", label=f"new ({new.size})"
    )
    for value, name, style in [(lower_threshold, "lower", ":"), (upper_threshold, "upper", "--")]:
        if value is not None:
            axes.axvline(
                value,
                color="black",
                linestyle=style,
                linewidth=1.5,
                label=f"{name} threshold {value:.4g}",
            )
    if critical is not None and len(critical):
        axes.plot(
            critical.losses,
            np.zeros(len(critical)),
            "|",
            color="tab:red",
            markersize=14,
            markeredgewidth=1.5,
            label=f"selected critical ({len(critical)})",
        )
    axes.set_xlabel("reconstruction error (binary cross-entropy per pixel)")
    axes.set_ylabel("density")
    axes.set_title(title)
    axes.legend(loc="upper right", fontsize="small")
    _save(figure, path)
    return figure


def plot_critical_samples(
    images: ImageSet | np.ndarray,
    critical: CriticalPoints,
    *,
    predictions: Sequence[object] | np.ndarray | None = None,
    columns: int = 10,
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Grid of the selected critical samples, each with its index, error and prediction.

    Args:
        images: The new samples the selection indexes into (``ImageSet`` or ``(n, h, w)``).
        critical: The selection.
        predictions: The model's prediction for every new sample (same order as ``images``);
            shown under each selected sample when given.
        columns: Samples per row.
        title: Title of the grid; by default says how the samples were chosen.
        path: Where to write a PNG as well.

    Returns:
        The figure.

    Raises:
        ValueError: When the selection is empty, or ``images`` or ``predictions`` has
            fewer entries than the selection indexes.
    """
    array = images.images if isinstance(images, ImageSet) else np.asarray(images)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if len(critical) == 0:
        raise ValueError("The selection is empty: there are no critical samples to draw.")
    highest = int(critical.indices.max())
    if highest >= len(array):
        raise ValueError(
            f"The selection refers to sample {highest} but only {len(array)} images were given."
        )
    if predictions is not None and highest >= len(predictions):
        raise ValueError(
            f"The selection refers to sample {highest} but only {len(predictions)} "
            f"predictions were given."
        )
    columns = max(1, min(columns, len(critical)))
    rows = math.ceil(len(critical) / columns)
    figure = _new_figure(1.25 * columns, 1.55 * rows + 0.4)
    grid = figure.subplots(rows, columns, squeeze=False)
    scale = 255 if np.issubdtype(array.dtype, np.integer) else 1.0
    for cell, axes in enumerate(grid.flat):
        axes.set_axis_off()
        if cell >= len(critical):
            continue
        index = int(critical.indices[cell])
        axes.imshow(array[index], cmap="gray", vmin=0, vmax=scale)
        caption = f"#{index}\nloss {critical.losses[cell]:.3f}"
        if predictions is not None:
            caption += f"\npred {predictions[index]}"
        axes.set_title(caption, fontsize=7)
    figure.suptitle(
        title
        or f"{len(critical)} critical samples ({critical.method}, {critical.n_candidates} candidates)",
        fontsize=10,
    )
    _save(figure, path)
    return figure
