"""E-mail: who is told, what the letters look like, and delivery that survives outages.

Mail goes to a real SMTP server (aiosmtpd) on a loopback port; the obs-support server writes
each message to its outbox with the change and a worker thread delivers it. A test "settles"
a tenant by waiting until none of its outbox rows is pending: by then every message the change
produced has been received (the SMTP server stores it before it answers 250).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import io
import os
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from PIL import Image
from sqlalchemy import update
from sqlmodel import col, select

from obs_support.config import ServerSettings
from obs_support.server.db import Database, connect
from obs_support.server.mail.delivery import MAX_DELAY_SECONDS
from obs_support.server.mail.transport import SmtpConfig, SmtpTransport
from obs_support.server.migrate import upgrade
from obs_support.server.models import Incident, Observatory, Outbox
from obs_support.server.models import User as UserRow
from tests.conftest import database_url
from tests.support import (
    PASSWORD,
    Api,
    LiveServer,
    Tenant,
    User,
    free_port,
    invite,
    make_tenant,
    server_settings,
    start_server,
)

RETRY = 0.2  # seconds before the first retry of a failed delivery; it doubles after that
TIMEOUT = 20.0
INJECTION = "\r\nBcc: evil@example.org"


# --- the SMTP side ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    rcpt_tos: list[str]
    mail_from: str
    raw: bytes
    msg: EmailMessage

    @property
    def to(self) -> str:
        """The single envelope recipient (every message the server sends has exactly one)."""
        assert len(self.rcpt_tos) == 1, self.rcpt_tos
        return self.rcpt_tos[0]

    @property
    def subject(self) -> str:
        # Python's folder may break a long header right after "Subject:"; the parser then
        # keeps the folding space at the front. Mail clients drop it, and so do we.
        return str(self.msg["Subject"]).strip()

    @property
    def message_id(self) -> str:
        return str(self.msg["Message-ID"])

    def text(self) -> str:
        part = self.msg.get_body(("plain",))
        assert isinstance(part, EmailMessage)
        return cast(str, part.get_content())

    def html(self) -> str:
        part = self.msg.get_body(("html",))
        assert isinstance(part, EmailMessage)
        return cast(str, part.get_content())


class Sink:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._lock = threading.Lock()
        self._messages: list[Received] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.content)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        with self._lock:
            self._messages.append(
                Received(list(envelope.rcpt_tos), str(envelope.mail_from), raw, msg)
            )
        return "250 Message accepted for delivery"

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def mark(self) -> int:
        with self._lock:
            return len(self._messages)

    def messages(self, since: int = 0) -> list[Received]:
        with self._lock:
            return list(self._messages[since:])

    def to(self, addresses: set[str], since: int = 0) -> list[Received]:
        """Messages since `since` with any envelope recipient among `addresses`."""
        wanted = {a.lower() for a in addresses}
        return [m for m in self.messages(since) if any(r.lower() in wanted for r in m.rcpt_tos)]

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = TIMEOUT
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.messages()
            if predicate(got):
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"mail did not arrive in {timeout}s; have {len(got)}")
            time.sleep(0.02)


@contextmanager
def smtp_server(port: int, sink: Sink | None = None, **smtp: Any) -> Iterator[Sink]:
    """aiosmtpd on `port`; `smtp` goes to its SMTP class (e.g. timeout=, the idle limit)."""
    sink = sink or Sink(port)
    controller = Controller(sink, hostname="127.0.0.1", port=port, **smtp)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    with smtp_server(free_port()) as s:
        yield s


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def mail_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sink: Sink
) -> Iterator[LiveServer]:
    """A server that delivers to `sink`, one per database kind for this module."""
    root = tmp_path_factory.mktemp(f"mail-{request.param}")
    for url in database_url(request.param, root):
        with start_server(url, root / "data", smtp_url=sink.url, mail_retry_seconds=RETRY) as live:
            yield live


@pytest.fixture
def mapi(mail_server: LiveServer) -> Iterator[Api]:
    with Api(mail_server.url) as client:
        yield client


@pytest.fixture
def t(mail_server: LiveServer, mapi: Api) -> Tenant:
    return make_tenant(mail_server, mapi)


# --- helpers ----------------------------------------------------------------------------------


def obs_id(server: LiveServer, slug: str) -> int:
    with server.db.read() as session:
        obs = session.exec(select(Observatory).where(Observatory.slug == slug)).one()
        assert obs.id is not None
        return obs.id


def outbox(server: LiveServer, slug: str) -> list[Outbox]:
    oid = obs_id(server, slug)
    with server.db.read() as session:
        rows = session.exec(
            select(Outbox).where(Outbox.observatory_id == oid).order_by(col(Outbox.id))
        ).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def settle(server: LiveServer, slug: str, timeout: float = TIMEOUT) -> list[Outbox]:
    """Wait until no outbox row of the tenant is pending; every one must have been sent."""
    deadline = time.monotonic() + timeout
    while True:
        rows = outbox(server, slug)
        if all(r.status != "pending" for r in rows):
            assert all(r.status == "sent" for r in rows), [
                (r.id, r.status, r.last_error) for r in rows
            ]
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"outbox still pending after {timeout}s: {rows}")
        time.sleep(0.02)


def addresses(tenant: Tenant, *extra: User) -> set[str]:
    people = (tenant.admin, tenant.staff, tenant.client, tenant.client_b, *extra)
    return {p.email for p in people}


def recipients(mails: list[Received]) -> list[str]:
    return sorted(m.to for m in mails)


def single_line_headers(received: Received) -> None:
    """No header of the message spans lines, none is a Bcc, and no value holds CR or LF."""
    head = received.raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    for line in head.split("\r\n"):
        assert "\r" not in line and "\n" not in line
        assert not line.lower().startswith("bcc"), line
    for name, value in received.msg.items():
        assert name.lower() != "bcc"
        assert "\r" not in str(value) and "\n" not in str(value), (name, value)


def change_status(api: Api, who: User, ref: str, status: str, reason: str | None = None) -> None:
    body: dict[str, Any] = {"status": status}
    if reason is not None:
        body["reason"] = reason
    api.as_(who).ok("POST", f"/incidents/{ref}/status", json=body)


def comment(api: Api, who: User, ref: str, text: str, *, internal: bool = False) -> int:
    event: dict[str, Any] = api.as_(who).ok(
        "POST",
        f"/incidents/{ref}/comments",
        json={"body": text, "internal": internal},
        expect=201,
    )
    return int(event["id"])


def notifications(api: Api, who: User, **params: Any) -> dict[str, Any]:
    page: dict[str, Any] = api.as_(who).ok("GET", "/notifications", params=params)
    return page


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 32), (200, 40, 30)).save(out, "PNG")
    return out.getvalue()


# --- who is told, and what the letter looks like ----------------------------------------------


class TestStatusChange:
    def test_one_mail_per_affected_user_in_their_language(
        self, mail_server: LiveServer, mapi: Api, sink: Sink, t: Tenant
    ) -> None:
        second = invite(mapi, t.admin, "client", t.account_a, name="Second Client")
        mapi.as_(second).ok("PATCH", "/me", json={"language": "en"})
        ref = t.incident(mapi, summary="Dome shutter stuck")["ref"]
        mapi.as_(t.staff).ok("PATCH", f"/incidents/{ref}", json={"assignee_id": t.admin.id})
        settle(mail_server, t.slug)
        mark = sink.mark()

        reason = "Waiting for the spare motor from Garching"
        change_status(mapi, t.staff, ref, "in_progress", reason)
        rows = settle(mail_server, t.slug)
        got = sink.to(addresses(t, second), mark)

        # Both clients of account A and the assignee; not account B, not the acting staff.
        assert recipients(got) == sorted([t.client.email, second.email, t.admin.email])
        subjects = {m.to: m.subject for m in got}
        assert subjects[t.client.email] == f"[{ref}] En progreso: Dome shutter stuck"
        assert subjects[t.admin.email] == f"[{ref}] En progreso: Dome shutter stuck"
        assert subjects[second.email] == f"[{ref}] In progress: Dome shutter stuck"
        for m in got:
            assert m.msg.get_content_type() == "multipart/alternative"
            assert [p.get_content_type() for p in m.msg.iter_parts()] == [
                "text/plain",
                "text/html",
            ]
            assert [a.addr_spec for a in m.msg["To"].addresses] == [m.to]
            assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", m.message_id), m.message_id
            assert reason in m.text()
            assert reason in m.html()
            assert m.msg["Auto-Submitted"] == "auto-generated"
        assert "Motivo:" in next(m for m in got if m.to == t.client.email).text()
        assert "Reason:" in next(m for m in got if m.to == second.email).text()
        ids = [m.message_id for m in got]
        assert len(set(ids)) == len(ids) == 3
        sent_ids = {r.message_id for r in rows if r.kind == "status_changed"}
        assert set(ids) == sent_ids

        # The assignee who acts is not told about their own change.
        mapi.as_(t.staff).ok("PATCH", f"/incidents/{ref}", json={"assignee_id": t.staff.id})
        mark = sink.mark()
        change_status(mapi, t.staff, ref, "blocked", "parts")
        settle(mail_server, t.slug)
        got = sink.to(addresses(t, second), mark)
        assert recipients(got) == sorted([t.client.email, second.email])
        assert {m.subject for m in got} == {
            f"[{ref}] Bloqueada: Dome shutter stuck",
            f"[{ref}] Blocked: Dome shutter stuck",
        }


class TestWhoIsTold:
    def test_internal_note_tells_nobody_and_public_reply_tells_the_account(
        self, mail_server: LiveServer, mapi: Api, sink: Sink, t: Tenant
    ) -> None:
        ref = t.incident(mapi)["ref"]
        settle(mail_server, t.slug)
        before = {u.email: notifications(mapi, u)["unread"] for u in (t.client, t.admin)}
        mark = sink.mark()

        note = comment(mapi, t.staff, ref, "Internal: the client broke it", internal=True)
        settle(mail_server, t.slug)
        assert sink.to(addresses(t), mark) == []
        for who in (t.client, t.admin):
            page = notifications(mapi, who)
            assert page["unread"] == before[who.email]
            assert all(n["event_id"] != note for n in page["items"])

        reply = comment(mapi, t.staff, ref, "We are on it.")
        settle(mail_server, t.slug)
        got = sink.to(addresses(t), mark)
        assert recipients(got) == [t.client.email]
        assert got[0].subject == f"[{ref}] Nueva respuesta: The mount does not track."
        assert "We are on it." in got[0].text()
        assert "Internal" not in got[0].text() + got[0].html()
        page = notifications(mapi, t.client)
        assert (page["items"][0]["kind"], page["items"][0]["event_id"]) == ("staff_reply", reply)
        assert page["unread"] == before[t.client.email] + 1

    def test_client_reply_goes_to_the_assignee_or_to_all_staff(
        self, mail_server: LiveServer, mapi: Api, sink: Sink, t: Tenant
    ) -> None:
        ref = t.incident(mapi)["ref"]
        settle(mail_server, t.slug)

        mark = sink.mark()
        comment(mapi, t.client, ref, "Any news?")
        settle(mail_server, t.slug)
        got = sink.to(addresses(t), mark)
        assert recipients(got) == sorted([t.admin.email, t.staff.email])

        # The assignment itself is news for the new assignee (and for nobody else).
        mark = sink.mark()
        mapi.as_(t.admin).ok("PATCH", f"/incidents/{ref}", json={"assignee_id": t.staff.id})
        settle(mail_server, t.slug)
        (assigned,) = sink.to(addresses(t), mark)
        assert assigned.to == t.staff.email
        assert assigned.subject == f"[{ref}] Asignada a ti: The mount does not track."

        mark = sink.mark()
        comment(mapi, t.client, ref, "Still nothing?")
        settle(mail_server, t.slug)
        got = sink.to(addresses(t), mark)
        assert recipients(got) == [t.staff.email]
        assert "Still nothing?" in got[0].text()
        kinds = [n["kind"] for n in notifications(mapi, t.staff)["items"]]
        assert kinds.count("client_reply") == 2
        assert kinds.count("assigned") == 1
        admin_kinds = [n["kind"] for n in notifications(mapi, t.admin)["items"]]
        assert admin_kinds.count("client_reply") == 1
        assert "assigned" not in admin_kinds

    def test_new_incident_goes_to_every_active_staff_member(
        self, mail_server: LiveServer, mapi: Api, sink: Sink, t: Tenant
    ) -> None:
        third = invite(mapi, t.admin, "staff", name="Third Staff")
        gone = invite(mapi, t.admin, "staff", name="Former Staff")
        mapi.as_(t.admin).ok("PATCH", f"/users/{gone.id}", json={"active": False})
        settle(mail_server, t.slug)
        everyone = addresses(t, third, gone)

        mark = sink.mark()
        ref = t.incident(mapi, priority="high")["ref"]
        settle(mail_server, t.slug)
        got = sink.to(everyone, mark)
        assert recipients(got) == sorted([t.admin.email, t.staff.email, third.email])
        assert {m.subject for m in got} == {
            f"[{ref}] Nueva incidencia (Alta): The mount does not track."
        }
        assert all("The mount does not track." in m.text() for m in got)

        # Staff filing for a client: the other staff and the client account's members are
        # told, the one who filed is not (nor another account's client, nor former staff).
        mark = sink.mark()
        filed = t.incident(mapi, who=t.staff)["ref"]
        settle(mail_server, t.slug)
        got = sink.to(everyone, mark)
        assert recipients(got) == sorted([t.admin.email, third.email, t.client.email])
        assert {m.subject for m in got} == {
            f"[{filed}] Nueva incidencia (Media): The mount does not track."
        }

    def test_a_clients_status_change_reaches_the_staff_who_follow_the_incident(
        self, mail_server: LiveServer, mapi: Api, sink: Sink, t: Tenant
    ) -> None:
        third = invite(mapi, t.admin, "staff", name="Third Staff")
        gone = invite(mapi, t.admin, "staff", name="Former Staff")
        mapi.as_(t.admin).ok("PATCH", f"/users/{gone.id}", json={"active": False})
        colleague = invite(mapi, t.admin, "client", t.account_a, name="Colleague")
        everyone = addresses(t, third, gone, colleague)
        ref = t.incident(mapi, summary="Focuser squeaks")["ref"]
        other = t.incident(mapi, summary="Dome leaks")["ref"]
        mapi.as_(t.admin).ok("PATCH", f"/incidents/{other}", json={"assignee_id": third.id})
        settle(mail_server, t.slug)

        # Unassigned: every active staff member, and the client's colleague (not the client).
        mark = sink.mark()
        change_status(mapi, t.client, ref, "cancelled", "Fixed it ourselves")
        settle(mail_server, t.slug)
        got = sink.to(everyone, mark)
        assert recipients(got) == sorted(
            [t.admin.email, t.staff.email, third.email, colleague.email]
        )
        assert {m.subject for m in got} == {f"[{ref}] Cancelada: Focuser squeaks"}
        assert all("Fixed it ourselves" in m.text() for m in got)
        for who in (t.admin, t.staff, third, colleague):
            newest = notifications(mapi, who)["items"][0]
            assert (newest["kind"], newest["incident"]) == ("status_changed", ref), who.email
            assert newest["actor"]["id"] == t.client.id

        # Assigned: the assignee alone of the staff, and the client's colleague.
        mark = sink.mark()
        change_status(mapi, colleague, other, "cancelled", "Never mind")
        settle(mail_server, t.slug)
        got = sink.to(everyone, mark)
        assert recipients(got) == sorted([third.email, t.client.email])
        assert {m.subject for m in got} == {f"[{other}] Cancelada: Dome leaks"}
        for who in (t.admin, t.staff):
            assert notifications(mapi, who)["items"][0]["incident"] == ref, who.email

    def test_an_incident_whose_assignee_left_reaches_every_active_staff_member(
        self, mail_server: LiveServer, mapi: Api, sink: Sink, t: Tenant
    ) -> None:
        leaving = invite(mapi, t.admin, "staff", name="Leaving Staff")
        everyone = addresses(t, leaving)
        ref = t.incident(mapi)["ref"]
        mapi.as_(t.admin).ok("PATCH", f"/incidents/{ref}", json={"assignee_id": leaving.id})
        settle(mail_server, t.slug)
        mapi.as_(t.admin).ok("PATCH", f"/users/{leaving.id}", json={"active": False})

        mark = sink.mark()
        reply = comment(mapi, t.client, ref, "Is anybody there?")
        settle(mail_server, t.slug)
        got = sink.to(everyone, mark)
        assert recipients(got) == sorted([t.admin.email, t.staff.email])
        assert all("Is anybody there?" in m.text() for m in got)
        for who in (t.admin, t.staff):
            newest = notifications(mapi, who)["items"][0]
            assert (newest["kind"], newest["event_id"]) == ("client_reply", reply), who.email

        # Back at work, the assignee alone follows it again.
        mapi.as_(t.admin).ok("PATCH", f"/users/{leaving.id}", json={"active": True})
        mark = sink.mark()
        comment(mapi, t.client, ref, "Hello again")
        settle(mail_server, t.slug)
        assert recipients(sink.to(everyone, mark)) == [leaving.email]
        kinds = [n["kind"] for n in notifications(mapi, leaving)["items"]]
        assert kinds == ["client_reply", "assigned", "new_incident"]

        # Gone again: a client's status change goes to every active staff member as well.
        mapi.as_(t.admin).ok("PATCH", f"/users/{leaving.id}", json={"active": False})
        mark = sink.mark()
        change_status(mapi, t.client, ref, "cancelled", "We gave up")
        settle(mail_server, t.slug)
        got = sink.to(everyone, mark)
        assert recipients(got) == sorted([t.admin.email, t.staff.email])
        assert {m.subject for m in got} == {f"[{ref}] Cancelada: The mount does not track."}

    def test_staff_filing_for_a_client_tells_that_accounts_members(
        self, mail_server: LiveServer, mapi: Api, sink: Sink, t: Tenant
    ) -> None:
        colleague = invite(mapi, t.admin, "client", t.account_a, name="Colleague")
        english = invite(mapi, t.admin, "client", t.account_a, name="English Client")
        mapi.as_(english).ok("PATCH", "/me", json={"language": "en"})
        former = invite(mapi, t.admin, "client", t.account_a, name="Former Client")
        mapi.as_(t.admin).ok("PATCH", f"/users/{former.id}", json={"active": False})
        everyone = addresses(t, colleague, english, former)
        settle(mail_server, t.slug)

        mark = sink.mark()
        filed = t.incident(mapi, who=t.staff, summary="Guiding drifts")
        ref = filed["ref"]
        created = max(e["id"] for e in filed["events"] if e["kind"] == "created")
        settle(mail_server, t.slug)
        got = sink.to(everyone, mark)
        assert recipients(got) == sorted(
            [t.admin.email, t.client.email, colleague.email, english.email]
        )
        subjects = {m.to: m.subject for m in got}
        assert subjects[english.email] == f"[{ref}] New incident (Medium): Guiding drifts"
        for who in (t.admin, t.client, colleague):
            assert subjects[who.email] == f"[{ref}] Nueva incidencia (Media): Guiding drifts"
        assert all("The mount does not track." in m.text() for m in got)
        for who in (t.admin, t.client, colleague, english):
            newest = notifications(mapi, who)["items"][0]
            assert (newest["kind"], newest["event_id"]) == ("new_incident", created), who.email
            assert newest["actor"]["id"] == t.staff.id
        assert all(n["incident"] != ref for n in notifications(mapi, t.client_b)["items"])

        # For account B: that account's member hears of it, account A's do not.
        mark = sink.mark()
        theirs = t.incident(mapi, who=t.admin, client_account_id=t.account_b)["ref"]
        settle(mail_server, t.slug)
        got = sink.to(everyone, mark)
        assert recipients(got) == sorted([t.staff.email, t.client_b.email])
        assert notifications(mapi, t.client_b)["items"][0]["incident"] == theirs

        # A client filing: the staff only, not the client's colleagues.
        mark = sink.mark()
        t.incident(mapi, who=colleague)
        settle(mail_server, t.slug)
        got = sink.to(everyone, mark)
        assert recipients(got) == sorted([t.admin.email, t.staff.email])


class TestAssignment:
    def test_the_new_assignee_is_told_in_their_language_unless_they_took_it_themselves(
        self, mail_server: LiveServer, mapi: Api, sink: Sink, t: Tenant
    ) -> None:
        english = invite(mapi, t.admin, "staff", name="English Staff")
        mapi.as_(english).ok("PATCH", "/me", json={"language": "en"})
        ref = t.incident(mapi, summary="Dome shutter stuck", priority="high")["ref"]
        settle(mail_server, t.slug)
        everyone = addresses(t, english)

        def assign(who: User, body: dict[str, Any]) -> int | None:
            detail = mapi.as_(who).ok("PATCH", f"/incidents/{ref}", json=body)
            moves = [e["id"] for e in detail["events"] if e["kind"] == "assigned"]
            return max(moves) if moves else None

        def inboxes() -> dict[str, list[int]]:
            people = (t.admin, t.staff, english, t.client, t.client_b)
            return {p.email: [n["id"] for n in notifications(mapi, p)["items"]] for p in people}

        # Given to someone else: the assignee, and only they, hear of it, in Spanish here.
        mark = sink.mark()
        event = assign(t.admin, {"assignee_id": t.staff.id})
        rows = settle(mail_server, t.slug)
        (m,) = sink.to(everyone, mark)
        assert m.to == t.staff.email
        assert m.subject == f"[{ref}] Asignada a ti: Dome shutter stuck"
        line = f"Administrator te ha asignado la incidencia {ref} (Reparación, prioridad Alta):"
        assert line in m.text()
        assert "Dome shutter stuck" in m.text() and "Dome shutter stuck" in m.html()
        assert m.msg["Content-Language"] == "es"
        assert [a.addr_spec for a in m.msg["To"].addresses] == [t.staff.email]
        assigned_rows = [r for r in rows if r.kind == "assigned"]
        assert [(r.to_addr, r.user_id, r.message_id) for r in assigned_rows] == [
            (t.staff.email, t.staff.id, m.message_id)
        ]
        newest = notifications(mapi, t.staff)["items"][0]
        assert (newest["kind"], newest["event_id"], newest["incident"]) == ("assigned", event, ref)
        assert newest["actor"]["id"] == t.admin.id and newest["read_at"] is None
        for who in (t.admin, english, t.client, t.client_b):
            assert all(n["kind"] != "assigned" for n in notifications(mapi, who)["items"])

        # Handed on: the new assignee in English; the one who handed it on is not told.
        mark = sink.mark()
        event = assign(t.staff, {"assignee_id": english.id})
        settle(mail_server, t.slug)
        (m,) = sink.to(everyone, mark)
        assert m.to == english.email
        assert m.subject == f"[{ref}] Assigned to you: Dome shutter stuck"
        assert f"Staff Member has assigned incident {ref} to you (Repair, priority High):" in (
            m.text()
        )
        assert m.msg["Content-Language"] == "en"
        newest = notifications(mapi, english)["items"][0]
        assert (newest["kind"], newest["event_id"]) == ("assigned", event)

        # Taking it yourself, or unassigning it, tells nobody and e-mails nobody.
        before, rows_before = inboxes(), len(outbox(mail_server, t.slug))
        mark = sink.mark()
        assert assign(t.staff, {"assignee_id": t.staff.id}) is not None
        assert assign(t.admin, {"unassign": True}) is not None
        assert assign(t.admin, {"assignee_id": t.admin.id}) is not None
        settle(mail_server, t.slug)
        assert sink.to(everyone, mark) == []
        assert len(outbox(mail_server, t.slug)) == rows_before
        assert inboxes() == before

        # With the e-mail for assignments turned off, the notification still comes.
        settings = mapi.as_(t.staff).ok(
            "PATCH", "/notifications/settings", json={"email": {"assigned": False}}
        )
        assert settings["email"] == {
            "new_incident": True,
            "client_reply": True,
            "staff_reply": True,
            "status_changed": True,
            "assigned": False,
        }
        mark = sink.mark()
        event = assign(t.admin, {"assignee_id": t.staff.id})
        reply = comment(mapi, t.client, ref, "Who has it now?")
        settle(mail_server, t.slug)
        (m,) = sink.to(everyone, mark)  # the client's reply: that kind is still on
        assert (m.to, m.subject) == (t.staff.email, f"[{ref}] Nueva respuesta: Dome shutter stuck")
        items = notifications(mapi, t.staff)["items"]
        assert [(n["kind"], n["event_id"]) for n in items[:2]] == [
            ("client_reply", reply),
            ("assigned", event),
        ]


class TestLetterSafety:
    def test_line_breaks_in_names_and_summaries_cannot_inject_headers(
        self, mail_server: LiveServer, mapi: Api, sink: Sink, t: Tenant
    ) -> None:
        # The API refuses control characters, so put them in straight through the database.
        r = mapi.as_(t.client).patch("/me", json={"display_name": f"Eve{INJECTION}"})
        assert r.status_code == 422
        inc = t.incident(mapi)
        ref = inc["ref"]
        settle(mail_server, t.slug)
        oid = obs_id(mail_server, t.slug)
        with mail_server.db.write() as session:
            session.execute(
                update(UserRow)
                .where(col(UserRow.id).in_([t.client.id, t.staff.id]))
                .values(display_name=f"Eve{INJECTION}")
            )
            session.execute(
                update(Incident)
                .where(col(Incident.observatory_id) == oid, col(Incident.number) == inc["number"])
                .values(summary=f"Mount{INJECTION}\nX-Injected: yes")
            )
            session.execute(
                update(Observatory)
                .where(col(Observatory.id) == oid)
                .values(name=f"Evil Obs{INJECTION}")
            )
        mark = sink.mark()
        change_status(mapi, t.staff, ref, "in_progress", "Line one\nBcc: evil@example.org")
        comment(mapi, t.staff, ref, "A public reply")
        mapi.as_(t.admin).ok(
            "POST",
            "/invitations",
            json={"email": f"new-{t.slug.lower()}@x.example", "role": "staff"},
        )
        settle(mail_server, t.slug)

        got = sink.messages(mark)
        assert all("evil@example.org" not in r.lower() for m in got for r in m.rcpt_tos)
        mine = sink.to(addresses(t) | {f"new-{t.slug.lower()}@x.example"}, mark)
        assert recipients(mine) == sorted(
            [t.client.email, t.client.email, f"new-{t.slug.lower()}@x.example"]
        )
        for m in mine:
            single_line_headers(m)
            assert "X-Injected" not in m.msg
            assert [a.addr_spec for a in m.msg["To"].addresses] == [m.to]
            assert [a.addr_spec for a in m.msg["From"].addresses] == ["obs-support@localhost"]
            assert m.msg["Cc"] is None
        subjects = sorted(m.subject for m in mine)
        assert f"[{ref}] En progreso: Mount Bcc: evil@example.org X-Injected: yes" in subjects
        status_mail = next(m for m in mine if "En progreso" in m.subject)
        assert status_mail.msg["To"].addresses[0].display_name == "Eve Bcc: evil@example.org"

    def test_user_text_is_escaped_in_html_and_literal_in_text(
        self, mail_server: LiveServer, mapi: Api, sink: Sink, t: Tenant
    ) -> None:
        ref = t.incident(mapi, summary="Pier <img src=x onerror=alert(2)> & co")["ref"]
        settle(mail_server, t.slug)
        mark = sink.mark()
        comment(mapi, t.staff, ref, "Look: <script>alert(1)</script>")
        settle(mail_server, t.slug)
        (m,) = sink.to(addresses(t), mark)
        assert m.to == t.client.email
        html, text = m.html(), m.text()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script" not in html.lower()
        assert "<img src=x" not in html
        assert "Pier &lt;img src=x onerror=alert(2)&gt; &amp; co" in html
        assert "<script>alert(1)</script>" in text
        assert "&lt;" not in text
        assert m.subject == f"[{ref}] Nueva respuesta: Pier <img src=x onerror=alert(2)> & co"


class TestPreferences:
    def test_email_off_keeps_the_in_app_notification(
        self, mail_server: LiveServer, mapi: Api, sink: Sink, t: Tenant
    ) -> None:
        client = mapi.as_(t.client)
        default = client.ok("GET", "/notifications/settings")
        assert default == {
            "email": {
                "new_incident": True,
                "client_reply": True,
                "staff_reply": True,
                "status_changed": True,
                "assigned": True,
            }
        }
        changed = client.ok(
            "PATCH", "/notifications/settings", json={"email": {"status_changed": False}}
        )
        assert changed["email"]["status_changed"] is False
        assert changed["email"]["staff_reply"] is True
        assert changed["email"]["assigned"] is True
        assert client.ok("GET", "/notifications/settings") == changed
        bad = client.patch("/notifications/settings", json={"email": {"carrier_pigeon": True}})
        assert bad.status_code == 422
        assert client.ok("GET", "/notifications/settings") == changed

        ref = t.incident(mapi)["ref"]
        settle(mail_server, t.slug)
        mark = sink.mark()
        change_status(mapi, t.staff, ref, "in_progress")
        change_status(mapi, t.staff, ref, "blocked", "waiting")
        comment(mapi, t.staff, ref, "Still e-mailed: replies are on.")
        settle(mail_server, t.slug)
        got = sink.to(addresses(t), mark)
        assert recipients(got) == [t.client.email]
        assert got[0].subject.startswith(f"[{ref}] Nueva respuesta")

        page = notifications(mapi, t.client)
        assert [n["kind"] for n in page["items"]] == [
            "staff_reply",
            "status_changed",
            "status_changed",
        ]
        assert page["unread"] == 3
        assert all(n["incident"] == ref and n["read_at"] is None for n in page["items"])

        # Someone else's notification ids mark nothing of theirs.
        foreign = notifications(mapi, t.staff)["items"]
        assert foreign
        marked = client.ok("POST", "/notifications/read", json={"ids": [foreign[0]["id"]]})
        assert marked == {"marked": 0, "unread": 3}
        assert notifications(mapi, t.staff)["items"][0]["read_at"] is None

        first = page["items"][-1]["id"]
        assert client.ok("POST", "/notifications/read", json={"ids": [first]}) == {
            "marked": 1,
            "unread": 2,
        }
        unread = notifications(mapi, t.client, unread=True)
        assert [n["id"] for n in unread["items"]] == [n["id"] for n in page["items"][:2]]
        assert unread["unread"] == 2
        assert client.post("/notifications/read", json={}).status_code == 422
        assert client.ok("POST", "/notifications/read", json={"all": True}) == {
            "marked": 2,
            "unread": 0,
        }
        after = notifications(mapi, t.client)
        assert after["unread"] == 0
        assert len(after["items"]) == 3
        assert all(n["read_at"] is not None for n in after["items"])
        assert notifications(mapi, t.client, unread=True)["items"] == []

        # Turning it back on sends again.
        client.ok("PATCH", "/notifications/settings", json={"email": {"status_changed": True}})
        mark = sink.mark()
        change_status(mapi, t.staff, ref, "done")
        settle(mail_server, t.slug)
        assert recipients(sink.to(addresses(t), mark)) == [t.client.email]


# --- links: invitations and password resets ---------------------------------------------------


class TestLinks:
    def test_invitation_mail_carries_the_link_in_the_chosen_language(
        self, mail_server: LiveServer, mapi: Api, sink: Sink, t: Tenant
    ) -> None:
        admin = mapi.as_(t.admin)
        en_addr = f"invitee-{uuid.uuid4().hex[:8]}@example.org"
        es_addr = f"invitee-{uuid.uuid4().hex[:8]}@example.org"
        mark = sink.mark()
        issued = admin.ok(
            "POST",
            "/invitations",
            json={
                "email": en_addr,
                "role": "client",
                "client_account_id": t.account_a,
                "language": "en",
            },
            expect=201,
        )
        admin.ok("POST", "/invitations", json={"email": es_addr, "role": "staff"}, expect=201)
        settle(mail_server, t.slug)

        (en,) = sink.to({en_addr}, mark)
        (es,) = sink.to({es_addr}, mark)
        assert en.subject == f"Invitation to Observatory {t.slug} support"
        assert es.subject == f"Invitación al soporte de Observatory {t.slug}"
        link = re.compile(
            re.escape(f"{mail_server.url}/o/{t.slug.lower()}/invite/") + r"(obsinv_[A-Za-z0-9]+)"
        )
        in_text, in_html = link.findall(en.text()), link.findall(en.html())
        assert in_text and in_html
        assert set(in_text) == set(in_html) == {issued["token"]}
        assert issued["link"] == f"{mail_server.url}/o/{t.slug.lower()}/invite/{issued['token']}"
        assert link.search(es.text()) and link.search(es.html())

        # The link's token is the invitation: it can be accepted.
        accepted = mapi.ok(
            "POST",
            "/invitations/accept",
            json={"token": in_text[0], "display_name": "New Client", "password": PASSWORD},
        )
        assert accepted["user"]["id"] > 0

        # The letter says which language it is in (outbox.build sets Content-Language).
        assert en.msg["Content-Language"] == "en"
        assert es.msg["Content-Language"] == "es"

    def test_forgotten_password_link_resets_once_and_revokes_tokens(
        self, mail_server: LiveServer, mapi: Api, sink: Sink, t: Tenant
    ) -> None:
        unknown = f"nobody-{uuid.uuid4().hex[:8]}@{t.slug.lower()}.example"
        mark = sink.mark()
        known_r = mapi.post("/auth/forgot", json={"email": t.client.email, "observatory": t.slug})
        unknown_r = mapi.post("/auth/forgot", json={"email": unknown, "observatory": t.slug})
        assert known_r.status_code == unknown_r.status_code == 202
        assert known_r.json() == unknown_r.json()
        # The link is written once the answer has gone, then delivered.
        sink.wait_for(lambda _: bool(sink.to({t.client.email}, mark)))
        settle(mail_server, t.slug)
        assert sink.to({unknown}, mark) == []
        (m,) = sink.to(addresses(t), mark)
        assert m.to == t.client.email
        assert m.subject == f"Restablecer tu contraseña de Observatory {t.slug}"
        link = re.compile(
            re.escape(f"{mail_server.url}/o/{t.slug.lower()}/reset/") + r"(obsrst_[A-Za-z0-9]+)"
        )
        tokens = set(link.findall(m.text()))
        assert tokens == set(link.findall(m.html()))
        (token,) = tokens

        new_password = "a brand new passphrase 42"
        issued = mapi.ok("POST", "/auth/reset", json={"token": token, "password": new_password})
        assert issued["token"].startswith("obs_")
        assert mapi.as_(t.client).get("/me").status_code == 401
        assert mapi.as_(issued["token"]).get("/me").status_code == 200
        again = mapi.post("/auth/reset", json={"token": token, "password": "another one 1234"})
        assert again.status_code == 401
        assert again.json()["code"] == "invalid_reset"
        bad_login = mapi.post(
            "/auth/login",
            json={"email": t.client.email, "password": "another one 1234", "observatory": t.slug},
        )
        assert bad_login.status_code == 401
        login = mapi.ok(
            "POST",
            "/auth/login",
            json={"email": t.client.email, "password": new_password, "observatory": t.slug},
        )
        me = mapi.as_(login["token"]).ok("GET", "/me")
        assert me["id"] == t.client.id

    def test_reset_mail_to_one_person_is_limited_per_window(
        self, mail_server: LiveServer, mapi: Api, sink: Sink, t: Tenant
    ) -> None:
        other = make_tenant(mail_server, mapi)
        unknown = f"nobody-{uuid.uuid4().hex[:8]}@{t.slug.lower()}.example"

        def ask(address: str, slug: str = t.slug) -> httpx.Response:
            return mapi.post("/auth/forgot", json={"email": address, "observatory": slug})

        mark = sink.mark()
        # The address is one recipient however it is spelt, and so is the observatory.
        spellings = [t.client.email, t.client.email.upper(), t.client.email, t.client.email]
        asked = [ask(a) for a in spellings] + [ask(t.client.email, t.slug.lower())]
        assert [r.status_code for r in asked] == [202] * 5
        assert len({r.text for r in asked}) == 1

        over = ask(t.client.email)
        assert over.status_code == 429
        assert over.json()["code"] == "too_many_attempts"
        window = mail_server.settings.login_window_seconds
        assert 0 < int(over.headers["Retry-After"]) <= window + 1
        for address, slug in (
            (t.client.email, t.slug),
            (t.client.email.upper(), t.slug),
            (t.client.email, t.slug.lower()),
        ):
            assert ask(address, slug).status_code == 429, (address, slug)

        # Anybody else, and the same address in another observatory, are not held back.
        others = [ask(t.staff.email), ask(unknown), ask(t.client.email, other.slug)]
        assert [r.status_code for r in others] == [202, 202, 202]
        assert {r.text for r in others} == {asked[0].text}

        # Links are written once the answers have gone: wait for the six, then for stragglers.
        sink.wait_for(lambda _: len(sink.to(addresses(t) | {unknown}, mark)) >= 6)
        rows = settle(mail_server, t.slug)
        got = sink.to(addresses(t) | {unknown}, mark)
        assert recipients(got) == sorted([t.client.email] * 5 + [t.staff.email])
        resets = [r for r in rows if r.kind == "password_reset"]
        assert sorted(r.to_addr for r in resets) == recipients(got)
        assert outbox(mail_server, other.slug) == []


def test_the_reset_limit_holds_whether_or_not_the_observatory_is_named(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'one.sqlite3'}"
    with start_server(database, tmp_path / "data") as live, Api(live.url) as api:
        tenant = make_tenant(live, api)  # the only observatory: asking needs no slug
        named = {"email": tenant.client.email, "observatory": tenant.slug}
        unnamed = {"email": tenant.client.email}
        codes = [api.post("/auth/forgot", json=named).status_code for _ in range(5)]
        codes += [api.post("/auth/forgot", json=unnamed).status_code for _ in range(5)]

        def resets() -> list[Outbox]:
            return [r for r in outbox(live, tenant.slug) if r.kind == "password_reset"]

        # Links are written once the answers have gone: wait for the five, then for more.
        wait_outbox(resets, lambda rows: len(rows) >= 5)
        time.sleep(4 * RETRY)
        assert len(resets()) == 5, codes
        assert codes == [202] * 5 + [429] * 5


class TestLogo:
    def test_logo_is_embedded_as_an_inline_part(
        self, mail_server: LiveServer, mapi: Api, sink: Sink, t: Tenant
    ) -> None:
        ref = t.incident(mapi)["ref"]
        settle(mail_server, t.slug)
        mark = sink.mark()
        comment(mapi, t.staff, ref, "Before the logo")
        settle(mail_server, t.slug)
        (plain,) = sink.to(addresses(t), mark)
        assert "cid:logo" not in plain.html()
        assert all(p.get_content_maintype() != "image" for p in plain.msg.walk())

        image = png()
        r = mapi.as_(t.admin).put(
            "/observatory/logo", content=image, headers={"content-type": "image/png"}
        )
        assert r.status_code == 200, r.text
        mark = sink.mark()
        comment(mapi, t.staff, ref, "After the logo")
        settle(mail_server, t.slug)
        (m,) = sink.to(addresses(t), mark)
        assert 'src="cid:logo"' in m.html()
        images = [p for p in m.msg.walk() if p.get_content_maintype() == "image"]
        assert len(images) == 1
        assert images[0]["Content-ID"] == "<logo>"
        assert images[0].get_content_type() == "image/png"
        assert images[0].get_content() == image
        related = [p for p in m.msg.walk() if p.get_content_type() == "multipart/related"]
        assert len(related) == 1
        assert [p.get_content_type() for p in related[0].iter_parts()] == [
            "text/html",
            "image/png",
        ]
        assert m.text().startswith("Hola")


# --- delivery that survives outages -----------------------------------------------------------


def wait_outbox(
    read: Callable[[], list[Outbox]],
    predicate: Callable[[list[Outbox]], bool],
    timeout: float = TIMEOUT,
) -> list[Outbox]:
    deadline = time.monotonic() + timeout
    while True:
        rows = read()
        if predicate(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"outbox never reached the state: {rows}")
        time.sleep(0.05)


def failed_once_and_idle(rows: list[Outbox]) -> bool:
    return bool(rows) and all(
        r.status == "pending" and r.attempts >= 1 and r.last_error and r.lease_until is None
        for r in rows
    )


def exactly_once(sink: Sink, rows: list[Outbox], grace: float) -> None:
    """Every row arrived, then nothing more arrives for `grace` seconds: one copy each."""
    ids = {r.message_id for r in rows}
    sink.wait_for(lambda got: ids <= {m.message_id for m in got})
    time.sleep(grace)
    counts = Counter(m.message_id for m in sink.messages())
    assert {i: counts[i] for i in ids} == dict.fromkeys(ids, 1)
    assert sum(counts.values()) == len(ids)
    by_id = {m.message_id: m for m in sink.messages()}
    for r in rows:
        assert by_id[r.message_id].to == r.to_addr


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own for a test that starts (and stops) servers itself."""
    yield from database_url(request.param, tmp_path)


