"""The live stream (`GET /api/v1/events`, Server-Sent Events) and the notifications API.

Every stream here is a real HTTP connection to a real server, read line by line in a
background thread (`Subscription`) that timestamps each message as it arrives, so the tests
can say how long after a write returned its event reached a subscriber. Nothing waits
without a deadline. Where a test must show that something did NOT arrive, it writes a
marker event afterwards and waits for the marker: the stream is in id order, so everything
the subscriber was going to get before the marker has arrived by then.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import socket
import threading
import time
import uuid
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from obs_support.client.http import HttpClient
from obs_support.client.live import Message as LiveMessage
from obs_support.client.live import follow
from obs_support.server.models import Outbox
from tests.support import (
    Api,
    LiveServer,
    Tenant,
    User,
    invite,
    make_tenant,
    postgres_database,
    start_server,
)

Json = dict[str, Any]

LIVE_BOUND = 1.0  # seconds from a write's return to its event at a subscriber (acceptance)
WAIT = 10.0  # the longest any single wait in this module may take before it fails
KINDS = ("new_incident", "client_reply", "staff_reply", "status_changed", "assigned")
LINE_END = re.compile(r"\r\n|\r|\n")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# --- reading a stream -------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One SSE message; `event` is ":" for a comment line (the keep-alive)."""

    event: str
    id: str | None
    data: str
    at: float  # time.monotonic() when its last line arrived

    @property
    def event_id(self) -> int:
        assert self.id is not None, self
        return int(self.id)

    def json(self) -> Any:
        return json.loads(self.data)


def sse_lines(chunks: Iterable[str]) -> Iterator[str]:
    """Lines as SSE defines them: ended by CRLF, LF or CR, and by nothing else.

    (httpx's `iter_lines()` splits like `str.splitlines()`, which also breaks at U+2028,
    U+2029, U+0085 and other characters that may stand unescaped inside a JSON string, so it
    would cut a message about a comment containing one of them.)
    """
    buffer = ""
    for chunk in chunks:
        buffer += chunk
        while (end := LINE_END.search(buffer)) is not None:
            if end.group() == "\r" and end.end() == len(buffer):
                break  # perhaps the first half of a CRLF: wait for the next chunk
            yield buffer[: end.start()]
            buffer = buffer[end.end() :]
    if buffer:
        yield buffer.removesuffix("\r")


def parse_sse(lines: Iterable[str]) -> Iterator[Message]:
    """Messages from the lines of a `text/event-stream` body (blank line ends a message)."""
    event: str | None = None
    ident: str | None = None
    data: list[str] = []
    for line in lines:
        if line == "":
            if event is not None or ident is not None or data:
                yield Message(event or "message", ident, "\n".join(data), time.monotonic())
            event, ident, data = None, None, []
            continue
        if line.startswith(":"):
            yield Message(":", None, line[1:].strip(), time.monotonic())
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            ident = value
        # `retry` and unknown fields change nothing a test looks at


class Subscription:
    """`GET /events` held open in a thread that queues each message as it arrives.

    Use as a context manager; `drop()` cuts the connection the way a network failure would
    (the socket is shut down under the reader), and leaving the block does the same.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.url = f"{base_url}/api/v1/events"
        self.params = params
        self.headers = dict(headers or {})
        if token is not None:
            self.headers["Authorization"] = f"Bearer {token}"
        self.status_code = 0
        self.content_type = ""
        self.body: Any = None
        self.error: BaseException | None = None
        self.messages: queue.Queue[Message | None] = queue.Queue()
        self.closed = False  # the stream ended (by the server, or by `drop`)
        self._opened = threading.Event()
        self._dropping = False
        self._socket: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, name="sse-reader", daemon=True)

    def __enter__(self) -> Subscription:
        self._thread.start()
        assert self._opened.wait(WAIT), "the live stream did not answer"
        return self

    def __exit__(self, *exc: object) -> None:
        self.drop()

    def _run(self) -> None:
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(WAIT, read=60.0)) as http,
                http.stream("GET", self.url, params=self.params, headers=self.headers) as response,
            ):
                self.status_code = response.status_code
                self.content_type = response.headers.get("content-type", "")
                network = response.extensions.get("network_stream")
                self._socket = network.get_extra_info("socket") if network else None
                if response.status_code != 200:
                    response.read()
                    self.body = response.json()
                    return
                self._opened.set()
                for message in parse_sse(sse_lines(response.iter_text())):
                    self.messages.put(message)
        except (httpx.HTTPError, OSError, ValueError) as exc:
            if not self._dropping:
                self.error = exc
        finally:
            self._opened.set()
            self.messages.put(None)

    def drop(self) -> None:
        """Cut the connection now and wait for the reader to stop."""
        self._dropping = True
        if self._socket is not None:
            with contextlib.suppress(OSError):  # already closed
                self._socket.shutdown(socket.SHUT_RDWR)
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "the reader did not stop"

    def next(self, deadline: float, *, keepalives: bool = False) -> Message:
        """The next message (keep-alives skipped unless asked for) before `deadline`."""
        while True:
            left = deadline - time.monotonic()
            assert not self.closed, f"the stream has ended (error: {self.error!r})"
            try:
                message = self.messages.get(timeout=max(left, 0.0))
            except queue.Empty:
                raise AssertionError("no message from the live stream in time") from None
            if message is None:
                self.closed = True
                raise AssertionError(f"the stream ended (error: {self.error!r})")
            if message.event != ":" or keepalives:
                return message

    def ready(self) -> int:
        """Read the opening `ready` message: the event id the stream starts after."""
        assert self.status_code == 200, (self.status_code, self.body)
        assert self.content_type.startswith("text/event-stream"), self.content_type
        first = self.next(time.monotonic() + WAIT)
        assert first.event == "ready", first
        start = int(first.json()["last_event_id"])
        assert first.event_id == start, first
        return start

    def until(self, last_id: int, timeout: float = WAIT) -> list[Message]:
        """Every event message up to and including the one with id `last_id`."""
        deadline = time.monotonic() + timeout
        got: list[Message] = []
        while True:
            message = self.next(deadline)
            got.append(message)
            assert message.event_id <= last_id, f"passed {last_id} without it: {ids(got)}"
            if message.event_id == last_id:
                return got

    def silent(self, seconds: float) -> None:
        """Nothing but keep-alives arrives for `seconds`, and the stream stays open."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.messages.get(timeout=left)
            except queue.Empty:
                return
            if message is None:
                self.closed = True
                raise AssertionError(f"the stream broke off (error: {self.error!r})")
            assert message.event == ":", f"unexpected: {message}"

    def ended(self, timeout: float = WAIT) -> None:
        """The server closes the stream before the deadline."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            left = deadline - time.monotonic()
            try:
                message = self.messages.get(timeout=max(left, 0.0))
            except queue.Empty:
                raise AssertionError("the stream is still open") from None
            if message is None:
                self.closed = True
            else:
                assert message.event == ":", f"unexpected after the end: {message}"


def ids(messages: Iterable[Message]) -> list[int]:
    return [m.event_id for m in messages]


# --- writing ----------------------------------------------------------------------------------


class Team(Api):
    """An `Api` whose per-user clients (`as_`) stay open for the whole test: opening an httpx
    client costs about 20 ms, which adds up over the hundreds of calls a test makes."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self._members: dict[str, Api] = {}

    def as_(self, who: User | str) -> Api:
        token = who if isinstance(who, str) else who.token
        if token not in self._members:
            self._members[token] = Api(self.base_url, token)
        return self._members[token]

    def __enter__(self) -> Team:
        return self

    def __exit__(self, *exc: object) -> None:
        for member in self._members.values():
            member.http.close()
        super().__exit__(*exc)


