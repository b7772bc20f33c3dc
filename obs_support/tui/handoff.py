"""Hand a worker thread's result back to the app's thread, safely.

Network calls run in thread workers; what they bring back must be shown on the app's
thread. By the time a reply arrives its screen may have closed (the user pressed Esc) or
the whole app may be shutting down, its widgets already removed. Such a late reply has
nowhere to go: it is dropped quietly instead of failing on a widget that no longer exists.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any

from textual.app import App
from textual.message_pump import MessagePump


def present(node: MessagePump) -> bool:
    """Is `node` still part of a running app (not closing, not being removed)?"""
    app = node.app
    if not app.is_running or app._closing or app._closed:
        return False
    if isinstance(node, App):
        return True
    # `_pruning` is set on every widget of a screen being removed, before its children go.
    pruning = getattr(node, "_pruning", False)
    return node.is_attached and not (node._closing or node._closed or pruning)


def deliver(node: MessagePump, callback: Callable[..., object], *args: Any, **kwargs: Any) -> None:
    """From a worker thread: run `callback(*args, **kwargs)` on the app's thread if `node`
    is still there when it gets its turn."""

    def guarded() -> None:
        if present(node):
            callback(*args, **kwargs)

    # RuntimeError: the app's loop has already stopped, or `node` has left every app.
    with suppress(RuntimeError):
        node.app.call_from_thread(guarded)