def test_mail_waits_for_smtp_and_is_delivered_once(fresh_database: str, tmp_path: Path) -> None:
    port = free_port()  # nothing listens here yet
    with (
        start_server(
            fresh_database,
            tmp_path / "data",
            smtp_url=f"smtp://127.0.0.1:{port}",
            mail_retry_seconds=RETRY,
        ) as live,
        Api(live.url) as api,
    ):
        tenant = make_tenant(live, api)
        ref = tenant.incident(api)["ref"]
        change_status(api, tenant.staff, ref, "in_progress", "on it")
        time.sleep(1.0)
        rows = outbox(live, tenant.slug)
        assert len(rows) == 3  # new incident to admin and staff, status to the client
        assert all(r.status == "pending" for r in rows), rows
        assert all(r.attempts >= 1 and r.last_error for r in rows), rows
        assert all(r.sent_at is None for r in rows)

        with smtp_server(port) as sink:
            rows = wait_outbox(
                lambda: outbox(live, tenant.slug),
                lambda rows: all(r.status == "sent" for r in rows),
            )
            exactly_once(sink, rows, grace=4 * RETRY)
            assert all(r.sent_at is not None and r.last_error is None for r in rows)
            assert recipients(sink.messages()) == sorted(
                [tenant.admin.email, tenant.staff.email, tenant.client.email]
            )