@pytest.fixture
def api(server: LiveServer) -> Iterator[Team]:
    """Overrides conftest's `api` (the `tenant` fixtures use it too) with a `Team`."""
    with Team(server.url) as team:
        yield team


def comment(api: Api, who: User, ref: str, text: str = "Any news?", internal: bool = False) -> int:
    body = {"body": text, "internal": internal}
    return int(api.as_(who).ok("POST", f"/incidents/{ref}/comments", json=body, expect=201)["id"])


def last_event(detail: Json, kind: str) -> int:
    return max(int(e["id"]) for e in detail["events"] if e["kind"] == kind)


def set_status(api: Api, who: User, ref: str, status: str, reason: str | None = None) -> int:
    body = {"status": status} if reason is None else {"status": status, "reason": reason}
    detail = api.as_(who).ok("POST", f"/incidents/{ref}/status", json=body)
    return last_event(detail, "status_changed")


def history(api: Api, who: User, ref: str) -> list[Json]:
    events: list[Json] = api.as_(who).ok("GET", f"/incidents/{ref}")["events"]
    return events


def file_for(api: Api, tenant: Tenant, account: int, message: str = "The dome is stuck.") -> str:
    """An incident filed by the observatory (its staff) for `account`."""
    return str(
        tenant.incident(api, tenant.staff, client_account_id=account, message=message)["ref"]
    )


# --- 1. a write reaches subscribers within a second -------------------------------------------


def test_a_client_sees_a_staff_status_change_within_a_second(
    server: LiveServer, api: Api, tenant: Tenant
) -> None:
    ref = tenant.incident(api)["ref"]
    with Subscription(server.url, tenant.client.token) as sub:
        sub.ready()
        event_id = set_status(api, tenant.staff, ref, "in_progress")
        returned = time.monotonic()
        [message] = sub.until(event_id)
    assert message.at - returned < LIVE_BOUND, f"arrived {message.at - returned:.3f}s after"
    assert message.event == "status_changed"
    live = message.json()
    assert (live["id"], live["kind"]) == (event_id, "status_changed")
    assert live["incident"]["ref"] == ref and live["incident"]["status"] == "in_progress"
    assert live["event"]["data"]["from"] == "open" and live["event"]["data"]["to"] == "in_progress"
    assert live["event"]["actor"]["id"] == tenant.staff.id


def test_a_client_sees_another_clients_comment_within_a_second(
    server: LiveServer, api: Api, tenant: Tenant
) -> None:
    colleague = invite(api, tenant.admin, "client", tenant.account_a, name="Colleague")
    ref = tenant.incident(api)["ref"]
    with Subscription(server.url, tenant.client.token) as sub:
        sub.ready()
        for n in range(3):
            event_id = comment(api, colleague, ref, f"Still broken, try {n}")
            returned = time.monotonic()
            [message] = sub.until(event_id)
            assert message.at - returned < LIVE_BOUND, f"{message.at - returned:.3f}s, #{n}"
            live = message.json()
            assert message.event == live["kind"] == "comment"
            assert live["event"]["body"] == f"Still broken, try {n}"
            assert live["event"]["actor"]["id"] == colleague.id
            assert live["incident"]["ref"] == ref


def test_an_attachment_reaches_the_client_but_not_another_account_within_a_second(
    server: LiveServer, api: Api, tenant: Tenant
) -> None:
    ref = tenant.incident(api)["ref"]
    other_ref = file_for(api, tenant, tenant.account_b)
    staff = api.as_(tenant.staff)
    data = b"%PDF-1.4\n% mount log\n" + bytes(range(256)) * 64
    with (
        Subscription(server.url, tenant.client.token) as mine,
        Subscription(server.url, tenant.client_b.token) as theirs,
    ):
        mine.ready()
        theirs.ready()
        announced = staff.ok("POST", f"/incidents/{ref}/uploads", json={
            "filename": "registro montura.pdf", "size": len(data),
        })  # fmt: skip
        sent = staff.patch(
            f"/uploads/{announced['id']}",
            content=data,
            headers={"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"},
        )
        assert sent.status_code == 201, sent.text
        returned = time.monotonic()
        event_id = last_event(staff.ok("GET", f"/incidents/{ref}"), "attachment_added")
        [message] = mine.until(event_id)
        marker = comment(api, tenant.client_b, other_ref, "Ours is fine")
        seen_by_other = theirs.until(marker)
    assert message.at - returned < LIVE_BOUND, f"arrived {message.at - returned:.3f}s after"
    live = message.json()
    assert message.event == live["kind"] == "attachment_added"
    assert live["incident"]["ref"] == ref
    assert live["event"]["data"]["name"] == "registro montura.pdf"
    assert live["event"]["data"]["size"] == len(data)
    assert live["event"]["data"]["sha256"] == sent.json()["sha256"]
    assert ids(seen_by_other) == [marker]


