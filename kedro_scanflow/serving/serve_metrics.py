"""``ServeMetrics``: request counts, failures by status, and latency percentiles of a server."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque

import numpy as np


class ServeMetrics:
    """Counts requests and keeps the latencies of the last ``window`` successful ones."""

    def __init__(self, window: int = 10_000):
        self._lock = threading.Lock()
        self._latencies: deque[float] = deque(maxlen=window)
        self._failures: Counter[int] = Counter()
        self.requests = 0
        self.images = 0
        self.started = time.time()

    def success(self, seconds: float, images: int) -> None:
        with self._lock:
            self.requests += 1
            self.images += images
            self._latencies.append(seconds * 1000.0)

    def failure(self, status: int) -> None:
        with self._lock:
            self.requests += 1
            self._failures[status] += 1

    def snapshot(self) -> dict[str, object]:
        """Counts and latency percentiles (milliseconds) as JSON-ready values."""
        with self._lock:
            latencies = np.asarray(self._latencies)
            failures = dict(sorted(self._failures.items()))
            requests, images = self.requests, self.images
        percentiles = (
            {f"p{q}": round(float(np.percentile(latencies, q)), 3) for q in (50, 90, 99)}
            if latencies.size
            else {}
        )
        return {
            "requests": requests,
            "images": images,
            "failures": sum(failures.values()),
            "failures_by_status": {str(k): v for k, v in failures.items()},
            "latency_ms": percentiles,
            "uptime_s": round(time.time() - self.started, 1),
        }
