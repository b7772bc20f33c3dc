"""The access matrix: every kind of caller against every operation of the API.

Nothing here is a hand-picked case. The actors, the objects they aim at and the operations are
data; `expected_status` states the authorization rules once, and every actor x operation pair
becomes one test case whose status code is checked against those rules. Whenever the target is
outside the caller's scope, the answer must also be indistinguishable from the answer for an
object that does not exist at all (same status, same body), so scope cannot be probed.

The rules, as the product promises them:

- a client sees and acts only on its own client account's incidents, never sees internal
  notes, may file incidents, comment (not internally) and cancel its account's incidents that
  are not final (with a reason); changing priority, assignee or summary, or moving to any other
  status, answers 403;
- staff and admins see everything in their observatory and may make every transition;
- nobody reaches another observatory's data: out of scope answers 404, like a missing object;
- only admins invite staff or admins, change the observatory's settings and change users;
  staff invite clients and create accounts and telescopes; clients list only their own account,
  telescopes and themselves; staff-only actions on objects a client can see answer 403, on
  objects it cannot see (another account's, any invitation, any other user) 404; creating
  something staff-only answers 403 whatever the body names;
- a user lists and revokes only their own API tokens, and reads, marks read and configures
  only their own notifications: marking someone else's notification read marks nothing,
  exactly like marking an id that does not exist;
- every authenticated user may follow the live stream (`/events`) of their own scope;
  following one incident outside it answers 404, like a missing incident;
- logging in, accepting an invitation and resetting a forgotten password need no credential.

The world (two observatories with their people, accounts, telescopes, incidents, a pending
invitation and a logo each) is built once per module and database; operations that change
something get a fresh object per case. The tests after the matrix read the lists: no row out
of scope, no internal note for a client, in listings, counts, search and histories.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import pytest

from obs_support.server.secrets import new_secret
from tests.support import PASSWORD, Api, LiveServer, Tenant, User, make_tenant, png_bytes

Role = Literal["admin", "staff", "client"]
Need = Literal["anyone", "staff", "admin"]
Kind = Literal["incident", "telescope", "account", "user", "invitation", "token", "notification"]
Key = str | int
Json = dict[str, Any]

MISSING_ID = 2_000_000_000  # a valid id (below 2**31) that no table will reach in a test run
MISSING_NUMBER = 999_999_999
PNG_TYPE = {"Content-Type": "image/png"}
FINAL = ("done", "cancelled")
NEEDS: dict[Need, tuple[Role, ...]] = {
    "anyone": ("admin", "staff", "client"),
    "staff": ("admin", "staff"),
    "admin": ("admin",),
}


# --- who calls --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    name: str
    role: Role | None = None  # None: the request carries no valid credential
    observatory: Literal["home", "other"] | None = None
    account: Literal["A", "B"] | None = None
    credential: Literal["valid", "none", "unknown", "revoked"] = "valid"

    @property
    def is_staff(self) -> bool:
        return self.role in ("admin", "staff")


ACTORS: tuple[Actor, ...] = (
    Actor("admin", "admin", "home"),
    Actor("staff", "staff", "home"),
    Actor("client_own", "client", "home", "A"),
    Actor("client_other_account", "client", "home", "B"),
    Actor("admin_other_tenant", "admin", "other"),
    Actor("staff_other_tenant", "staff", "other"),
    Actor("client_other_tenant", "client", "other", "A"),
    Actor("anonymous", credential="none"),
    Actor("bad_token", credential="unknown"),
    Actor("revoked_token", credential="revoked"),
)
ACTOR = {a.name: a for a in ACTORS}
AUTHENTICATED = tuple(a for a in ACTORS if a.credential == "valid")


# --- what they aim at -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """An object an operation acts on. Every object lives in the home observatory, except the
    caller's own user, tokens and notifications (`mine`) and the collections (`kind` None)."""

    name: str
    kind: Kind | None = None
    account: Literal["A", "B"] | None = None
    status: str = "open"  # incidents only
    mine: bool = False  # the caller's own user, token or notification


NOTHING = Target("collection")
INCIDENT_A = Target("incident_a", "incident", "A")
INCIDENT_B = Target("incident_b", "incident", "B")
INCIDENT_A_DONE = Target("done_incident_a", "incident", "A", status="done")
TELESCOPE_A = Target("telescope_a", "telescope", "A")
TELESCOPE_B = Target("telescope_b", "telescope", "B")
ACCOUNT_A = Target("account_a", "account", "A")
ACCOUNT_B = Target("account_b", "account", "B")
CLIENT_USER_A = Target("client_user_a", "user", "A")
STAFF_USER = Target("staff_user", "user")
SELF = Target("self", "user", mine=True)
INVITATION = Target("invitation", "invitation")
OWN_TOKEN = Target("own_token", "token", mine=True)
OTHER_USERS_TOKEN = Target("other_users_token", "token")
OWN_NOTIFICATION = Target("own_notification", "notification", mine=True)
OTHER_USERS_NOTIFICATION = Target("other_users_notification", "notification")


def sees(actor: Actor, target: Target) -> bool:
    """Whether `target` is inside the caller's scope."""
    if target.kind is None or target.mine:
        return True
    if target.kind in ("token", "notification"):
        return False  # another user's: only its owner may see it, admins included
    if actor.observatory != "home":
        return False
    if actor.is_staff:
        return True
    if target.kind in ("incident", "telescope", "account"):
        return target.account == actor.account
    return False  # clients see no other user and no invitation


# --- what they do -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """Everything a body factory may need to build its request."""

    world: World
    actor: Actor
    target: Target
    key: Key


Body = Callable[[Call], Json]


def _not_found(_actor: Actor) -> int:
    return 404


@dataclass(frozen=True)
class Op:
    verb: str
    method: str
    path: str  # `{key}` is replaced by the target's id or reference
    target: Target = NOTHING
    need: Need = "anyone"
    role_first: bool = False  # the role is checked before the object is looked up
    ok: int = 200
    body: Body | None = None
    fresh: bool = False  # changes its target: give each case its own object
    hidden: Callable[[Actor], int] = _not_found  # the answer for an object out of scope
    outcome: Callable[[Actor], int] | None = None  # the answer once allowed, when not `ok`
    transition: tuple[str, bool] | None = None  # (to status, with a reason)
    bulk: bool = False  # one ref through /incidents/bulk-status: judge the item's result
    upload: Callable[[Call], bytes] | None = None  # a raw PNG body instead of JSON
    query: Body | None = None  # query parameters
    stream: bool = False  # a live stream (text/event-stream): judged by how it opens

    @property
    def name(self) -> str:
        return self.verb if self.target is NOTHING else f"{self.verb}.{self.target.name}"