# --- 2. a dropped connection resumes with nothing lost and nothing repeated ------------------


@pytest.mark.parametrize("resume_by", ["header", "query"])
def test_a_dropped_stream_resumes_exactly_where_it_stopped(
    server: LiveServer, api: Api, tenant: Tenant, resume_by: str
) -> None:
    ref = tenant.incident(api)["ref"]
    with Subscription(server.url, tenant.client.token) as sub:
        sub.ready()
        before = [
            comment(api, tenant.staff, ref, "Looking"),
            comment(api, tenant.client, ref, "Ok"),
        ]
        seen = sub.until(before[-1])
        assert ids(seen) == before
        sub.drop()  # the network goes away
    last = seen[-1].event_id

    comment(api, tenant.staff, ref, "Part ordered")
    comment(api, tenant.staff, ref, "Supplier is slow", internal=True)  # not for the client
    set_status(api, tenant.staff, ref, "in_progress")
    api.as_(tenant.staff).ok("PATCH", f"/incidents/{ref}", json={"priority": "high"})
    comment(api, tenant.client, ref, "Thanks")
    missed = [e for e in history(api, tenant.client, ref) if e["id"] > last]
    assert [e["kind"] for e in missed] == [
        "comment",
        "status_changed",
        "priority_changed",
        "comment",
    ]

    resume: Json = (
        {"headers": {"Last-Event-ID": str(last)}}
        if resume_by == "header"
        else {"params": {"last_event_id": last}}
    )
    with Subscription(server.url, tenant.client.token, **resume) as again:
        assert again.ready() == last
        marker = comment(api, tenant.staff, ref, "Fixed soon")  # live again after the replay
        got = again.until(marker)
    assert ids(got) == [e["id"] for e in missed] + [marker]
    assert [m.json()["event"] for m in got[:-1]] == missed
    assert [m.event for m in got[:-1]] == [e["kind"] for e in missed]


# --- 3. scope --------------------------------------------------------------------------------


def test_each_subscriber_gets_exactly_its_scope(
    server: LiveServer, api: Api, tenant: Tenant, other_tenant: Tenant
) -> None:
    ref_a, ref_b = file_for(api, tenant, tenant.account_a), file_for(api, tenant, tenant.account_b)
    theirs = file_for(api, other_tenant, other_tenant.account_a)
    subscribers = {
        "client_a": tenant.client,
        "client_b": tenant.client_b,
        "staff": tenant.staff,
        "admin": tenant.admin,
        "other_staff": other_tenant.staff,
        "other_client": other_tenant.client,
    }
    with contextlib.ExitStack() as stack:
        subs = {
            name: stack.enter_context(Subscription(server.url, who.token))
            for name, who in subscribers.items()
        }
        for sub in subs.values():
            sub.ready()
        a_public = comment(api, tenant.staff, ref_a, "We are on it")
        a_note = comment(api, tenant.staff, ref_a, "Secret: supplier", internal=True)
        b_public = comment(api, tenant.client_b, ref_b, "Ours too")
        a_marker = comment(api, tenant.client, ref_a, "Thanks")
        b_note = comment(api, tenant.admin, ref_b, "Secret: B", internal=True)
        b_marker = comment(api, tenant.staff, ref_b, "Done on B")
        their_marker = comment(api, other_tenant.staff, theirs, "Elsewhere")

        everything = [a_public, a_note, b_public, a_marker, b_note, b_marker]
        expected = {
            "client_a": [a_public, a_marker],
            "client_b": [b_public, b_marker],
            "staff": everything,
            "admin": everything,
            "other_staff": [their_marker],
            "other_client": [their_marker],
        }
        got = {name: subs[name].until(want[-1]) for name, want in expected.items()}
    for name, want in expected.items():
        assert ids(got[name]) == want, name
    for name in ("client_a", "client_b", "other_client"):
        assert not any(m.json()["event"]["internal"] for m in got[name]), name
        assert "Secret" not in "".join(m.data for m in got[name]), name
    notes = [m.json()["event"] for m in got["staff"] if m.json()["event"]["internal"]]
    assert [(n["id"], n["body"]) for n in notes] == [
        (a_note, "Secret: supplier"),
        (b_note, "Secret: B"),
    ]
    refs = {m.json()["incident"]["ref"] for m in got["client_b"]}
    assert refs == {ref_b}


def test_incident_filter_streams_only_that_incident(
    server: LiveServer, api: Api, tenant: Tenant
) -> None:
    one, two = tenant.incident(api)["ref"], tenant.incident(api)["ref"]
    with (
        Subscription(server.url, tenant.staff.token, params={"incident": one}) as staff,
        Subscription(server.url, tenant.client.token, params={"incident": one.lower()}) as client,
    ):
        assert staff.ready() == client.ready() == history(api, tenant.staff, one)[-1]["id"]
        comment(api, tenant.staff, two, "On two")
        first = comment(api, tenant.client, one, "On one")
        set_status(api, tenant.staff, two, "in_progress")
        note = comment(api, tenant.staff, one, "Internal on one", internal=True)
        comment(api, tenant.client, two, "On two again")
        last = comment(api, tenant.staff, one, "On one again")
        assert ids(staff.until(last)) == [first, note, last]
        client_got = client.until(last)
        assert ids(client_got) == [first, last]
        assert {m.json()["incident"]["ref"] for m in client_got} == {one}


