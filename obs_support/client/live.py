"""Following the server's live stream (Server-Sent Events), reconnecting by itself.

`follow()` yields each event once, in order: after a dropped connection it reconnects with
`Last-Event-ID`, so the server replays exactly what was missed. Used by `incident watch`
and the TUI.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from obs_support.client.errors import ClientError, from_response
from obs_support.client.http import HttpClient


@dataclass(frozen=True)
class Message:
    """One SSE message: `event` is the kind, `data` the decoded JSON."""

    id: int | None
    event: str
    data: Any


def lines_of(chunks: Iterator[str]) -> Iterator[str]:
    """Split a text stream into lines the way SSE does: at CR, LF or CRLF only.

    (`str.splitlines` and httpx's `iter_lines` also split at U+2028, U+0085 and others,
    which may appear inside an event's JSON.)
    """
    pending = ""
    for chunk in chunks:
        pending += chunk
        while True:
            cut = min((i for i in (pending.find("\r"), pending.find("\n")) if i >= 0), default=-1)
            if cut < 0 or (pending[cut] == "\r" and cut == len(pending) - 1):
                break  # no line end yet, or a CR that may be the first half of CRLF
            line, rest = pending[:cut], pending[cut + 1 :]
            if pending[cut] == "\r" and rest.startswith("\n"):
                rest = rest[1:]
            yield line
            pending = rest
    if pending:
        yield pending


def parse(lines: Iterator[str]) -> Iterator[Message]:
    """SSE framing: fields until a blank line; comments (':') are ignored."""
    event, ident = "message", None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                try:
                    payload = json.loads("\n".join(data))
                except ValueError:
                    payload = "\n".join(data)
                yield Message(ident, event, payload)
            event, data, ident = "message", [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id" and value.isdigit():
            ident = int(value)


class Stopper:
    """Ends a `follow()` from another thread at once, even in the middle of a read."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._socket: socket.socket | None = None

    def watch(self, response: httpx.Response) -> None:
        stream = response.extensions.get("network_stream")
        found = stream.get_extra_info("socket") if stream is not None else None
        self._socket = found if isinstance(found, socket.socket) else None
        if self.event.is_set():
            self.stop()

    def stop(self) -> None:
        self.event.set()
        if self._socket is not None:
            with contextlib.suppress(OSError):  # already closed: nothing to cut
                self._socket.shutdown(socket.SHUT_RDWR)

    def is_set(self) -> bool:
        return self.event.is_set()


def follow(
    client: HttpClient,
    *,
    incident: str | None = None,
    last_event_id: int | None = None,
    on_state: Callable[[str], None] | None = None,
    max_backoff: float = 15.0,
    stop: Stopper | None = None,
) -> Iterator[Message]:
    """Yield live events for ever (until the caller stops), reconnecting after failures.

    `on_state` hears "connected" and "reconnecting" so a UI can show the link's state.
    Errors the server states (401 revoked token, 404 incident) end the stream with ClientError.
    `stop.stop()`, from any thread, ends it quietly and at once.
    """
    last = last_event_id
    delay = 0.5
    while stop is None or not stop.is_set():
        params: dict[str, Any] = {"incident": incident} if incident else {}
        headers = {"Last-Event-ID": str(last)} if last is not None else {}
        try:
            with client.raw.stream(
                "GET",
                "/events",
                params=params,
                headers=headers,
                timeout=httpx.Timeout(10.0, read=60.0),
            ) as response:
                if stop is not None:
                    stop.watch(response)
                if response.status_code in (502, 503, 504):
                    raise httpx.RemoteProtocolError("the server is not ready")
                if response.status_code != 200:
                    response.read()
                    body = response.json() if response.content else None
                    raise from_response(response.status_code, body, None)
                if on_state:
                    on_state("connected")
                delay = 0.5
                for message in parse(lines_of(response.iter_text())):
                    if message.event == "end":
                        raise ClientError("the server ended the live stream: log in again")
                    if message.id is not None:
                        last = message.id
                    if message.event != "ready":
                        yield message
        except (httpx.TransportError, RuntimeError):  # RuntimeError: the client was closed
            if stop is not None and stop.is_set():
                return
        if stop is not None and stop.is_set():
            return
        if on_state:
            on_state("reconnecting")
        if stop is not None:
            stop.event.wait(delay)
        else:
            time.sleep(delay)
        delay = min(delay * 2, max_backoff)