def transition_outcome(role: Role, current: str, to: str, reason: bool) -> int:
    """The status rules: clients only cancel what is not final; staff make every move."""
    if current == to:
        return 200
    if current in FINAL:
        if to != "open":
            return 409
        if role == "client":
            return 403
        return 200 if reason else 422
    if role == "client" and to != "cancelled":
        return 403
    if to in ("blocked", "cancelled") and not reason:
        return 422
    return 200


def expected_status(actor: Actor, op: Op) -> int:
    """The authorization rules, once: what `actor` must get for `op`."""
    if actor.credential != "valid" or actor.role is None:
        return 401
    allowed = actor.role in NEEDS[op.need]
    if op.role_first and not allowed:
        return 403
    if not sees(actor, op.target):
        return op.hidden(actor)
    if not allowed:
        return 403
    if op.transition is not None:
        return transition_outcome(actor.role, op.target.status, *op.transition)
    if op.outcome is not None:
        return op.outcome(actor)
    return op.ok


def _for_each(
    targets: tuple[Target, ...], verb: str, method: str, path: str, **kw: Any
) -> list[Op]:
    return [Op(verb, method, path, target=t, **kw) for t in targets]


def _status(to: str, reason: str | None) -> Body:
    def body(_call: Call) -> Json:
        return {"status": to} if reason is None else {"status": to, "reason": reason}

    return body


def _bulk(to: str, reason: str | None) -> Body:
    def body(call: Call) -> Json:
        return {"refs": [call.key], **_status(to, reason)(call)}

    return body


def _transition(verb: str, targets: tuple[Target, ...], to: str, reason: str | None) -> list[Op]:
    return _for_each(
        targets,
        verb,
        "POST",
        "/incidents/{key}/status",
        body=_status(to, reason),
        fresh=True,
        transition=(to, reason is not None),
    )


def _bulk_transition(
    verb: str, targets: tuple[Target, ...], to: str, reason: str | None
) -> list[Op]:
    return _for_each(
        targets,
        verb,
        "POST",
        "/incidents/bulk-status",
        body=_bulk(to, reason),
        fresh=True,
        transition=(to, reason is not None),
        bulk=True,
    )


def _new_incident_body() -> Json:
    return {"type": "question", "priority": "low", "message": "Is the dome opening tonight?"}


def _new_incident(_call: Call) -> Json:
    return _new_incident_body()


def _incident_for_account(call: Call) -> Json:
    return {**_new_incident(call), "client_account_id": call.key}


def _incident_on_telescope(call: Call) -> Json:
    body = {**_new_incident(call), "telescope_id": call.key}
    if call.actor.is_staff:  # staff say which account; it is the telescope's, in their own place
        body["client_account_id"] = call.world.account_for(call.actor, call.target)
    return body


def _staff_must_name_the_account(actor: Actor) -> int:
    return 201 if actor.role == "client" else 422


def _account_hidden(actor: Actor) -> int:
    """Staff naming an account they cannot see get 404; clients naming any account but their
    own get 422 — in both cases exactly what a nonexistent account id gets."""
    return 404 if actor.is_staff else 422


def _scope_name() -> str:
    return f"Scope {uuid.uuid4().hex[:10]}"


def _invitation(role: str) -> Body:
    def body(call: Call) -> Json:
        payload: Json = {"email": f"{role}-{uuid.uuid4().hex[:10]}@example.org", "role": role}
        if role == "client":
            payload["client_account_id"] = call.key
        return payload

    return body