IDLE = 0.5  # seconds an idle SMTP connection may stay open at the servers below


class Connections(Sink):
    """A Sink that also notes the connection (aiosmtpd's session object, one per connection)
    each message came on, and the connections that ended with QUIT."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.carried: list[object] = []
        self.quit: list[object] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.carried.append(session)
        return await super().handle_DATA(server, session, envelope)

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.quit.append(session)
        return "221 Bye"

    def all_quit(self) -> bool:
        with self._lock:
            return bool(self.carried) and set(self.carried) <= set(self.quit)


def test_an_smtp_server_that_drops_idle_connections_costs_no_attempt(
    fresh_database: str, tmp_path: Path
) -> None:
    port = free_port()
    with (
        smtp_server(port, Connections(port), timeout=IDLE) as sink,
        start_server(
            fresh_database, tmp_path / "data", smtp_url=sink.url, mail_retry_seconds=RETRY
        ) as live,
        Api(live.url) as api,
    ):
        assert isinstance(sink, Connections)
        tenant = make_tenant(live, api)
        ref = tenant.incident(api)["ref"]
        first = settle(live, tenant.slug)
        assert [(r.kind, r.attempts) for r in first] == [("new_incident", 1)] * 2

        # Once a pass is over the worker says QUIT: no connection is left open to go stale.
        deadline = time.monotonic() + TIMEOUT
        while not sink.all_quit():
            assert time.monotonic() < deadline, (sink.carried, sink.quit)
            time.sleep(0.02)
        time.sleep(3 * IDLE)  # long enough for the server to drop any connection kept open

        mark = sink.mark()
        comment(api, tenant.staff, ref, "After a quiet spell")
        rows = settle(live, tenant.slug)
        (m,) = sink.messages(mark)
        assert m.to == tenant.client.email and "After a quiet spell" in m.text()
        (row,) = [r for r in rows if r.message_id == m.message_id]
        assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
        assert [r.attempts for r in rows] == [1, 1, 1]
        exactly_once(sink, rows, grace=4 * RETRY)
        assert sink.carried[-1] not in sink.carried[:-1]  # on a connection of its own


def _message(n: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "obs-support@localhost"
    msg["To"] = "someone@example.org"
    msg["Subject"] = f"Message {n}"
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@obs-support.test>"
    msg.set_content(f"Body {n}")
    return msg


def test_the_smtp_transport_reopens_a_kept_connection_the_server_dropped() -> None:
    port = free_port()
    transport = SmtpTransport(SmtpConfig.parse(f"smtp://127.0.0.1:{port}"))
    try:
        with smtp_server(port, Connections(port), timeout=IDLE) as sink:
            assert isinstance(sink, Connections)
            transport.send(_message(1), "obs-support@localhost", "someone@example.org", "one")
            transport.send(_message(2), "obs-support@localhost", "someone@example.org", "two")
            time.sleep(3 * IDLE)  # the server closes the connection the transport still holds
            transport.send(_message(3), "obs-support@localhost", "someone@example.org", "three")
            got = sink.wait_for(lambda got: len(got) == 3)
            assert [m.subject for m in got] == ["Message 1", "Message 2", "Message 3"]
            # one connection for the first two (a batch), a new one after the drop
            assert sink.carried[0] is sink.carried[1]
            assert sink.carried[2] is not sink.carried[0]
            assert sink.quit == []
        # The server is gone for good: the one reconnection fails, and that is an error.
        with pytest.raises((OSError, smtplib.SMTPException)):
            transport.send(_message(4), "obs-support@localhost", "someone@example.org", "four")
    finally:
        transport.close()


class SaysTimeoutFirst(SMTP):
    """An SMTP server that answers "421 … timeout" before dropping an idle connection, as
    Postfix (smtpd_timeout) and Exim do."""

    def _timeout_cb(self) -> None:
        assert isinstance(self.transport, asyncio.WriteTransport)
        self.transport.write(b"421 4.4.2 obs-support.test Error: timeout exceeded\r\n")
        self.transport.close()


class SaysTimeoutController(Controller):
    def factory(self) -> SMTP:
        return SaysTimeoutFirst(self.handler, timeout=IDLE)


def test_the_smtp_transport_reopens_a_kept_connection_closed_with_a_421_reply() -> None:
    port = free_port()
    sink = Sink(port)
    controller = SaysTimeoutController(sink, hostname="127.0.0.1", port=port)
    controller.start()
    transport = SmtpTransport(SmtpConfig.parse(sink.url))
    try:
        transport.send(_message(1), "obs-support@localhost", "someone@example.org", "one")
        time.sleep(3 * IDLE)
        transport.send(_message(2), "obs-support@localhost", "someone@example.org", "two")
        got = sink.wait_for(lambda got: len(got) == 2)
        assert [m.subject for m in got] == ["Message 1", "Message 2"]
    finally:
        transport.close()
        controller.stop()


def test_mail_keeps_trying_for_about_two_days_by_default() -> None:
    fields = ServerSettings.model_fields
    attempts = fields["mail_max_attempts"].default
    first = fields["mail_retry_seconds"].default
    assert attempts == 200
    # a retry after every failed attempt but the last, the delay doubling up to the ceiling
    waited = sum(min(first * 2 ** (n - 1), MAX_DELAY_SECONDS) for n in range(1, attempts))
    assert 47 * 3600 < waited < 49 * 3600


def _run_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "obs_support", "server", "run", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError("server did not start")


@dataclass
class Arranged:
    """A tenant written straight into a fresh database, and the environment of a `server run`
    subprocess that serves it and sends its mail to `smtp_port`."""

    db: Database
    tenant: Tenant
    env: dict[str, str]
    smtp_port: int
    http_port: int
    server: LiveServer

    def rows(self) -> list[Outbox]:
        return outbox(self.server, self.tenant.slug)


def arrange(url: str, tmp_path: Path) -> Arranged:
    smtp_port, http_port = free_port(), free_port()
    upgrade(url)
    db = connect(url)
    arranged = LiveServer("", url, server_settings(url, tmp_path / "data"), db)
    with Api("http://127.0.0.1:1") as unused:  # make_tenant writes straight to the database
        tenant = make_tenant(arranged, unused)
    env = {
        **os.environ,
        "OBS_SUPPORT_DATA_DIR": str(tmp_path / "data"),
        "OBS_SUPPORT_DATABASE_URL": url,
        "OBS_SUPPORT_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "OBS_SUPPORT_MAIL_RETRY_SECONDS": str(RETRY),
    }
    return Arranged(db, tenant, env, smtp_port, http_port, arranged)


def test_mail_committed_before_kill_9_is_sent_once_after_restart(
    fresh_database: str, tmp_path: Path
) -> None:
    it = arrange(fresh_database, tmp_path)
    db, tenant, env, rows = it.db, it.tenant, it.env, it.rows
    smtp_port, http_port = it.smtp_port, it.http_port

    proc = _run_server(env, http_port)
    try:
        with Api(f"http://127.0.0.1:{http_port}") as api:
            ref = tenant.incident(api)["ref"]
            change_status(api, tenant.staff, ref, "in_progress", "after the crash")
        # Every row has been tried (SMTP is down) and waits for its retry, lease released.
        wait_outbox(rows, lambda r: len(r) == 3 and failed_once_and_idle(r))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert all(r.status == "pending" and r.sent_at is None for r in rows())

        with smtp_server(smtp_port) as sink:
            proc = _run_server(env, http_port)
            done = wait_outbox(rows, lambda r: all(x.status == "sent" for x in r))
            exactly_once(sink, done, grace=4 * RETRY)
            status_mail = next(m for m in sink.messages() if m.to == tenant.client.email)
            assert status_mail.subject.startswith(f"[{ref}] En progreso")
            assert "after the crash" in status_mail.text()
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=15)
        db.dispose()


class KillsTheSender(Sink):
    """Takes the first message, then SIGKILLs the server that sent it before answering 250:
    the mail was delivered, and the server died before it could mark it sent."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.victim: int | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if self.victim is not None:
            os.kill(self.victim, signal.SIGKILL)
            self.victim = None
        return answer