def test_the_stream_refuses_what_it_must(
    server: LiveServer, api: Api, tenant: Tenant, other_tenant: Tenant
) -> None:
    ref_a, ref_b = tenant.incident(api)["ref"], tenant.incident(api, tenant.client_b)["ref"]
    missing = f"{tenant.slug}-999999999"

    def refused(token: str | None, **kw: Any) -> tuple[int, Any]:
        with Subscription(server.url, token, **kw) as sub:
            return sub.status_code, sub.body

    nowhere = refused(tenant.client.token, params={"incident": missing})
    assert nowhere[0] == 404 and nowhere[1]["code"] == "not_found"
    # another account's or another observatory's incident looks exactly like a missing one
    assert refused(tenant.client.token, params={"incident": ref_b}) == nowhere
    assert refused(other_tenant.staff.token, params={"incident": ref_a}) == refused(
        other_tenant.staff.token, params={"incident": missing}
    )
    assert refused(other_tenant.admin.token, params={"incident": ref_a})[0] == 404
    assert refused(tenant.client.token, params={"incident": "garbage"})[0] == 404

    for bad in ("abc", "-1", "1.5", "0x10", "12abc", "+5"):
        status, body = refused(tenant.client.token, headers={"Last-Event-ID": bad})
        assert (status, body["code"]) == (422, "invalid"), (bad, body)
    for bad in ("abc", "-1"):
        status, body = refused(tenant.client.token, params={"last_event_id": bad})
        assert (status, body["code"]) == (422, "invalid"), (bad, body)

    status, body = refused(None)
    assert (status, body["code"]) == (401, "unauthenticated")
    status, body = refused("obs_not-a-real-token")
    assert (status, body["code"]) == (401, "invalid_token")
    # a token in the query string is never read
    status, body = refused(None, params={"access_token": tenant.client.token})
    assert (status, body["code"]) == (401, "unauthenticated")


# --- 4. a new subscriber starts at `ready` ----------------------------------------------------


def test_a_new_subscriber_starts_at_ready_and_gets_no_old_events(
    server: LiveServer, api: Api, tenant: Tenant
) -> None:
    ref = tenant.incident(api)["ref"]
    public = comment(api, tenant.staff, ref, "Public, before anyone listened")
    note = comment(api, tenant.staff, ref, "Internal, before anyone listened", internal=True)
    with (
        Subscription(server.url, tenant.staff.token) as staff,
        Subscription(server.url, tenant.client.token) as client,
        Subscription(server.url, tenant.client_b.token) as stranger,
    ):
        # each starts after the newest event *it* may see
        assert staff.ready() == note
        assert client.ready() == public
        assert stranger.ready() == 0  # nothing in account B yet
        new = comment(api, tenant.client, ref, "After subscribing")
        assert ids(staff.until(new)) == [new]
        assert ids(client.until(new)) == [new]
        filed = tenant.incident(api, tenant.client_b)
        created = history(api, tenant.client_b, filed["ref"])
        assert ids(stranger.until(created[-1]["id"])) == [e["id"] for e in created]


# --- 5. a revoked credential ends the stream --------------------------------------------------


@contextlib.contextmanager
def fresh_database(kind: str, root: Path) -> Iterator[str]:
    """A new, empty database of `kind`, gone afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{root / f'live-{uuid.uuid4().hex[:8]}.sqlite3'}"
        return
    base = os.environ.get("OBS_SUPPORT_TEST_POSTGRES_URL")
    if not base:
        message = "PostgreSQL pass needs OBS_SUPPORT_TEST_POSTGRES_URL (.ci/run sets it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with postgres_database(base, f"obs_live_{uuid.uuid4().hex[:12]}") as url:
        yield url


KEEPALIVE = 0.3
ENDS_WITHIN = 2 * KEEPALIVE + 0.4  # "a couple of keep-alive periods", plus the re-check itself


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def quick(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server of its own whose idle streams send a keep-alive, and re-check the caller's
    token, every 0.3 s."""
    root = tmp_path_factory.mktemp(f"quick-{request.param}")
    with (
        fresh_database(request.param, root) as url,
        start_server(url, root / "data", live_keepalive_seconds=KEEPALIVE) as live,
    ):
        yield live


def test_a_revoked_token_or_deactivated_user_ends_the_stream(quick: LiveServer) -> None:
    with Team(quick.url) as api:
        tenant = make_tenant(quick, api)
        ref = tenant.incident(api)["ref"]
        spare = api.as_(tenant.client).ok("POST", "/tokens", json={"name": "tablet"}, expect=201)
        leaving = invite(api, tenant.admin, "client", tenant.account_a, name="Leaving")
        with (
            Subscription(quick.url, spare["token"]) as revoked,
            Subscription(quick.url, leaving.token) as deactivated,
            Subscription(quick.url, tenant.client.token) as kept,
        ):
            for sub in (revoked, deactivated, kept):
                sub.ready()
            # an idle stream sends keep-alives at the configured pace
            started = time.monotonic()
            pings = [kept.next(started + WAIT, keepalives=True) for _ in range(3)]
            assert [p.event for p in pings] == [":", ":", ":"]
            paced = pings[-1].at - started
            assert paced < 3 * KEEPALIVE + 1.0, f"3 keep-alives took {paced:.2f}s"

            api.as_(tenant.client).ok("DELETE", f"/tokens/{spare['token_info']['id']}", expect=204)
            revoked_at = time.monotonic()
            api.as_(tenant.admin).ok("PATCH", f"/users/{leaving.id}", json={"active": False})
            deactivated_at = time.monotonic()
            for sub, since in ((revoked, revoked_at), (deactivated, deactivated_at)):
                end = sub.next(since + WAIT)
                assert end.event == "end" and end.json() == {"reason": "unauthenticated"}
                assert end.at - since < ENDS_WITHIN, f"ended {end.at - since:.3f}s after"
                sub.ended(timeout=2.0)
            # everyone else's stream goes on
            event_id = comment(api, tenant.staff, ref, "Still here")
            assert ids(kept.until(event_id)) == [event_id]
            assert kept.next(time.monotonic() + WAIT, keepalives=True).event == ":"
        # the credential is refused from then on, before any stream opens
        with Subscription(quick.url, spare["token"]) as again:
            assert (again.status_code, again.body["code"]) == (401, "invalid_token")