OPERATIONS: tuple[Op, ...] = (
    # incidents: reading and writing one
    *_for_each((INCIDENT_A, INCIDENT_B), "read", "GET", "/incidents/{key}"),
    *_for_each(
        (INCIDENT_A, INCIDENT_B),
        "set_priority",
        "PATCH",
        "/incidents/{key}",
        need="staff",
        body=lambda c: {"priority": "high"},
        fresh=True,
    ),
    *_for_each(
        (INCIDENT_A,),
        "set_summary",
        "PATCH",
        "/incidents/{key}",
        need="staff",
        body=lambda c: {"summary": "Renamed by the observatory"},
        fresh=True,
    ),
    *_for_each(
        (INCIDENT_A,),
        "assign",
        "PATCH",
        "/incidents/{key}",
        need="staff",
        body=lambda c: {"assignee_id": c.world.home.staff.id},
        fresh=True,
    ),
    *_for_each(
        (INCIDENT_A, INCIDENT_B),
        "comment",
        "POST",
        "/incidents/{key}/comments",
        ok=201,
        body=lambda c: {"body": "Any news?"},
        fresh=True,
    ),
    *_for_each(
        (INCIDENT_A, INCIDENT_B),
        "internal_note",
        "POST",
        "/incidents/{key}/comments",
        need="staff",
        ok=201,
        body=lambda c: {"body": "Between us: the part is on back order.", "internal": True},
        fresh=True,
    ),
    *_transition("cancel", (INCIDENT_A, INCIDENT_B, INCIDENT_A_DONE), "cancelled", "Not needed"),
    *_transition("cancel_without_reason", (INCIDENT_A,), "cancelled", None),
    *_transition("start", (INCIDENT_A, INCIDENT_B), "in_progress", None),
    *_transition("block", (INCIDENT_A,), "blocked", "Waiting for a part"),
    *_transition("finish", (INCIDENT_A,), "done", None),
    *_transition("reopen", (INCIDENT_A_DONE,), "open", "It broke again"),
    *_transition("reopen_without_reason", (INCIDENT_A_DONE,), "open", None),
    *_bulk_transition("bulk_cancel", (INCIDENT_A, INCIDENT_B), "cancelled", "Not needed"),
    *_bulk_transition("bulk_start", (INCIDENT_A,), "in_progress", None),
    # incidents: filing and listing
    Op(
        "file",
        "POST",
        "/incidents",
        body=_new_incident,
        ok=201,
        outcome=_staff_must_name_the_account,
    ),
    *_for_each(
        (ACCOUNT_A, ACCOUNT_B),
        "file_for",
        "POST",
        "/incidents",
        body=_incident_for_account,
        ok=201,
        hidden=_account_hidden,
    ),
    *_for_each(
        (TELESCOPE_A, TELESCOPE_B),
        "file_on",
        "POST",
        "/incidents",
        body=_incident_on_telescope,
        ok=201,
        hidden=lambda a: 422,
    ),
    Op("list_incidents", "GET", "/incidents"),
    Op("count_incidents", "GET", "/incidents/counts"),
    Op("incident_stats", "GET", "/incidents/stats"),
    # attachments on an incident
    *_for_each(
        (INCIDENT_A, INCIDENT_B),
        "announce_upload",
        "POST",
        "/incidents/{key}/uploads",
        body=lambda c: {"filename": "mount.jpg", "size": 10},
        ok=201,
    ),
    *_for_each((INCIDENT_A, INCIDENT_B), "list_attachments", "GET", "/incidents/{key}/attachments"),
    # the observatory
    Op("read_observatory", "GET", "/observatory"),
    Op("read_logo", "GET", "/observatory/logo"),
    Op(
        "upload_logo",
        "PUT",
        "/observatory/logo",
        need="admin",
        role_first=True,
        upload=lambda c: c.world.logos[c.world.tenant(c.actor).slug],  # the one it has already
    ),
    Op(
        "update_observatory",
        "PATCH",
        "/observatory",
        need="admin",
        role_first=True,
        body=lambda c: {"accent_color": "#1f6feb"},  # the default: changes nothing
    ),
    # client accounts
    Op("list_accounts", "GET", "/accounts"),
    Op(
        "create_account",
        "POST",
        "/accounts",
        need="staff",
        role_first=True,
        ok=201,
        body=lambda c: {"name": f"Account {uuid.uuid4().hex[:10]}"},
    ),
    *_for_each(
        (ACCOUNT_A, ACCOUNT_B),
        "rename",
        "PATCH",
        "/accounts/{key}",
        need="staff",
        body=lambda c: {"name": c.world.account_names.get(int(c.key), "Account A")},  # no change
    ),
    # telescopes
    Op("list_telescopes", "GET", "/telescopes"),
    *_for_each(
        (ACCOUNT_A, ACCOUNT_B),
        "create_telescope_in",
        "POST",
        "/telescopes",
        need="staff",
        role_first=True,
        ok=201,
        body=lambda c: {"client_account_id": c.key, "name": _scope_name()},
        hidden=lambda a: 422,
    ),
    *_for_each(
        (TELESCOPE_A, TELESCOPE_B),
        "update",
        "PATCH",
        "/telescopes/{key}",
        need="staff",
        body=lambda c: {"location": "Dome 3", "mount": "EQ8"},
        fresh=True,
    ),
    # users
    Op("list_users", "GET", "/users"),
    *_for_each(
        (CLIENT_USER_A, STAFF_USER),
        "rename",
        "PATCH",
        "/users/{key}",
        need="admin",
        body=lambda c: {"display_name": "Renamed Person"},
        fresh=True,
    ),
    *_for_each(
        (SELF,),
        "reactivate",
        "PATCH",
        "/users/{key}",
        need="admin",
        body=lambda c: {"active": True},
    ),
    *_for_each(
        (SELF,),
        "deactivate",
        "PATCH",
        "/users/{key}",
        need="admin",
        body=lambda c: {"active": False},
        outcome=lambda a: 409,  # nobody may deactivate themselves
    ),
    Op("read_me", "GET", "/me"),
    Op("update_me", "PATCH", "/me", body=lambda c: {"language": "es"}),
    # API tokens
    Op("list_tokens", "GET", "/tokens"),
    Op("create_token", "POST", "/tokens", ok=201, body=lambda c: {"name": "another laptop"}),
    *_for_each(
        (OWN_TOKEN, OTHER_USERS_TOKEN), "revoke", "DELETE", "/tokens/{key}", ok=204, fresh=True
    ),
    # invitations
    Op("list_invitations", "GET", "/invitations", need="staff", role_first=True),
    *_for_each(
        (ACCOUNT_A, ACCOUNT_B),
        "invite_client_to",
        "POST",
        "/invitations",
        need="staff",
        role_first=True,
        ok=201,
        body=_invitation("client"),
    ),
    Op(
        "invite_staff",
        "POST",
        "/invitations",
        need="admin",
        role_first=True,
        ok=201,
        body=_invitation("staff"),
    ),
    Op(
        "invite_admin",
        "POST",
        "/invitations",
        need="admin",
        role_first=True,
        ok=201,
        body=_invitation("admin"),
    ),
    *_for_each(
        (INVITATION,),
        "revoke",
        "DELETE",
        "/invitations/{key}",
        need="staff",  # an object like any other: clients see no invitation, so 404
        ok=204,
        fresh=True,
    ),
    # notifications: everyone has their own, and only those
    Op("list_notifications", "GET", "/notifications"),
    *_for_each(
        (OWN_NOTIFICATION, OTHER_USERS_NOTIFICATION),
        "mark_read",
        "POST",
        "/notifications/read",
        body=lambda c: {"ids": [c.key]},
        fresh=True,
        hidden=lambda a: 200,  # marks nothing: the same answer as for an id that does not exist
    ),
    Op("mark_all_read", "POST", "/notifications/read", body=lambda c: {"all": True}),
    Op("read_notification_settings", "GET", "/notifications/settings"),
    Op(
        "update_notification_settings",
        "PATCH",
        "/notifications/settings",
        body=lambda c: {"email": {"new_incident": True}},  # the default: changes nothing
    ),
    # the live stream
    Op("follow_events", "GET", "/events", stream=True),
    *_for_each(
        (INCIDENT_A, INCIDENT_B),
        "follow_events_of",
        "GET",
        "/events",
        query=lambda c: {"incident": c.key},
        stream=True,
    ),
)


# --- the world --------------------------------------------------------------------------------


