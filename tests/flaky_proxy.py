"""A real TCP proxy that forwards requests but can lose the server's answers, like a bad link."""

from __future__ import annotations

import socket
import threading
from types import TracebackType


def _read_message(sock: socket.socket) -> bytes | None:
    """One HTTP/1.1 message (headers + Content-Length body), or None when the peer closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head + b"\r\n\r\n" + body


class FlakyProxy:
    """Forwards to 127.0.0.1:`upstream`; the first `lose` answers to POSTs never come back."""

    def __init__(self, upstream: int, lose: int) -> None:
        self.upstream = upstream
        self.lose = lose
        self.lost = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FlakyProxy:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client, socket.create_connection(("127.0.0.1", self.upstream)) as upstream:
            while (request := _read_message(client)) is not None:
                upstream.sendall(request)
                response = _read_message(upstream)
                if response is None:
                    return
                with self._lock:
                    drop = request.startswith(b"POST") and self.lost < self.lose
                    self.lost += drop
                if drop:
                    # The server did the work; the client never hears about it.
                    client.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
                    return
                client.sendall(response)