def test_a_revoked_token_ends_the_stream_even_while_events_keep_coming(
    quick: LiveServer,
) -> None:
    """On a busy observatory no keep-alive ever falls due; the token must be re-checked all
    the same, or a revoked token would follow the observatory for as long as it is busy."""
    with Team(quick.url) as api:
        tenant = make_tenant(quick, api)
        ref = tenant.incident(api)["ref"]
        spare = api.as_(tenant.staff).ok("POST", "/tokens", json={"name": "laptop"}, expect=201)
        stop = threading.Event()

        def chatter() -> None:  # a comment every third of a keep-alive period
            with Team(quick.url) as mine:
                for n in range(200):  # bounded, whatever happens
                    if stop.wait(KEEPALIVE / 3):
                        return
                    comment(mine, tenant.client, ref, f"Busy, busy #{n}")

        writer = threading.Thread(target=chatter, daemon=True)
        with Subscription(quick.url, spare["token"]) as busy:
            busy.ready()
            writer.start()
            try:
                assert busy.next(time.monotonic() + WAIT).event == "comment"  # traffic flows
                api.as_(tenant.staff).ok(
                    "DELETE", f"/tokens/{spare['token_info']['id']}", expect=204
                )
                revoked_at = time.monotonic()
                after: list[Message] = []
                end: Message | None = None
                limit = revoked_at + 2.0
                while end is None and time.monotonic() < limit:
                    try:
                        message = busy.next(limit)
                    except AssertionError:
                        break
                    if message.event == "end":
                        end = message
                    else:
                        after.append(message)
            finally:
                stop.set()
                writer.join(WAIT)
        assert end is not None, (
            f"the revoked token kept streaming: {len(after)} events in the 2 s after revocation,"
            " and no end"
        )
        assert end.at - revoked_at < ENDS_WITHIN, f"ended {end.at - revoked_at:.3f}s after"


# --- 6. several server processes on one PostgreSQL database ----------------------------------


@pytest.mark.parametrize("kind", ["postgres"])
def test_a_change_through_another_server_reaches_subscribers_within_a_second(
    kind: str, tmp_path: Path
) -> None:
    with (
        fresh_database(kind, tmp_path) as database,
        start_server(database, tmp_path / "data") as one,
        start_server(database, tmp_path / "data") as two,
        Team(one.url) as api_one,
        Team(two.url) as api_two,
    ):
        tenant = make_tenant(one, api_one)
        ref = tenant.incident(api_one)["ref"]
        with (
            Subscription(one.url, tenant.client.token) as on_one,
            Subscription(two.url, tenant.staff.token) as on_two,
        ):
            on_one.ready()
            on_two.ready()
            # written through the *other* server each time: only NOTIFY can wake the subscriber
            for n in range(3):
                event_id = comment(api_two, tenant.staff, ref, f"From server two, {n}")
                returned = time.monotonic()
                [message] = on_one.until(event_id)
                assert message.at - returned < LIVE_BOUND, f"{message.at - returned:.3f}s, #{n}"
                assert ids(on_two.until(event_id)) == [event_id]

                event_id = comment(api_one, tenant.client, ref, f"From server one, {n}")
                returned = time.monotonic()
                [message] = on_two.until(event_id)
                assert message.at - returned < LIVE_BOUND, f"{message.at - returned:.3f}s, #{n}"
                assert ids(on_one.until(event_id)) == [event_id]
            event_id = set_status(api_two, tenant.staff, ref, "in_progress")
            returned = time.monotonic()
            [message] = on_one.until(event_id)
            assert message.at - returned < LIVE_BOUND
            assert message.json()["incident"]["status"] == "in_progress"


# --- 7. ordering under concurrent writers ----------------------------------------------------


def test_concurrent_writers_reach_subscribers_once_each_in_order(
    server: LiveServer, api: Api, tenant: Tenant
) -> None:
    refs = [file_for(api, tenant, tenant.account_a) for _ in range(2)] + [
        file_for(api, tenant, tenant.account_b) for _ in range(2)
    ]
    client_of = {ref: (tenant.client if i < 2 else tenant.client_b) for i, ref in enumerate(refs)}
    workers, per_worker = 8, 6

    def write(worker: int) -> list[tuple[int, str, bool]]:
        written = []
        with Team(server.url) as mine:  # each worker its own connections
            for n in range(per_worker):
                ref = refs[(worker + n) % len(refs)]
                staff = worker % 2 == 0
                internal = staff and n % 3 == 0
                who = tenant.staff if staff else client_of[ref]
                event_id = comment(mine, who, ref, f"worker {worker} #{n}", internal=internal)
                written.append((event_id, ref, internal))
        return written

    with (
        Subscription(server.url, tenant.staff.token) as staff_sub,
        Subscription(server.url, tenant.client.token) as client_sub,
    ):
        staff_start, client_start = staff_sub.ready(), client_sub.ready()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            written = [w for batch in pool.map(write, range(workers)) for w in batch]
        everything = sorted(i for i, _, _ in written)
        account_a_public = sorted(
            i for i, ref, internal in written if ref in refs[:2] and not internal
        )
        staff_got = ids(staff_sub.until(everything[-1]))
        client_got = ids(client_sub.until(account_a_public[-1]))
    assert len(everything) == workers * per_worker
    assert staff_got == everything  # every event exactly once, in increasing id order
    assert client_got == account_a_public
    assert staff_start < everything[0] and client_start < account_a_public[0]

    # replaying from the very beginning gives what the incidents' histories hold
    staff_history = sorted(e["id"] for ref in refs for e in history(api, tenant.staff, ref))
    client_history = sorted(e["id"] for ref in refs[:2] for e in history(api, tenant.client, ref))
    for who, want in ((tenant.staff, staff_history), (tenant.client, client_history)):
        with Subscription(server.url, who.token, params={"last_event_id": 0}) as replay:
            assert replay.ready() == 0
            assert ids(replay.until(want[-1])) == want, who.role
    assert set(everything) <= set(staff_history)
    assert set(account_a_public) <= set(client_history)


