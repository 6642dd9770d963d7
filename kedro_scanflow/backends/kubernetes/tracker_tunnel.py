"""``TrackerTunnel``: the in-cluster tracker on a 127.0.0.1 port of the orchestrator.

The orchestrator runs outside the cluster, where the tracker's Service does not resolve.
Like ``kubectl port-forward``, the tunnel listens on 127.0.0.1 and carries each
connection to the tracker pod through the API server (``kubernetes.stream.portforward``);
the MLflow client of the orchestrator then talks to ``http://127.0.0.1:<port>``. Nothing
is exposed beyond this machine's loopback interface.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger(__name__)

_CHUNK = 65536


class TrackerTunnel:
    """Forwards connections on a local port to streams that ``open_stream`` opens."""

    def __init__(self, open_stream: Callable[[], socket.socket], port: int = 0):
        """Create the tunnel.

        Args:
            open_stream: Opens a new stream to the tracker (a port-forward socket).
            port: Local port; 0 picks a free one.
        """
        self._open_stream = open_stream
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(32)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="scanflow-tunnel", daemon=True)

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TrackerTunnel:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()

    def __enter__(self) -> TrackerTunnel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(
                target=self._serve, args=(client,), name="scanflow-tunnel-conn", daemon=True
            ).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = self._open_stream()
        except Exception as error:  # noqa: BLE001 - the client sees a closed connection
            logger.warning("Cannot reach the tracker pod: %s", error)
            client.close()
            return
        to_client = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        to_client.start()
        _pump(client, upstream)
        to_client.join(timeout=60)
        for end in (client, upstream):
            with contextlib.suppress(OSError):
                end.close()


def _pump(source: socket.socket, target: socket.socket) -> None:
    """Copy ``source`` to ``target`` until ``source`` ends, then half-close ``target``."""
    try:
        while True:
            data = source.recv(_CHUNK)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)