@dataclass
class World:
    """Two observatories: `home`, where every target lives, and `other`, a stranger to it."""

    server: LiveServer
    home: Tenant
    other: Tenant
    bystander: User  # a client of home's account A who is none of the actors
    users: dict[str, User]  # authenticated actor name -> user
    credentials: dict[str, str | None]  # actor name -> the token it sends, if any
    incidents: dict[str, str]  # the shared (never changed) incident of each incident target
    words: dict[str, str]  # unique words planted in comments and internal notes
    account_names: dict[int, str] = field(default_factory=dict)
    logos: dict[str, bytes] = field(default_factory=dict)  # observatory slug -> its logo
    _clients: dict[str | None, Api] = field(default_factory=dict)

    def as_(self, who: User | str | None) -> Api:
        """An API client sending `who`'s token (None: no token), kept open for the module."""
        token = who.token if isinstance(who, User) else who
        if token not in self._clients:
            self._clients[token] = Api(self.server.url, token)
        return self._clients[token]

    def caller(self, actor: Actor) -> Api:
        return self.as_(self.credentials[actor.name])

    def close(self) -> None:
        for client in self._clients.values():
            client.http.close()

    def tenant(self, actor: Actor) -> Tenant:
        return self.home if actor.observatory == "home" else self.other

    def stranger(self, actor: Actor) -> Tenant:
        return self.other if actor.observatory == "home" else self.home

    def account_id(self, letter: str | None, tenant: Tenant | None = None) -> int:
        tenant = tenant or self.home
        return tenant.account_a if letter == "A" else tenant.account_b

    def account_for(self, actor: Actor, target: Target) -> int:
        return self.account_id(target.account, self.tenant(actor))

    def key(self, target: Target, actor: Actor, fresh: bool) -> Key:
        """The id (or reference) of `target`: a new object when the operation changes it."""
        me = self.users.get(actor.name, self.bystander)
        match target.kind:
            case None:
                return ""
            case "incident" if fresh:
                return self.new_incident(target)
            case "incident":
                return self.incidents[target.name]
            case "telescope" if fresh:
                body = {"client_account_id": self.account_id(target.account), "name": _scope_name()}
                return int(self.as_(self.home.admin).ok("POST", "/telescopes", json=body)["id"])
            case "telescope":
                return self.home.telescopes[self.account_id(target.account)][0]
            case "account":
                return self.account_id(target.account)
            case "user" if target.mine:
                return me.id
            case "user" if fresh:
                account = self.account_id(target.account) if target.account else None
                return self.new_user("client" if account else "staff", account).id
            case "user":
                return self.bystander.id if target.account else self.home.staff.id
            case "invitation":
                return int(self.invite("staff")["id"])
            case "token":
                owner = me if target.mine else self.bystander
                issued = self.as_(owner).ok("POST", "/tokens", json={"name": "spare"})
                return int(issued["token_info"]["id"])
            case "notification" if target.mine and actor.name in self.users:
                return self.new_notification(me, self.tenant(actor))
            case "notification":
                return self.new_notification(self.bystander, self.home)
        raise AssertionError(target)

    def missing_key(self, target: Target) -> Key:
        """The key of an object of the same kind that does not exist anywhere."""
        if target.kind == "incident":
            return f"{self.home.slug}-{MISSING_NUMBER}"
        return MISSING_ID

    def new_incident(self, target: Target) -> str:
        admin = self.as_(self.home.admin)
        body = {
            "type": "repair",
            "priority": "medium",
            "message": "The focuser is stuck.",
            "client_account_id": self.account_id(target.account),
        }
        ref = str(admin.ok("POST", "/incidents", json=body, expect=201)["ref"])
        if target.status != "open":
            admin.ok("POST", f"/incidents/{ref}/status", json={"status": target.status})
        return ref

    def new_notification(self, owner: User, tenant: Tenant) -> int:
        """A new unread notification of `owner`'s: a staff reply on their account's incident
        for a client, a client's new incident for staff."""
        if owner.role == "client":
            body = {**_new_incident_body(), "client_account_id": owner.account_id}
            ref = self.as_(tenant.admin).ok("POST", "/incidents", json=body, expect=201)["ref"]
            reply = {"body": "We are on our way."}
            self.as_(tenant.staff).ok("POST", f"/incidents/{ref}/comments", json=reply, expect=201)
        else:
            filed = _new_incident_body()
            ref = self.as_(tenant.client).ok("POST", "/incidents", json=filed, expect=201)["ref"]
        newest = self.as_(owner).ok("GET", "/notifications", params={"limit": 1})["items"][0]
        assert newest["incident"] == ref and newest["read_at"] is None, newest
        return int(newest["id"])

    def invite(self, role: str, account: int | None = None, by: User | None = None) -> Json:
        """A pending invitation, sent by `by` (home's admin unless said otherwise)."""
        body: Json = {"email": f"{role}-{uuid.uuid4().hex[:10]}@example.org", "role": role}
        if account is not None:
            body["client_account_id"] = account
        issued: Json = self.as_(by or self.home.admin).ok(
            "POST", "/invitations", json=body, expect=201
        )
        return issued

    def new_user(self, role: str, account: int | None) -> User:
        invitation = self.invite(role, account)
        accepted = self.as_(None).ok(
            "POST",
            "/invitations/accept",
            json={
                "token": invitation["token"],
                "display_name": "Fresh Person",
                "password": PASSWORD,
            },
        )
        return User(accepted["user"]["id"], invitation["email"], accepted["token"], role, account)

    def send(self, actor: Actor, op: Op, key: Key) -> httpx.Response:
        call = Call(self, actor, op.target, key)
        path, client = op.path.format(key=key), self.caller(actor).http
        params = op.query(call) if op.query else None
        if op.stream:
            return _stream_opening(client, path, params)
        if op.upload is not None:
            return client.request(op.method, path, content=op.upload(call), headers=PNG_TYPE)
        return client.request(
            op.method, path, json=op.body(call) if op.body else None, params=params
        )