# --- 7b. odd resume points, any text, the client library, long replays ----------------------------


@pytest.mark.parametrize("resume_by", ["header", "query"])
def test_a_resume_id_beyond_any_event_is_refused_or_waits(
    server: LiveServer, tenant: Tenant, resume_by: str
) -> None:
    """An id past any event (the API's ids stop at 2**31 - 1) is refused like any id that is
    not from this stream (422), or waits for newer events; it never breaks the stream."""
    for value in (2**31, 2**62, 2**63, 10**23):
        where: Json = (
            {"headers": {"Last-Event-ID": str(value)}}
            if resume_by == "header"
            else {"params": {"last_event_id": value}}
        )
        with Subscription(server.url, tenant.client.token, **where) as sub:
            if sub.status_code == 422:
                assert sub.body["code"] == "invalid", (value, sub.body)
                continue
            assert sub.ready() == value
            try:
                sub.silent(0.3)
            except AssertionError as exc:
                raise AssertionError(f"resuming after {value} ({resume_by}): {exc}") from None


def test_any_comment_text_arrives_intact(server: LiveServer, api: Api, tenant: Tenant) -> None:
    """Line breaks of every kind, and text that looks like SSE fields, stay inside the data."""
    ref = tenant.incident(api)["ref"]
    odd = (
        "one\ntwo\r\nthree\rfour\n\ndata: five\nid: 6\nevent: end\n\n"
        "\u2028 line sep \u2029 para sep \x85 next line \t tab \u00f1 \U0001f52d"
    )
    with Subscription(server.url, tenant.client.token) as sub:
        sub.ready()
        event_id = comment(api, tenant.staff, ref, odd)
        [message] = sub.until(event_id)
    assert message.json()["event"] == history(api, tenant.client, ref)[-1]
    assert message.json()["event"]["body"].replace("\r\n", "\n").replace("\r", "\n") == (
        odd.replace("\r\n", "\n").replace("\r", "\n")
    )


def test_the_client_librarys_follow_delivers_any_comment_intact(
    server: LiveServer, api: Api, tenant: Tenant
) -> None:
    """`obs_support.client.live.follow` (behind `incident watch` and the TUI) on a real stream."""
    ref = tenant.incident(api)["ref"]
    start = history(api, tenant.client, ref)[-1]["id"]
    texts = ["Dome\u2028closed", "Seeing \x85 poor", "Plain text"]
    written = [comment(api, tenant.staff, ref, text) for text in texts]
    with HttpClient(server.url, tenant.client.token) as client:
        stream = cast(Generator[LiveMessage, None, None], follow(client, last_event_id=start))
        try:  # all three are already committed: each next() is a replay, no waiting
            got = [next(stream) for _ in texts]
        finally:
            stream.close()
    assert [m.id for m in got] == written
    assert [m.event for m in got] == ["comment"] * 3
    broken = [(m.id, str(m.data)[-60:]) for m in got if not isinstance(m.data, dict)]
    assert broken == [], "messages whose data did not decode as the event's JSON"
    assert [m.data["event"]["body"] for m in got] == texts


def test_a_long_replay_arrives_whole_and_in_order(
    server: LiveServer, api: Api, tenant: Tenant
) -> None:
    """More missed events than the server reads at once (200) still arrive, each once."""
    staff = api.as_(tenant.staff)
    start = history(api, tenant.staff, tenant.incident(api)["ref"])[-1]["id"]
    refs = [file_for(api, tenant, tenant.account_a, f"Mirror {n} dusty") for n in range(20)]
    for n in range(9):  # each move of all twenty is one request and twenty events
        body = {"refs": refs, "status": "blocked", "reason": "Parts"} if n % 2 else {}
        body = body or {"refs": refs, "status": "in_progress"}
        assert staff.ok("POST", "/incidents/bulk-status", json=body)["changed"] == 20
    for who in (tenant.staff, tenant.client):
        want = sorted(e["id"] for ref in refs for e in history(api, who, ref) if e["id"] > start)
        assert len(want) >= 20 * (2 + 9)
        with Subscription(server.url, who.token, headers={"Last-Event-ID": str(start)}) as sub:
            assert sub.ready() == start
            marker = comment(api, tenant.client, refs[0], f"Marker for {who.role}")
            assert ids(sub.until(marker)) == [*want, marker], who.role


# --- 8. notifications ---------------------------------------------------------------------------


def inbox(api: Api, who: User, **params: Any) -> Json:
    page: Json = api.as_(who).ok("GET", "/notifications", params=params)
    return page


def entries(api: Api, who: User) -> list[tuple[str, int]]:
    """(kind, event id) of every notification of `who`, newest first."""
    items = inbox(api, who, limit=200)["items"]
    return [(n["kind"], n["event_id"]) for n in items]


