"""A random walk through the API by the people of several observatories at once.

Hypothesis drives a state machine over two tenants on a real server: people file incidents
(clients for their account, staff for any account), comment, ask for any status change,
legal or not, assign incidents to anyone (staff of the same observatory only may be), upload
small files and read what they can. After every step the invariants
are checked against what the server answers:

- nobody sees an incident of another client account or another observatory: GET answers 404
  and no list shows it;
- a status change happens exactly when `domain.check_transition` allows it; a refused one
  (403/409/422 with the domain's code) changes nothing;
- each status change creates exactly one in-app notification for each affected person
  (services/notifications.py: the account's members, and the incident's assignee — or,
  when a client acted on an unassigned incident, all the staff; never the actor) and none
  for anybody else;
- an incident's history only grows: earlier events never change or disappear.

A few short runs by default; `--slow` runs many longer ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from obs_support import domain
from obs_support.domain import Role, Status
from tests.support import Api, LiveServer, Tenant, User, make_tenant, start_server

OCTETS = {"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}


@dataclass
class Tracked:
    ref: str
    tenant: int
    account: int
    status: Status
    assignee: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("state-machine")
    with start_server(f"sqlite:///{root / 'server.sqlite3'}", root / "data") as server:
        yield server


def people(tenant: Tenant) -> list[User]:
    return [tenant.admin, tenant.staff, tenant.client, tenant.client_b]


def sees(user: User, user_tenant: int, incident: Tracked) -> bool:
    if user_tenant != incident.tenant:
        return False
    return user.role != "client" or user.account_id == incident.account


def machine(server: LiveServer) -> type[RuleBasedStateMachine]:
    class Walk(RuleBasedStateMachine):
        incidents = Bundle("incidents")

        def __init__(self) -> None:
            super().__init__()
            self.api = Api(server.url)
            self.tenants = [make_tenant(server, self.api) for _ in range(2)]
            self.users = [(u, i) for i, t in enumerate(self.tenants) for u in people(t)]
            self.tracked: dict[str, Tracked] = {}

        def teardown(self) -> None:
            self.api.http.close()

        def staff_of(self, incident: Tracked) -> Api:
            return self.api.as_(self.tenants[incident.tenant].staff)

        # --- rules --------------------------------------------------------------------------

        @rule(target=incidents, who=st.integers(0, 7), account_b=st.booleans())
        def file_incident(self, who: int, account_b: bool) -> Tracked:
            user, t = self.users[who]
            tenant = self.tenants[t]
            body: dict[str, Any] = {"type": "repair", "priority": "medium", "message": "Broken."}
            account = user.account_id
            if user.role != "client":
                account = tenant.account_b if account_b else tenant.account_a
                body["client_account_id"] = account
            created = self.api.as_(user).ok("POST", "/incidents", json=body, expect=201)
            assert account is not None
            incident = Tracked(created["ref"], t, account, Status(created["status"]))
            incident.history = self.staff_of(incident).ok("GET", f"/incidents/{incident.ref}")[
                "events"
            ]
            self.tracked[incident.ref] = incident
            return incident

        @rule(incident=incidents, who=st.integers(0, 7), internal=st.booleans())
        def comment(self, incident: Tracked, who: int, internal: bool) -> None:
            user, t = self.users[who]
            body = {"body": "Any news?", "internal": internal and user.role != "client"}
            r = self.api.as_(user).post(f"/incidents/{incident.ref}/comments", json=body)
            assert r.status_code == (201 if sees(user, t, incident) else 404), r.text

        @rule(
            incident=incidents,
            who=st.integers(0, 7),
            goal=st.sampled_from(list(Status)),
            reason=st.sampled_from([None, "", "Because."]),
        )
        def change_status(
            self, incident: Tracked, who: int, goal: Status, reason: str | None
        ) -> None:
            user, t = self.users[who]
            before = self.staff_of(incident).ok("GET", f"/incidents/{incident.ref}")
            body: dict[str, Any] = {"status": goal.value}
            if reason is not None:
                body["reason"] = reason
            r = self.api.as_(user).post(f"/incidents/{incident.ref}/status", json=body)
            if not sees(user, t, incident):
                assert r.status_code == 404, r.text
                verdict = None
            else:
                verdict = domain.check_transition(incident.status, goal, Role(user.role), reason)
                if verdict.refused is None:
                    assert r.status_code == 200, r.text
                else:
                    expected = {"forbidden": 403, "reason_required": 422}
                    assert r.status_code == expected.get(verdict.refused.code, 409), r.text
                    assert r.json()["code"] == verdict.refused.code
            after = self.staff_of(incident).ok("GET", f"/incidents/{incident.ref}")
            if verdict is None or not verdict.changed:
                assert after["status"] == incident.status.value
                assert len(after["events"]) == len(before["events"])
                return
            assert after["status"] == goal.value
            incident.status = goal
            new = after["events"][len(before["events"]) :]
            assert [e["kind"] for e in new] == ["status_changed"]
            self.check_notifications(incident, user, new[0]["id"])

        @rule(incident=incidents, who=st.integers(0, 7), to=st.integers(0, 7))
        def assign(self, incident: Tracked, who: int, to: int) -> None:
            user, t = self.users[who]
            target, target_tenant = self.users[to]
            before = self.staff_of(incident).ok("GET", f"/incidents/{incident.ref}")
            r = self.api.as_(user).patch(
                f"/incidents/{incident.ref}", json={"assignee_id": target.id}
            )
            if not sees(user, t, incident):
                expected, code = 404, "not_found"
            elif user.role == "client":
                expected, code = 403, "forbidden"
            elif target_tenant != t or target.role == "client":
                # Someone of another observatory is as unknown here as an id never used.
                expected, code = 422, "invalid_assignee"
            else:
                expected, code = 200, ""
            assert r.status_code == expected, r.text
            after = self.staff_of(incident).ok("GET", f"/incidents/{incident.ref}")
            new = after["events"][len(before["events"]) :]
            if expected != 200:
                assert r.json()["code"] == code
                assert new == [] and after["assignee"] == before["assignee"]
                return
            assert after["assignee"]["id"] == target.id
            changed = incident.assignee != target.id
            assert [e["kind"] for e in new] == (["assigned"] if changed else [])
            incident.assignee = target.id

        @rule(incident=incidents, who=st.integers(0, 7), data=st.binary(min_size=1, max_size=64))
        def upload(self, incident: Tracked, who: int, data: bytes) -> None:
            user, t = self.users[who]
            as_user = self.api.as_(user)
            announced = as_user.post(
                f"/incidents/{incident.ref}/uploads",
                json={
                    "filename": "../notes\x1b.txt",
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                },
            )
            if not sees(user, t, incident):
                assert announced.status_code == 404, announced.text
                return
            assert announced.status_code == 201, announced.text
            sent = as_user.patch(f"/uploads/{announced.json()['id']}", content=data, headers=OCTETS)
            assert sent.status_code in (200, 201, 204), sent.text
            names = [
                a["filename"] for a in as_user.ok("GET", f"/incidents/{incident.ref}/attachments")
            ]
            assert names and all("/" not in n and "\x1b" not in n for n in names)

        @rule(who=st.integers(0, 7), incident=incidents)
        def read(self, who: int, incident: Tracked) -> None:
            user, t = self.users[who]
            r = self.api.as_(user).get(f"/incidents/{incident.ref}")
            assert r.status_code == (200 if sees(user, t, incident) else 404), r.text
            if r.status_code == 404:
                missing = self.api.as_(user).get(f"/incidents/{self.tenants[t].slug}-999999")
                assert r.json() == missing.json() | {"detail": r.json()["detail"]}

        # --- invariants ---------------------------------------------------------------------

        @invariant()
        def lists_show_only_what_each_person_may_see(self) -> None:
            for user, t in self.users:
                page = self.api.as_(user).ok("GET", "/incidents", params={"limit": 200})
                listed = {item["ref"] for item in page["items"]}
                visible = {ref for ref, i in self.tracked.items() if sees(user, t, i)}
                assert listed == visible, (user.role, user.account_id)

        @invariant()
        def history_only_grows(self) -> None:
            for incident in self.tracked.values():
                events = self.staff_of(incident).ok("GET", f"/incidents/{incident.ref}")["events"]
                assert events[: len(incident.history)] == incident.history
                incident.history = events

        # --- helpers ------------------------------------------------------------------------

        def check_notifications(self, incident: Tracked, actor: User, event_id: int) -> None:
            tenant = self.tenants[incident.tenant]
            members = [u for u in people(tenant) if u.account_id == incident.account]
            affected = {u.id for u in members}
            if actor.role == "client":
                # The staff who follow it: its assignee, or all of them while nobody is.
                staff = {tenant.admin.id, tenant.staff.id}
                affected |= {incident.assignee} if incident.assignee else staff
            elif incident.assignee is not None:
                affected.add(incident.assignee)  # staff acted: the assignee hears of it
            affected.discard(actor.id)
            for user, _t in self.users:
                page = self.api.as_(user).ok("GET", "/notifications", params={"limit": 200})
                count = sum(1 for n in page["items"] if n["event_id"] == event_id)
                assert count == (1 if user.id in affected else 0), (user.role, user.account_id)

    return Walk


def test_random_walks_keep_scope_transitions_notifications_and_history(
    live: LiveServer, slow: bool
) -> None:
    run_state_machine_as_test(
        machine(live),
        settings=settings(
            max_examples=12 if slow else 3,
            stateful_step_count=25 if slow else 10,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )


def test_the_walk_can_find_a_broken_rule(live: LiveServer) -> None:
    """The invariants are not vacuous: a server that lets a client mark an incident done is
    caught (the machine expects 403, because the domain refuses it)."""
    verdict = domain.check_transition(Status.OPEN, Status.DONE, Role.CLIENT, None)
    assert verdict.refused is not None and verdict.refused.code == "forbidden"
    walk = machine(live)()
    try:
        incident = walk.file_incident(2, False)
        client = walk.tenants[incident.tenant].client
        r = walk.api.as_(client).post(f"/incidents/{incident.ref}/status", json={"status": "done"})
        assert r.status_code == 403
        walk.history_only_grows()
        walk.lists_show_only_what_each_person_may_see()
    finally:
        walk.teardown()
