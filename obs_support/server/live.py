"""Wake-ups for live-stream subscribers, within one process and across processes.

Subscribers wait on the hub; a commit that added history events wakes them and each reads,
from the database, what is new in its own scope. The hub carries no data, so a wake-up that
is lost or doubled costs at most one extra query, never a missed or repeated event. On
PostgreSQL a listener thread turns NOTIFYs from other server processes into wake-ups.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Sequence

from sqlalchemy.engine import make_url

from obs_support.server import signals

log = logging.getLogger("obs_support.live")
Callback = Callable[[frozenset[str]], None]


class Hub:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._subscribers = 0
        # Told the new count whenever a stream opens or ends (the metrics gauge listens).
        self.on_subscribers: Callable[[int], None] | None = None
        self.closing = False  # the server is stopping: streams end, clients reconnect

    @property
    def subscribers(self) -> int:
        return self._subscribers

    @subscribers.setter
    def subscribers(self, value: int) -> None:
        self._subscribers = value
        if self.on_subscribers is not None:
            self.on_subscribers(value)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event:
        """The event the next wake-up sets: take it *before* reading, then wait on it."""
        if self._event is None:
            self.bind(asyncio.get_running_loop())
        assert self._event is not None
        return self._event

    def _bump(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = asyncio.Event()

    def close(self) -> None:
        """End every stream now (called from the event loop when the server stops)."""
        self.closing = True
        self._bump()

    def on_commit(self, topics: frozenset[str]) -> None:
        """Called from any thread after a commit."""
        if signals.EVENTS in topics and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._bump)


def end_streams_on_exit_signal(hub: Hub) -> Callable[[], None]:
    """Make SIGINT and SIGTERM end every live stream first, then stop the server as before.

    Uvicorn waits for open responses before it stops, and a live stream never ends by itself;
    its worker processes run uvicorn's own server class, so the hook goes on the signal. Called
    while the server starts (uvicorn's handlers are in place by then); returns the undo.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # a server in a thread (tests, the demo) is stopped by its owner
    loop = asyncio.get_running_loop()
    installed: dict[int, tuple[object, object]] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue  # nobody stops the server on this signal: neither do we

        def handler(signum: int, frame: object, previous: Callable[..., object] = previous) -> None:
            loop.call_soon_threadsafe(hub.close)
            previous(signum, frame)

        signal.signal(sig, handler)
        installed[sig] = (handler, previous)

    def undo() -> None:
        for sig, (handler, previous) in installed.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, previous)  # type: ignore[arg-type]

    return undo


class PgListener:
    """LISTEN on the PostgreSQL channel, passing each NOTIFY on as a commit's topics."""

    def __init__(self, database_url: str, callbacks: Sequence[Callback]) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self.dsn = url.render_as_string(hide_password=False)
        self.callbacks = callbacks
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="obs-support-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _deliver(self, topics: frozenset[str]) -> None:
        for callback in self.callbacks:
            callback(topics)

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {signals.CHANNEL}")
                    # Anything committed while we were not listening is picked up by this.
                    self._deliver(frozenset({signals.EVENTS, signals.MAIL}))
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._deliver(frozenset({note.payload}))
            except Exception as exc:  # the database restarted or is away: listen again soon
                log.warning("live listener lost the database: %s", exc)
                self._stop.wait(1.0)