def test_a_crash_after_the_mail_server_took_a_message_resends_it_with_the_same_message_id(
    fresh_database: str, tmp_path: Path
) -> None:
    it = arrange(fresh_database, tmp_path)
    db, tenant, env, rows = it.db, it.tenant, it.env, it.rows
    smtp_port, http_port = it.smtp_port, it.http_port

    sink = KillsTheSender(smtp_port)
    with smtp_server(smtp_port, sink):
        proc = _run_server(env, http_port)
        try:
            sink.victim = proc.pid
            with Api(f"http://127.0.0.1:{http_port}") as api:
                ref = tenant.incident(api)["ref"]
            proc.wait(timeout=TIMEOUT)  # killed by the first message it sent
            [first] = sink.messages()
            claimed = [r for r in rows() if r.message_id == first.message_id]
            assert [(r.status, r.sent_at) for r in claimed] == [("pending", None)]
            # The claim's lease is what keeps a second process off the row; let it run out
            # rather than wait the minute it lasts.
            with db.write() as session:
                session.execute(update(Outbox).values(lease_until=None))
            proc = _run_server(env, http_port)
            done = wait_outbox(rows, lambda r: len(r) == 2 and all(x.status == "sent" for x in r))
            time.sleep(4 * RETRY)  # nothing more arrives
            copies = Counter(m.message_id for m in sink.messages())
            assert copies == {first.message_id: 2} | {
                r.message_id: 1 for r in done if r.message_id != first.message_id
            }
            again = [m for m in sink.messages() if m.message_id == first.message_id]
            # The same message (only the MIME boundaries are drawn anew): a mail client that
            # has it shows it once.
            headers = ("From", "To", "Subject", "Date", "Message-ID", "Content-Language")
            one, two = (m.msg for m in again)
            assert all(one[h] for h in headers)
            assert [str(one[h]) for h in headers] == [str(two[h]) for h in headers]
            assert (again[0].text(), again[0].html()) == (again[1].text(), again[1].html())
            assert again[1].subject.startswith(f"[{ref}]")
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=15)
            db.dispose()


