"""Nearest neighbours in the autoencoder's latent space: what the Human Finder Checker proposes.

For every critical (e.g. corrupted) sample, the finder shows the human a handful of clean
training samples whose latent codes are closest to the sample's; the human picks the one
that looks most alike, which gives the (corrupted, clean) pairs a denoiser learns from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kedro_scanflow.human.labeling_task import Proposals

if TYPE_CHECKING:
    from collections.abc import Sequence

_BLOCK_ELEMENTS = 1 << 22
"""Query rows per block are chosen so that one block of distances stays near 32 MiB."""


def propose_neighbours(
    query_latent: np.ndarray, reference_latent: np.ndarray, k: int
) -> np.ndarray:
    """The ``k`` nearest references of every query, by exact Euclidean distance.

    Latent codes may be vectors ``(n, d)`` or feature maps ``(n, ...)``, which are
    flattened. Equally distant references come in index order.

    Args:
        query_latent: Latent codes of the critical samples, ``(n, d)``.
        reference_latent: Latent codes of the candidate references, ``(m, d)``.
        k: How many neighbours to propose per query, ``1 <= k <= m``.

    Returns:
        Indices into the references, ``(n, k)``, nearest first.

    Raises:
        ValueError: When ``k`` is out of range, the codes' dimensions differ, or a code
            holds NaN or infinite values.
    """
    queries = _latent_matrix(query_latent, "query_latent")
    references = _latent_matrix(reference_latent, "reference_latent")
    if len(references) == 0:
        raise ValueError("reference_latent is empty: there is nothing to propose.")
    if queries.shape[1] != references.shape[1]:
        raise ValueError(
            f"query_latent codes have {queries.shape[1]} dimensions but reference_latent "
            f"codes have {references.shape[1]}; both must come from the same encoder."
        )
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(references):
        raise ValueError(
            f"k must be an integer between 1 and {len(references)} (references), got {k!r}."
        )
    k = int(k)

    reference_norms = np.einsum("ij,ij->i", references, references)
    rows = max(1, _BLOCK_ELEMENTS // len(references))
    neighbours = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), rows):
        block = queries[start : start + rows]
        distances = (
            np.einsum("ij,ij->i", block, block)[:, None]
            - 2.0 * block @ references.T
            + reference_norms[None, :]
        )
        np.maximum(distances, 0.0, out=distances)
        if k < len(references):
            candidates = np.argpartition(distances, k - 1, axis=1)[:, :k]
        else:
            candidates = np.broadcast_to(np.arange(k), (len(block), k))
        for row, (row_candidates, row_distances) in enumerate(
            zip(candidates, distances, strict=True)
        ):
            order = np.lexsort((row_candidates, row_distances[row_candidates]))
            neighbours[start + row] = row_candidates[order]
    return neighbours


def propose_references(
    query_latent: np.ndarray,
    reference_latent: np.ndarray,
    reference_images: np.ndarray,
    k: int,
    *,
    reference_ids: Sequence[int | str] | np.ndarray | None = None,
) -> list[Proposals]:
    """The proposals of a finder task: every query's ``k`` nearest references and their images.

    The result is what ``LabelStore.create_task(kind="find", proposals=...)`` takes.

    Args:
        query_latent: Latent codes of the critical samples, ``(n, d)``.
        reference_latent: Latent codes of the clean training samples, ``(m, d)``.
        reference_images: Images of the clean training samples, ``(m, height, width)``.
        k: Proposals per critical sample.
        reference_ids: Id of every reference (e.g. its index in the training set);
            defaults to ``0 .. m-1``.

    Returns:
        One :class:`Proposals` per query, nearest first.

    Raises:
        ValueError: As :func:`propose_neighbours`, or when images or ids do not match the
            reference codes one to one.
    """
    images = np.asarray(reference_images)
    if len(images) != len(reference_latent):
        raise ValueError(
            f"{len(reference_latent)} reference codes but {len(images)} reference images."
        )
    ids = np.arange(len(images)) if reference_ids is None else np.asarray(reference_ids)
    if ids.shape != (len(images),):
        raise ValueError(f"{len(images)} reference images but reference ids shaped {ids.shape}.")
    neighbours = propose_neighbours(query_latent, reference_latent, k)
    return [Proposals(tuple(ids[row].tolist()), images[row]) for row in neighbours]


def _latent_matrix(latent: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(latent)
    if array.ndim < 2:
        raise ValueError(f"{what} must be latent codes shaped (n, d), got shape {array.shape}.")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{what} must be real numbers, got dtype {array.dtype}.")
    matrix = array.reshape(len(array), int(np.prod(array.shape[1:]))).astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if len(bad):
        raise ValueError(f"{what} holds NaN or infinite values (rows {bad[:10].tolist()}).")
    return matrix