def test_who_is_notified_of_what(api: Api, tenant: Tenant) -> None:
    """The rules of services/notifications.py, step by step, for everyone in the observatory."""
    colleague = invite(api, tenant.admin, "client", tenant.account_a, name="Colleague")
    people = {
        "admin": tenant.admin,
        "staff": tenant.staff,
        "client": tenant.client,
        "colleague": colleague,
        "client_b": tenant.client_b,
    }
    told: dict[str, list[tuple[str, int]]] = {name: [] for name in people}

    def tell(step: str, kind: str = "", event_id: int = 0, *names: str) -> None:
        for name in names:
            told[name].insert(0, (kind, event_id))
        for name, who in people.items():
            assert entries(api, who) == told[name], (step, name)

    tell("nothing yet")
    filed = tenant.incident(api, tenant.client, message="The roof leaks.")
    ref = filed["ref"]
    tell("filed", "new_incident", last_event(filed, "created"), "admin", "staff")
    newest = inbox(api, tenant.staff)["items"][0]
    assert newest["incident"] == ref and newest["summary"] == filed["summary"]
    assert newest["actor"]["id"] == tenant.client.id and newest["read_at"] is None

    reply = comment(api, tenant.client, ref, "Any news?")
    tell("client reply, unassigned", "client_reply", reply, "admin", "staff")
    comment(api, tenant.staff, ref, "Note to self", internal=True)
    tell("internal note: nobody")
    answer = comment(api, tenant.staff, ref, "On our way")
    tell("staff reply", "staff_reply", answer, "client", "colleague")

    def assign(who: User, body: Json) -> int:
        return last_event(api.as_(who).ok("PATCH", f"/incidents/{ref}", json=body), "assigned")

    assign(tenant.admin, {"assignee_id": tenant.admin.id})
    tell("assigning yourself: nobody")
    assigned = assign(tenant.admin, {"assignee_id": tenant.staff.id})
    tell("assignment: the assignee", "assigned", assigned, "staff")
    newest = inbox(api, tenant.staff)["items"][0]
    assert newest["actor"]["id"] == tenant.admin.id and newest["incident"] == ref
    reply = comment(api, colleague, ref, "Hello?")
    tell("client reply, assigned", "client_reply", reply, "staff")

    moved = set_status(api, tenant.admin, ref, "in_progress")
    tell("status by admin", "status_changed", moved, "client", "colleague", "staff")
    moved = set_status(api, tenant.client, ref, "cancelled", "Fixed it ourselves")
    tell(
        "cancelled by a client: the assignee, not all staff",
        "status_changed",
        moved,
        "colleague",
        "staff",
    )
    moved = set_status(api, tenant.staff, ref, "open", "It leaks again")
    tell("reopened by the assignee", "status_changed", moved, "client", "colleague")

    # someone deactivated is not told, and finds nothing waiting when they come back
    api.as_(tenant.admin).ok("PATCH", f"/users/{colleague.id}", json={"active": False})
    answer = comment(api, tenant.staff, ref, "Back on it")
    api.as_(tenant.admin).ok("PATCH", f"/users/{colleague.id}", json={"active": True})
    tell("staff reply while deactivated", "staff_reply", answer, "client")

    assign(tenant.staff, {"unassign": True})
    tell("unassigned: nobody")
    moved = set_status(api, tenant.client, ref, "cancelled", "Fixed it again")
    everyone_but_the_client = ("colleague", "admin", "staff")
    tell("cancelled by a client, unassigned", "status_changed", moved, *everyone_but_the_client)

    other = tenant.incident(api, tenant.client_b, message="Our focuser too.")
    tell("filed in account B", "new_incident", last_event(other, "created"), "admin", "staff")
    filed = tenant.incident(api, tenant.staff, message="We saw your dome open in the rain.")
    created = last_event(filed, "created")
    tell("filed by staff for account A", "new_incident", created, "admin", "client", "colleague")
    for name, who in people.items():
        page = inbox(api, who)
        assert page["unread"] == len(told[name]), name
        assert [n["id"] for n in page["items"]] == sorted(
            (n["id"] for n in page["items"]), reverse=True
        ), name


def test_notification_list_pages_and_marking_read(api: Api, tenant: Tenant) -> None:
    for n in range(5):
        tenant.incident(api, tenant.client, message=f"Problem number {n}")
    staff = api.as_(tenant.staff)
    full = inbox(api, tenant.staff, limit=200)
    items = full["items"]
    assert full["unread"] == 5 and full["next_cursor"] is None and len(items) == 5
    assert [n["id"] for n in items] == sorted((n["id"] for n in items), reverse=True)
    assert [n["event_id"] for n in items] == sorted((n["event_id"] for n in items), reverse=True)
    assert {n["kind"] for n in items} == {"new_incident"}

    def walk(**params: Any) -> tuple[list[Json], list[int]]:
        got: list[Json] = []
        sizes: list[int] = []
        cursor: str | None = None
        for _ in range(20):
            page = inbox(api, tenant.staff, **params, **({"cursor": cursor} if cursor else {}))
            got += page["items"]
            sizes.append(len(page["items"]))
            cursor = page["next_cursor"]
            if cursor is None:
                return got, sizes
        raise AssertionError("the cursor never ran out")

    assert walk(limit=2) == (items, [2, 2, 1])
    assert walk(limit=5) == (items, [5])
    assert walk(limit=1)[0] == items
    for bad in ("abc", "0", "-3", "1e3"):
        response = staff.get("/notifications", params={"cursor": bad})
        assert response.status_code == 422, (bad, response.text)
    assert staff.get("/notifications", params={"limit": 0}).status_code == 422
    assert staff.get("/notifications", params={"limit": 201}).status_code == 422

    def mark(who: User, body: Json) -> Json:
        marked: Json = api.as_(who).ok("POST", "/notifications/read", json=body)
        return marked

    newest_two = [items[0]["id"], items[1]["id"]]
    assert mark(tenant.staff, {"ids": newest_two}) == {"marked": 2, "unread": 3}
    assert mark(tenant.staff, {"ids": newest_two}) == {"marked": 0, "unread": 3}  # already read
    unread = inbox(api, tenant.staff, unread="true")
    assert [n["id"] for n in unread["items"]] == [n["id"] for n in items[2:]]
    assert unread["unread"] == 3 and all(n["read_at"] is None for n in unread["items"])
    assert walk(unread="true", limit=2) == (unread["items"], [2, 1])
    listed = inbox(api, tenant.staff)["items"]
    assert [n["read_at"] is not None for n in listed] == [True, True, False, False, False]

    # the admin got the same five; the staff member cannot mark any of them
    theirs = [n["id"] for n in inbox(api, tenant.admin)["items"]]
    assert len(theirs) == 5 and set(theirs).isdisjoint(n["id"] for n in items)
    assert mark(tenant.staff, {"ids": theirs}) == {"marked": 0, "unread": 3}
    assert mark(tenant.staff, {"ids": [theirs[0], items[2]["id"]]}) == {"marked": 1, "unread": 2}
    assert mark(tenant.client, {"ids": theirs}) == {"marked": 0, "unread": 0}
    assert inbox(api, tenant.admin)["unread"] == 5

    assert mark(tenant.staff, {"all": True}) == {"marked": 2, "unread": 0}
    assert inbox(api, tenant.staff, unread="true") == {
        "items": [],
        "unread": 0,
        "next_cursor": None,
    }
    assert all(n["read_at"] is not None for n in inbox(api, tenant.staff)["items"])
    assert inbox(api, tenant.admin)["unread"] == 5  # "all" is all of *mine*
    refused: list[Json] = [{}, {"ids": []}, {"all": False}, {"ids": ["x"]}, {"ids": [0]}]
    for body in [*refused, {"every": True}]:
        response = staff.post("/notifications/read", json=body)
        assert response.status_code == 422, (body, response.text)

    tenant.incident(api, tenant.client, message="One more")
    assert inbox(api, tenant.staff)["unread"] == 1
    assert mark(tenant.admin, {"all": True}) == {"marked": 6, "unread": 0}


