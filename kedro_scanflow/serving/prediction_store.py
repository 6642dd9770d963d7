"""``PredictionStore``: every request a served model answered, for the agents to watch.

A sqlite database (write-ahead log, so the agent reads while the server writes) with one
row per predicted image: when, which model version, the image itself, the predicted class
and confidence, the latency, and the true label when the client knows it (demos and
tests; the simulated oracle answers from it). The server never waits for the disk: rows
go through a queue to one writer thread, written in batches, and :meth:`close` drains the
queue, so no record is lost when the server stops.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kedro_scanflow.io.image_set import ImageSet

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    model_version TEXT NOT NULL,
    predicted INTEGER NOT NULL,
    confidence REAL NOT NULL,
    latency_ms REAL NOT NULL,
    height INTEGER NOT NULL,
    width INTEGER NOT NULL,
    image BLOB NOT NULL,
    label INTEGER
)
"""
_INSERT = (
    "INSERT INTO predictions (received_at, model_version, predicted, confidence, latency_ms, "
    "height, width, image, label) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_STOP = object()


@dataclass(frozen=True)
class PredictionRecord:
    """One answered image."""

    received_at: float
    model_version: str
    predicted: int
    confidence: float
    latency_ms: float
    image: np.ndarray
    """uint8 pixels ``(height, width)``."""
    label: int | None = None


@dataclass(frozen=True)
class PredictionBatch:
    """Recorded predictions with ids in ``(after, last]``."""

    first_id: int
    last_id: int
    images: ImageSet
    predicted: np.ndarray
    model_versions: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.predicted)


class PredictionStore:
    """Appends prediction records from a server and reads them for an agent."""

    def __init__(self, path: Path, batch_size: int = 256):
        """Open (creating if needed) the store at ``path``.

        Args:
            path: The sqlite database file.
            batch_size: Most records written in one transaction.
        """
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._batch_size = batch_size
        with contextlib.closing(self._connect()) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(_SCHEMA)
            connection.commit()
        self._queue: queue.Queue[object] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._written = 0
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, check_same_thread=False)

    # --- writing (the server) --------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread; records are accepted before, and written once started."""
        if self._writer is None:
            self._writer = threading.Thread(
                target=self._write_loop, name="scanflow-prediction-store", daemon=True
            )
            self._writer.start()

    def record(self, record: PredictionRecord) -> None:
        """Queue a record; returns at once."""
        self._queue.put(record)

    def close(self, timeout: float = 30.0) -> None:
        """Write every queued record, then stop the writer thread."""
        if self._writer is None:
            return
        self._queue.put(_STOP)
        self._writer.join(timeout=timeout)
        self._writer = None

    @property
    def written(self) -> int:
        """Records written since this process opened the store."""
        with self._lock:
            return self._written

    def _write_loop(self) -> None:
        connection = self._connect()
        try:
            stopping = False
            while not stopping:
                batch = [self._queue.get()]
                while len(batch) < self._batch_size:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if _STOP in batch:
                    stopping = True
                    batch = [item for item in batch if item is not _STOP]
                    while True:  # drain what arrived before the stop request
                        try:
                            item = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        if item is not _STOP:
                            batch.append(item)
                self._write(connection, batch)  # type: ignore[arg-type]
        finally:
            connection.close()

    def _write(self, connection: sqlite3.Connection, records: list[PredictionRecord]) -> None:
        if not records:
            return
        rows = [
            (
                r.received_at,
                r.model_version,
                int(r.predicted),
                float(r.confidence),
                float(r.latency_ms),
                int(r.image.shape[0]),
                int(r.image.shape[1]),
                np.ascontiguousarray(r.image, dtype=np.uint8).tobytes(),
                None if r.label is None else int(r.label),
            )
            for r in records
        ]
        for attempt in range(5):
            try:
                connection.executemany(_INSERT, rows)
                connection.commit()
                break
            except sqlite3.OperationalError:  # locked by a long reader: retry, never drop
                connection.rollback()
                time.sleep(0.1 * (attempt + 1))
        else:
            connection.executemany(_INSERT, rows)
            connection.commit()
        with self._lock:
            self._written += len(rows)

    # --- reading (the agent) ---------------------------------------------------------

    def count(self, after: int = 0) -> int:
        """How many records have an id above ``after``."""
        with contextlib.closing(self._connect()) as connection:
            return int(
                connection.execute(
                    "SELECT COUNT(*) FROM predictions WHERE id > ?", (after,)
                ).fetchone()[0]
            )

    def last_id(self) -> int:
        with contextlib.closing(self._connect()) as connection:
            return int(
                connection.execute("SELECT COALESCE(MAX(id), 0) FROM predictions").fetchone()[0]
            )

    def batch(self, after: int, until: int) -> PredictionBatch:
        """The records with ids in ``(after, until]`` as images (with the known labels, when
        every record has one)."""
        with contextlib.closing(self._connect()) as connection:
            rows = connection.execute(
                "SELECT id, model_version, predicted, height, width, image, label FROM predictions "
                "WHERE id > ? AND id <= ? ORDER BY id",
                (after, until),
            ).fetchall()
        if not rows:
            raise ValueError(f"No predictions recorded between ids {after} and {until}.")
        images = np.stack([np.frombuffer(r[5], dtype=np.uint8).reshape(r[3], r[4]) for r in rows])
        labels = [r[6] for r in rows]
        known = (
            None if any(label is None for label in labels) else np.asarray(labels, dtype=np.int64)
        )
        return PredictionBatch(
            first_id=rows[0][0],
            last_id=rows[-1][0],
            images=ImageSet(images, known),
            predicted=np.asarray([r[2] for r in rows], dtype=np.int64),
            model_versions=tuple(r[1] for r in rows),
        )
