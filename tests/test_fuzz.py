"""Hostile input: no body, header or query string, however malformed, gets a 500."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import Api, Tenant

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
fields = st.sampled_from(
    [
        "type",
        "priority",
        "message",
        "summary",
        "telescope_id",
        "telescope",
        "visit_date",
        "client_account_id",
        "source",
        "status",
        "reason",
        "body",
        "internal",
        "assignee_id",
        "unassign",
        "refs",
        "dry_run",
        "name",
        "email",
        "role",
        "password",
        "token",
        "cursor",
    ]
)
bodies = st.dictionaries(fields, json_values, max_size=6) | json_values
PATHS = [
    ("POST", "/incidents"),
    ("POST", "/incidents/{ref}/comments"),
    ("POST", "/incidents/{ref}/status"),
    ("PATCH", "/incidents/{ref}"),
    ("POST", "/incidents/bulk-status"),
    ("POST", "/telescopes"),
    ("POST", "/accounts"),
    ("POST", "/invitations"),
    ("POST", "/invitations/accept"),
    ("POST", "/auth/login"),
    ("PATCH", "/me"),
    ("PATCH", "/observatory"),
]
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(route=st.sampled_from(PATHS), payload=bodies, who=st.sampled_from(["admin", "client"]))
def test_json_bodies_never_cause_a_server_error(
    api: Api, tenant: Tenant, route: tuple[str, str], payload: Any, who: str
) -> None:
    method, path = route
    user = tenant.admin if who == "admin" else tenant.client
    r = api.as_(user).http.request(method, path.format(ref=f"{tenant.slug}-1"), json=payload)
    assert r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/")


@FUZZ
@given(
    raw=st.binary(max_size=200),
    content_type=st.sampled_from(
        [
            "application/json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ]
    ),
)
def test_raw_bytes_never_cause_a_server_error(
    api: Api, tenant: Tenant, raw: bytes, content_type: str
) -> None:
    r = api.as_(tenant.client).post(
        "/incidents", content=raw, headers={"content-type": content_type}
    )
    assert r.status_code < 500, r.text


query_values = st.text(max_size=30) | st.integers().map(str)


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "status",
                "type",
                "priority",
                "telescope",
                "client_account",
                "assignee",
                "q",
                "sort",
                "cursor",
                "limit",
                "created_after",
                "updated_before",
            ]
        ),
        query_values,
        max_size=5,
    ),
    ref=st.text(max_size=30),
)
def test_query_strings_and_paths_never_cause_a_server_error(
    api: Api, tenant: Tenant, params: dict[str, str], ref: str
) -> None:
    staff = api.as_(tenant.staff)
    assert staff.get("/incidents", params=params).status_code < 500
    safe_ref = json.dumps(ref)[1:-1].replace("/", "%2F").replace("?", "%3F").replace("#", "%23")
    assert staff.get(f"/incidents/{safe_ref}").status_code < 500