def _stream_opening(client: httpx.Client, path: str, params: Json | None) -> httpx.Response:
    """Open a live stream and keep what judges it: the status and headers, and the problem
    body or the first message (`ready`); then hang up."""
    with client.stream("GET", path, params=params, timeout=httpx.Timeout(10.0)) as response:
        if response.status_code == 200:
            lines = []
            for line in response.iter_lines():
                if not line:
                    break
                lines.append(line)
            content = "\n".join(lines).encode() + b"\n\n"
        else:
            content = response.read()
    headers = {k: v for k, v in response.headers.items() if k.lower() != "transfer-encoding"}
    return httpx.Response(
        response.status_code, headers=headers, content=content, request=response.request
    )


def _plant(world: World, tenant: Tenant) -> dict[str, str]:
    """Shared incidents in both accounts, each with a public comment and an internal note,
    a final one, a pending invitation and a logo."""
    refs = {}
    staff = world.as_(tenant.staff)
    for target, client in ((INCIDENT_A, tenant.client), (INCIDENT_B, tenant.client_b)):
        public = world.words[f"{tenant.slug}:public:{target.account}"]
        internal = world.words[f"{tenant.slug}:internal:{target.account}"]
        filed = {"type": "repair", "priority": "medium", "message": f"The {public} is stuck."}
        ref = str(world.as_(client).ok("POST", "/incidents", json=filed, expect=201)["ref"])
        note = {"body": f"Supplier for {internal} is late.", "internal": True}
        staff.ok("POST", f"/incidents/{ref}/comments", json=note, expect=201)
        refs[target.name] = ref
    done = {
        "type": "visit",
        "priority": "low",
        "message": "A visit.",
        "client_account_id": tenant.account_a,
    }
    ref = str(staff.ok("POST", "/incidents", json=done, expect=201)["ref"])
    staff.ok("POST", f"/incidents/{ref}/status", json={"status": "done"})
    refs[INCIDENT_A_DONE.name] = ref
    world.invite("client", tenant.account_b, by=tenant.admin)  # one pending, in each observatory
    logo = world.logos[tenant.slug] = png_bytes(note=f"logo of {tenant.slug}")  # must decode
    world.as_(tenant.admin).ok("PUT", "/observatory/logo", content=logo, headers=PNG_TYPE)
    return refs


@pytest.fixture(scope="module")
def world(server: LiveServer) -> Iterator[World]:
    with Api(server.url) as api:
        home, other = make_tenant(server, api), make_tenant(server, api)
    users = {
        "admin": home.admin,
        "staff": home.staff,
        "client_own": home.client,
        "client_other_account": home.client_b,
        "admin_other_tenant": other.admin,
        "staff_other_tenant": other.staff,
        "client_other_tenant": other.client,
    }
    words = {
        f"{t.slug}:{what}:{letter}": f"w{uuid.uuid4().hex[:12]}"
        for t in (home, other)
        for what in ("public", "internal")
        for letter in "AB"
    }
    credentials: dict[str, str | None] = {name: user.token for name, user in users.items()}
    world = World(server, home, other, home.client, users, credentials, {}, words)
    try:
        world.bystander = world.new_user("client", home.account_a)
        revoked = world.as_(world.bystander).ok("POST", "/tokens", json={"name": "old"})
        world.as_(world.bystander).ok(
            "DELETE", f"/tokens/{revoked['token_info']['id']}", expect=204
        )
        credentials |= {
            "anonymous": None,
            "bad_token": new_secret(),
            "revoked_token": revoked["token"],
        }
        world.incidents = _plant(world, home)
        _plant(world, other)
        for tenant in (home, other):
            for account in world.as_(tenant.admin).ok("GET", "/accounts"):
                world.account_names[account["id"]] = account["name"]
        yield world
    finally:
        world.close()


# --- the matrix -------------------------------------------------------------------------------


def observed(op: Op, response: httpx.Response) -> tuple[int, Json | None]:
    """The status to judge, and the body to compare with a nonexistent object's.

    A bulk status change answers 200 and reports each ref's result: that result is judged
    as the status the same change would get on its own."""
    body = response.json() if "json" in response.headers.get("content-type", "") else None
    if not op.bulk or response.status_code != 200:
        return response.status_code, body
    assert body is not None and len(body["results"]) == 1, response.text
    item = {k: v for k, v in body["results"][0].items() if k != "ref"}
    if item["result"] in ("changed", "unchanged"):
        return 200, item
    if item["result"] == "not_found":
        return 404, item
    refused = {"forbidden": 403, "transition_not_allowed": 409, "reason_required": 422}
    return refused[item["code"]], item


def _without_key(body: Json | None, key: Key) -> Json | None:
    """A problem body, minus its detail if the detail names the id asked for."""
    if body is None or str(key) not in str(body.get("detail", "")):
        return body
    return {k: v for k, v in body.items() if k != "detail"}


PROBLEM_CODES = {
    "none": {401: "unauthenticated"},
    "unknown": {401: "invalid_token"},
    "revoked": {401: "invalid_token"},
    "valid": {403: "forbidden", 404: "not_found"},
}

CASES = [pytest.param(a, op, id=f"{a.name}:{op.name}") for op in OPERATIONS for a in ACTORS]


@pytest.mark.parametrize(("actor", "op"), CASES)
def test_access(world: World, actor: Actor, op: Op) -> None:
    # Without a credential nothing can change, so those cases may share the world's objects.
    key = world.key(op.target, actor, op.fresh and actor.credential == "valid")
    response = world.send(actor, op, key)
    want = expected_status(actor, op)
    got, body = observed(op, response)
    where = f"{op.method} {op.path.format(key=key)} as {actor.name}"
    assert got == want, f"{where}: expected {want}, got {response.status_code} {response.text}"
    code = PROBLEM_CODES[actor.credential].get(want)
    if code is not None and body is not None:
        assert body.get("code") == code, f"{where}: {response.text}"
    if actor.role == "client" and response.is_success and body and "events" in body:
        assert [e for e in body["events"] if e["internal"]] == [], f"{where}: {response.text}"
    if op.stream and response.status_code == 200:
        assert response.headers["content-type"].startswith("text/event-stream"), where
        assert "event: ready" in response.text, f"{where}: {response.text}"
    if actor.credential == "valid" and not sees(actor, op.target):
        missing = world.missing_key(op.target)
        baseline = world.send(actor, op, missing)
        got_missing, body_missing = observed(op, baseline)
        assert (got_missing, _without_key(body_missing, missing)) == (
            got,
            _without_key(body, key),
        ), f"{where}: out of scope must look like missing; missing answered {baseline.text}"


