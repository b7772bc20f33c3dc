"""A cap on request bodies, enforced before they are read into memory."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from obs_support.server.errors import problem
from obs_support.server.messages import Msg, language_of

MAX_BODY_BYTES = 2 * 1024 * 1024


class BodySizeLimit:
    """Refuse bodies over `limit` bytes with 413, whether or not Content-Length is declared.

    Paths under one of `streamed` prefixes (file uploads) are left to their own limits.
    """

    def __init__(
        self, app: ASGIApp, limit: int = MAX_BODY_BYTES, streamed: tuple[str, ...] = ()
    ) -> None:
        self.app = app
        self.limit = limit
        self.streamed = streamed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.streamed):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send)
            return
        seen = 0
        refused = False

        async def counting_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # Answer now and tell the app the client went away, so it stops reading.
                    refused = True
                    await self._refuse(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        accept = dict(scope["headers"]).get(b"accept-language", b"").decode("latin-1")
        response = problem(
            413,
            "too_large",
            Msg("body_too_large", mib=self.limit // (1024 * 1024)),
            language=language_of(accept),
        )
        await response(scope, receive, send)