def test_without_smtp_mail_is_written_as_eml_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with start_server(f"sqlite:///{tmp_path / 'eml.sqlite3'}", data) as live, Api(live.url) as api:
        assert live.settings.smtp_url is None
        tenant = make_tenant(live, api)
        ref = tenant.incident(api, summary="Filter wheel jammed")["ref"]
        rows = wait_outbox(
            lambda: outbox(live, tenant.slug),
            lambda rows: len(rows) == 2 and all(r.status == "sent" for r in rows),
        )
    folder = data / "mail"
    files = sorted(folder.iterdir())
    assert [f.suffix for f in files] == [".eml", ".eml"]
    parsed = [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]
    assert all(isinstance(m, EmailMessage) for m in parsed)
    to = sorted(a.addr_spec for m in parsed for a in m["To"].addresses)
    assert to == sorted([tenant.admin.email, tenant.staff.email])
    assert {str(m["Subject"]) for m in parsed} == {
        f"[{ref}] Nueva incidencia (Media): Filter wheel jammed"
    }
    assert {str(m["Message-ID"]) for m in parsed} == {r.message_id for r in rows}
    for m in parsed:
        assert m.get_content_type() == "multipart/alternative"
        body = m.get_body(("plain",))
        assert isinstance(body, EmailMessage)
        assert "The mount does not track." in body.get_content()