def test_the_matrix_covers_every_route(world: World) -> None:
    """A new endpoint must join the matrix: every route of the API has an operation."""
    spec = world.as_(None).ok("GET", "/openapi.json")
    routes = {
        (method.upper(), re.sub(r"\{[^}]+\}", "{key}", path.removeprefix("/api/v1")))
        for path, item in spec["paths"].items()
        for method in item
    }
    # Need no credential; test_public_routes_answer_everyone_alike covers forgot and reset.
    public = {
        ("POST", "/auth/login"),
        ("POST", "/invitations/accept"),
        ("POST", "/auth/forgot"),
        ("POST", "/auth/reset"),
    }
    # Routes keyed by an attachment or an upload (two ids, or an id only the uploader holds)
    # have their scope tested case by case in tests/test_attachments.py
    # (test_attachments_and_uploads_stay_within_their_scope: other accounts, observatories
    # and users all get 404).
    elsewhere = {
        ("GET", "/incidents/{key}/attachments/{key}"),
        ("GET", "/incidents/{key}/attachments/{key}/thumbnail"),
        ("GET", "/uploads/{key}"),
        ("HEAD", "/uploads/{key}"),
        ("PATCH", "/uploads/{key}"),
        ("DELETE", "/uploads/{key}"),
    }
    assert routes - public - elsewhere == {(op.method, op.path) for op in OPERATIONS}


# --- lists: never a row out of scope, never an internal note for a client ---------------------