def outbox_count(server: LiveServer, user: User, kind: str) -> int:
    with server.db.read() as session:
        query = select(func.count()).select_from(Outbox)
        query = query.where(Outbox.user_id == user.id, Outbox.kind == kind)
        return int(session.exec(query).one())


def test_notification_settings_round_trip_and_choose_the_email(
    server: LiveServer, api: Api, tenant: Tenant
) -> None:
    colleague = invite(api, tenant.admin, "client", tenant.account_a, name="Colleague")
    client = api.as_(tenant.client)
    everything_on = {"email": dict.fromkeys(KINDS, True)}
    assert client.ok("GET", "/notifications/settings") == everything_on

    changed = client.ok("PATCH", "/notifications/settings", json={"email": {"staff_reply": False}})
    wanted = {"email": {**dict.fromkeys(KINDS, True), "staff_reply": False}}
    assert changed == wanted
    assert client.ok("GET", "/notifications/settings") == wanted
    merged = {"email": {"staff_reply": True, "status_changed": False}}
    wanted = {"email": {**dict.fromkeys(KINDS, True), "status_changed": False}}
    assert client.ok("PATCH", "/notifications/settings", json=merged) == wanted
    assert client.ok("PATCH", "/notifications/settings", json={"email": {}}) == wanted
    for body in (
        {"email": {"sms": True}},
        {"email": {"staff_reply": "maybe"}},
        {"email": {"staff_reply": None}},
        {"email": {"staff_reply": [True]}},
        {"email": ["staff_reply"]},
        {},
        {"email": {"staff_reply": False}, "push": True},
    ):
        response = client.patch("/notifications/settings", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["code"] == "invalid"
    assert client.ok("GET", "/notifications/settings") == wanted  # nothing half-applied
    assert api.as_(colleague).ok("GET", "/notifications/settings") == everything_on

    # the in-app notification always comes; the e-mail only for the kinds left on
    ref = tenant.incident(api, tenant.client)["ref"]

    def mail() -> dict[tuple[str, str], int]:
        return {
            (name, kind): outbox_count(server, who, kind)
            for name, who in (("client", tenant.client), ("colleague", colleague))
            for kind in ("staff_reply", "status_changed")
        }

    before = mail()
    unread = inbox(api, tenant.client)["unread"]
    comment(api, tenant.staff, ref, "We will come tomorrow")
    set_status(api, tenant.staff, ref, "in_progress")
    assert inbox(api, tenant.client)["unread"] == unread + 2
    sent = {key: n - before[key] for key, n in mail().items()}
    assert sent == {
        ("client", "staff_reply"): 1,
        ("client", "status_changed"): 0,  # turned off
        ("colleague", "staff_reply"): 1,
        ("colleague", "status_changed"): 1,
    }

    # the same for an assignment: staff who turned its e-mail off still see it in the app
    staff = api.as_(tenant.staff)
    off = staff.ok("PATCH", "/notifications/settings", json={"email": {"assigned": False}})
    assert off == {"email": {**dict.fromkeys(KINDS, True), "assigned": False}}
    before_staff = outbox_count(server, tenant.staff, "assigned")
    before_admin = outbox_count(server, tenant.admin, "assigned")
    unread_staff = inbox(api, tenant.staff)["unread"]
    unread_admin = inbox(api, tenant.admin)["unread"]
    staff.ok("PATCH", f"/incidents/{ref}", json={"assignee_id": tenant.admin.id})
    api.as_(tenant.admin).ok("PATCH", f"/incidents/{ref}", json={"assignee_id": tenant.staff.id})
    assert inbox(api, tenant.staff)["unread"] == unread_staff + 1
    assert inbox(api, tenant.admin)["unread"] == unread_admin + 1
    assert inbox(api, tenant.staff)["items"][0]["kind"] == "assigned"
    assert inbox(api, tenant.admin)["items"][0]["kind"] == "assigned"
    assert outbox_count(server, tenant.staff, "assigned") == before_staff  # turned off
    assert outbox_count(server, tenant.admin, "assigned") == before_admin + 1