def _all_incidents(api: Api, **params: Any) -> list[Json]:
    items: list[Json] = []
    cursor = None
    while True:
        query = {**params, "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = api.ok("GET", "/incidents", params=query)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def _actor_ids() -> list[Any]:
    return [pytest.param(a, id=a.name) for a in AUTHENTICATED]


@pytest.mark.parametrize("actor", _actor_ids())
def test_incident_list_and_counts_stay_in_scope(world: World, actor: Actor) -> None:
    caller = world.caller(actor)
    tenant = world.tenant(actor)
    listed = _all_incidents(caller)
    assert {i["ref"].rsplit("-", 1)[0] for i in listed} <= {tenant.slug}
    refs = {i["ref"] for i in listed}
    for target in (INCIDENT_A, INCIDENT_B, INCIDENT_A_DONE):
        assert (world.incidents[target.name] in refs) == sees(actor, target), target.name

    counts = caller.ok("GET", "/incidents/counts")
    tally = Counter(i["status"] for i in listed)
    assert counts["counts"] == {s: tally.get(s, 0) for s in counts["counts"]}
    assert counts["total"] == len(listed)
    if not actor.is_staff:  # exactly what staff see for the account: no more, no less
        own = world.account_id(actor.account, tenant)
        assert {i["client_account"]["id"] for i in listed} <= {own}
        staff_view = _all_incidents(world.as_(tenant.staff), client_account=own)
        assert sorted(refs) == sorted(i["ref"] for i in staff_view)
        foreign = world.account_id("B" if actor.account == "A" else "A", tenant)
        assert _all_incidents(caller, client_account=foreign) == []
        for telescope in tenant.telescopes[foreign]:
            assert _all_incidents(caller, telescope=telescope) == []


@pytest.mark.parametrize("actor", _actor_ids())
def test_search_never_matches_what_the_caller_cannot_read(world: World, actor: Actor) -> None:
    """`q` finds a word only where the caller may read it: never in an internal note for a
    client, never in another account's or another observatory's incidents."""
    caller = world.caller(actor)
    for tenant in (world.home, world.other):
        for letter in ("A", "B"):
            in_scope = tenant is world.tenant(actor) and (actor.is_staff or actor.account == letter)
            for what in ("public", "internal"):
                word = world.words[f"{tenant.slug}:{what}:{letter}"]
                found = _all_incidents(caller, q=word.upper())
                readable = in_scope and (what == "public" or actor.is_staff)
                assert len(found) == (1 if readable else 0), (what, letter, tenant.slug, found)
                if found:
                    assert found[0]["client_account"]["id"] == world.account_id(letter, tenant)


@pytest.mark.parametrize("actor", _actor_ids())
def test_incident_history_hides_internal_notes_from_clients(world: World, actor: Actor) -> None:
    caller = world.caller(actor)
    for target in (INCIDENT_A, INCIDENT_B):
        response = caller.get(f"/incidents/{world.incidents[target.name]}")
        if not sees(actor, target):
            assert response.status_code == 404
            continue
        events = response.json()["events"]
        notes = [e for e in events if e["internal"]]
        word = world.words[f"{world.home.slug}:internal:{target.account}"]
        if actor.is_staff:
            assert len(notes) == 1 and word in notes[0]["body"]
        else:
            assert notes == []
            assert word not in response.text


def test_a_clients_own_writes_answer_without_internal_notes(world: World) -> None:
    """The detail returned after a client's comment or cancellation hides internal notes too."""
    staff, client = world.as_(world.home.staff), world.caller(ACTOR["client_own"])
    ref = world.new_incident(INCIDENT_A)
    secret = f"w{uuid.uuid4().hex[:12]}"
    staff.ok("POST", f"/incidents/{ref}/comments", json={"body": secret, "internal": True})
    client.ok("POST", f"/incidents/{ref}/comments", json={"body": "Thanks"}, expect=201)
    cancelled = client.post(f"/incidents/{ref}/status", json={"status": "cancelled", "reason": "x"})
    assert cancelled.status_code == 200, cancelled.text
    assert secret not in cancelled.text
    assert [e for e in cancelled.json()["events"] if e["internal"]] == []
    assert cancelled.json()["allowed_statuses"] == []
    reopened = staff.ok("POST", f"/incidents/{ref}/status", json={"status": "open", "reason": "y"})
    assert secret in str(reopened["events"])


@pytest.mark.parametrize("actor", _actor_ids())
def test_directory_lists_stay_in_scope(world: World, actor: Actor) -> None:
    caller, me = world.caller(actor), world.users[actor.name]
    mine, theirs = world.tenant(actor), world.stranger(actor)
    own = world.account_id(actor.account, mine) if actor.account else None

    logo = caller.get("/observatory/logo")
    assert logo.status_code == 200 and logo.content == world.logos[mine.slug]
    assert caller.ok("GET", "/observatory")["slug"] == mine.slug

    accounts = {a["id"] for a in caller.ok("GET", "/accounts")}
    telescopes = caller.ok("GET", "/telescopes")
    users = caller.ok("GET", "/users")
    their_accounts = {theirs.account_a, theirs.account_b}
    assert accounts.isdisjoint(their_accounts)
    assert {t["id"] for t in telescopes}.isdisjoint(
        {t for ids in theirs.telescopes.values() for t in ids}
    )
    their_people = {u["id"] for u in world.as_(theirs.admin).ok("GET", "/users")}
    assert {u["id"] for u in users}.isdisjoint(their_people)

    if actor.is_staff:
        assert {mine.account_a, mine.account_b} <= accounts
        assert set(mine.telescopes[mine.account_a] + mine.telescopes[mine.account_b]) <= {
            t["id"] for t in telescopes
        }
        assert {mine.admin.id, mine.staff.id, mine.client.id, mine.client_b.id} <= {
            u["id"] for u in users
        }
        invitations = {i["id"] for i in caller.ok("GET", "/invitations")}
        their_invitations = {i["id"] for i in world.as_(theirs.admin).ok("GET", "/invitations")}
        assert invitations and invitations.isdisjoint(their_invitations)
    else:
        assert accounts == {own}
        assert {t["client_account_id"] for t in telescopes} == {own}
        assert own is not None and set(mine.telescopes[own]) <= {t["id"] for t in telescopes}
        assert [u["id"] for u in users] == [me.id]
        for account in (mine.account_a, mine.account_b):
            assert [
                u["id"] for u in caller.ok("GET", "/users", params={"client_account": account})
            ] == ([me.id] if account == own else [])
            listed = caller.ok("GET", "/telescopes", params={"client_account": account})
            assert bool(listed) == (account == own)
        assert caller.get("/invitations").status_code == 403


def test_tokens_are_listed_only_to_their_owner(world: World) -> None:
    seen: dict[str, set[int]] = {}
    for actor in AUTHENTICATED:
        seen[actor.name] = {t["id"] for t in world.caller(actor).ok("GET", "/tokens")}
        assert seen[actor.name], actor.name  # every actor has at least the token it calls with
    bystanders = {t["id"] for t in world.as_(world.bystander).ok("GET", "/tokens")}
    names = list(seen)
    for i, name in enumerate(names):
        assert seen[name].isdisjoint(bystanders), name
        for other in names[i + 1 :]:
            assert seen[name].isdisjoint(seen[other]), (name, other)


@pytest.mark.parametrize("actor", _actor_ids())
def test_notifications_belong_to_their_owner(world: World, actor: Actor) -> None:
    """Only the caller's own notifications are listed, marked read (one by one or all) and
    configured; another user's stay as they were."""
    caller, me, tenant = world.caller(actor), world.users[actor.name], world.tenant(actor)
    mine = world.new_notification(me, tenant)
    theirs = world.new_notification(world.bystander, world.home)
    bystander = world.as_(world.bystander)

    def unread(api: Api, notification: int) -> bool:
        items = api.ok("GET", "/notifications", params={"limit": 200})["items"]
        found = [n for n in items if n["id"] == notification]
        assert len(found) == 1, notification
        return bool(found[0]["read_at"] is None)

    listed = {n["id"] for n in caller.ok("GET", "/notifications", params={"limit": 200})["items"]}
    their_list = {
        n["id"] for n in bystander.ok("GET", "/notifications", params={"limit": 200})["items"]
    }
    assert mine in listed and theirs not in listed
    assert listed.isdisjoint(their_list)

    assert caller.ok("POST", "/notifications/read", json={"ids": [theirs]})["marked"] == 0
    assert caller.ok("POST", "/notifications/read", json={"ids": [theirs, mine]})["marked"] == 1
    assert not unread(caller, mine)
    world.new_notification(me, tenant)
    assert caller.ok("POST", "/notifications/read", json={"all": True})["unread"] == 0
    assert unread(bystander, theirs)

    before = bystander.ok("GET", "/notifications/settings")
    changed = caller.ok(
        "PATCH", "/notifications/settings", json={"email": {"status_changed": False}}
    )
    try:
        assert changed["email"]["status_changed"] is False
        assert bystander.ok("GET", "/notifications/settings") == before
    finally:
        caller.ok("PATCH", "/notifications/settings", json={"email": {"status_changed": True}})


def _replay(api: Api, params: Json, until: int) -> tuple[int, list[int], str]:
    """Follow the live stream with `params` and gather event ids up to `until`: the status,
    the ids, and the whole text read (or the problem body)."""
    ids: list[int] = []
    text = ""
    with api.http.stream("GET", "/events", params=params, timeout=httpx.Timeout(10.0)) as stream:
        if stream.status_code != 200:
            return stream.status_code, [], stream.read().decode()
        event, ident = "", 0
        for line in stream.iter_lines():
            text += line + "\n"
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("id: "):
                ident = int(line.removeprefix("id: "))
            elif not line and event and event != "ready":
                ids.append(ident)
                if ident >= until:
                    break
    return 200, ids, text


@pytest.mark.parametrize("actor", _actor_ids())
def test_the_live_stream_replays_only_what_the_caller_may_read(world: World, actor: Actor) -> None:
    caller = world.caller(actor)
    ref = world.new_incident(INCIDENT_A)
    staff = world.as_(world.home.staff)
    secret = f"w{uuid.uuid4().hex[:12]}"
    staff.ok("POST", f"/incidents/{ref}/comments", json={"body": secret, "internal": True})
    last = staff.ok("POST", f"/incidents/{ref}/comments", json={"body": "Done"}, expect=201)["id"]
    status, ids, text = _replay(caller, {"incident": ref, "last_event_id": 0}, last)
    if not sees(actor, INCIDENT_A):
        missing = f"{world.home.slug}-{MISSING_NUMBER}"
        assert (status, text) == _replay(caller, {"incident": missing}, last)[::2]
        assert status == 404
        return
    assert status == 200, text
    assert ids == [e["id"] for e in caller.ok("GET", f"/incidents/{ref}")["events"]]
    assert (secret in text) == actor.is_staff


def test_public_routes_answer_everyone_alike(world: World) -> None:
    """Asking for a reset link and using one need no credential, and whatever credential
    comes along changes nothing: the same answer for a known and an unknown address."""
    home = world.home
    # Known addresses take turns: each person may be sent only a few reset links per window.
    people = [home.admin, home.staff, home.client, home.client_b]
    bogus = {"token": f"obsrst_{uuid.uuid4().hex}", "password": PASSWORD}
    for n, actor in enumerate(ACTORS):
        known = {"email": people[n % len(people)].email, "observatory": home.slug}
        unknown = {"email": f"nobody-{uuid.uuid4().hex[:8]}@example.org", "observatory": home.slug}
        caller = world.caller(actor)
        asked = [caller.post("/auth/forgot", json=body) for body in (known, unknown)]
        assert [r.status_code for r in asked] == [202, 202], actor.name
        assert asked[0].json() == asked[1].json(), actor.name
        reset = caller.post("/auth/reset", json=bogus)
        assert (reset.status_code, reset.json()["code"]) == (401, "invalid_reset"), actor.name


# Outside the API and its OpenAPI document, so not in the route list above: the probes a proxy
# or a supervisor calls, and the metrics a monitoring system scrapes (tests/test_operations.py
# tests what they say; here, who may call them and what they never show).
OPERATIONAL = ("/healthz", "/readyz", "/metrics")


def test_operational_endpoints_answer_everyone_alike_and_show_no_tenant_data(
    world: World,
) -> None:
    """No credential needed, and any credential changes nothing; no body names a tenant."""
    tenant_data = [
        world.home.slug,
        world.other.slug,
        *world.incidents.values(),
        *world.words.values(),
        *(u.email for u in (world.home.admin, world.home.client, world.other.client)),
    ]
    for path in OPERATIONAL:
        answers = set()
        for actor in ACTORS:
            token = world.credentials[actor.name]
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = httpx.get(f"{world.server.url}{path}", headers=headers, timeout=30)
            answers.add(response.status_code)
            leaked = [word for word in tenant_data if word in response.text]
            assert not leaked, f"{path} as {actor.name} shows {leaked}"
        assert answers == {200}, f"{path}: {answers}"


# --- references to the other observatory, in bodies and filters, look like missing ids ------


@dataclass(frozen=True)
class Reference:
    """A request by home's admin that names one of the other observatory's objects."""

    name: str
    stranger: Callable[[World], int]  # the id of the other observatory's object
    send: Callable[[World, int], httpx.Response]
    listing: bool = False  # a filtered list: answers 200 with nothing, never an error


def _as_admin(world: World, method: str, path: str, **kw: Any) -> httpx.Response:
    return world.as_(world.home.admin).http.request(method, path, **kw)


def _their_telescope(world: World) -> int:
    return world.other.telescopes[world.other.account_a][0]


def _their_account(world: World) -> int:
    return world.other.account_a


def _their_staff(world: World) -> int:
    return world.other.staff.id


def _filtered(path: str, param: str) -> Callable[[World, int], httpx.Response]:
    """A listing filtered by an id: a filter on something out of scope matches nothing."""

    def send(world: World, value: int) -> httpx.Response:
        return _as_admin(world, "GET", path, params={param: value})

    return send


REFERENCES = (
    Reference(
        "assign_to_their_staff",
        _their_staff,
        lambda w, i: _as_admin(
            w, "PATCH", f"/incidents/{w.new_incident(INCIDENT_A)}", json={"assignee_id": i}
        ),
    ),
    Reference(
        "file_for_their_account",
        _their_account,
        lambda w, i: _as_admin(
            w, "POST", "/incidents", json={**_new_incident_body(), "client_account_id": i}
        ),
    ),
    Reference(
        "file_on_their_telescope",
        _their_telescope,
        lambda w, i: _as_admin(
            w,
            "POST",
            "/incidents",
            json={**_new_incident_body(), "client_account_id": w.home.account_a, "telescope_id": i},
        ),
    ),
    Reference(
        "invite_into_their_account",
        _their_account,
        lambda w, i: _as_admin(
            w,
            "POST",
            "/invitations",
            json={
                "email": f"c-{uuid.uuid4().hex[:10]}@example.org",
                "role": "client",
                "client_account_id": i,
            },
        ),
    ),
    Reference(
        "telescope_in_their_account",
        _their_account,
        lambda w, i: _as_admin(
            w, "POST", "/telescopes", json={"client_account_id": i, "name": _scope_name()}
        ),
    ),
    *(
        Reference(f"{path[1:]}_by_their_{what}", stranger, _filtered(path, param), listing=True)
        for path, param, what, stranger in (
            ("/incidents", "client_account", "account", _their_account),
            ("/incidents", "telescope", "telescope", _their_telescope),
            ("/incidents", "assignee", "staff", _their_staff),
            ("/users", "client_account", "account", _their_account),
            ("/telescopes", "client_account", "account", _their_account),
        )
    ),
)


@pytest.mark.parametrize("ref", [pytest.param(r, id=r.name) for r in REFERENCES])
def test_references_to_another_observatory_look_missing(world: World, ref: Reference) -> None:
    theirs = ref.send(world, ref.stranger(world))
    missing = ref.send(world, MISSING_ID)
    assert (theirs.status_code, theirs.json()) == (missing.status_code, missing.json())
    if ref.listing:
        assert theirs.status_code == 200 and theirs.json() in (
            [],
            {"items": [], "next_cursor": None},
        )
    else:
        assert theirs.status_code in (404, 422), theirs.text


def test_a_deactivated_user_reaches_nothing(world: World) -> None:
    person = world.new_user("client", world.home.account_a)
    admin = world.as_(world.home.admin)
    assert world.as_(person).get("/me").status_code == 200
    admin.ok("PATCH", f"/users/{person.id}", json={"active": False})
    for path in ("/me", "/incidents", f"/incidents/{world.incidents[INCIDENT_A.name]}"):
        response = world.as_(person).get(path)
        assert response.status_code == 401 and response.json()["code"] == "invalid_token", path
    admin.ok("PATCH", f"/users/{person.id}", json={"active": True})
    assert world.as_(person).get("/me").status_code == 200
