"""The incidents API end to end, over HTTP against a real server, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from obs_support.server.models import Incident, Notification, Observatory
from tests.support import Api, LiveServer, Tenant


def refs(page: dict[str, Any]) -> list[str]:
    return [i["ref"] for i in page["items"]]


class TestCreate:
    def test_client_creates_with_labels_in_either_language(self, api: Api, tenant: Tenant) -> None:
        scope_id = tenant.telescopes[tenant.account_a][0]
        got = tenant.incident(
            api, type="Instalación", priority=10, telescope_id=scope_id, message="Nueva cámara"
        )
        assert got["type"] == "installation"
        assert got["priority"] == 10
        assert got["priority_name"] == "high"
        assert got["status"] == "open"
        assert got["telescope"]["id"] == scope_id
        assert got["client_account"]["id"] == tenant.account_a
        assert got["creator"]["id"] == tenant.client.id
        assert got["created_at"].endswith(("+00:00", "Z"))
        assert [e["kind"] for e in got["events"]] == ["created", "comment"]
        assert got["events"][1]["body"] == "Nueva cámara"

    def test_telescope_by_name_case_insensitive(self, api: Api, tenant: Tenant) -> None:
        got = tenant.incident(api, telescope="scope 2")
        assert got["telescope"]["name"] == "Scope 2"

    def test_telescope_of_another_account_is_refused(self, api: Api, tenant: Tenant) -> None:
        other = tenant.telescopes[tenant.account_b][0]
        r = api.as_(tenant.client).post(
            "/incidents",
            json={"type": "repair", "priority": "low", "message": "x", "telescope_id": other},
        )
        assert r.status_code == 422
        assert r.json()["field"] == "telescope_id"
        assert r.headers["content-type"] == "application/problem+json"

    def test_staff_must_name_the_client_account(self, api: Api, tenant: Tenant) -> None:
        r = api.as_(tenant.staff).post(
            "/incidents", json={"type": "question", "priority": 0, "message": "x"}
        )
        assert r.status_code == 422
        assert r.json()["field"] == "client_account_id"
        got = tenant.incident(api, who=tenant.staff, client_account_id=tenant.account_b)
        assert got["client_account"]["id"] == tenant.account_b

    def test_summary_given_or_first_line_cut_at_120(self, api: Api, tenant: Tenant) -> None:
        assert tenant.incident(api, summary="Dome", message="long text")["summary"] == "Dome"
        long = tenant.incident(api, message="\n" + "a" * 200 + "\nsecond line")
        assert len(long["summary"]) == 120

    def test_visit_date_only_for_visits(self, api: Api, tenant: Tenant) -> None:
        visit = tenant.incident(api, type="visita", visit_date="2027-01-15")
        assert visit["visit_date"] == "2027-01-15"
        r = api.as_(tenant.client).post(
            "/incidents",
            json={"type": "repair", "priority": 5, "message": "x", "visit_date": "2027-01-15"},
        )
        assert r.status_code == 422
        assert r.json()["field"] == "visit_date"

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"type": "repair", "priority": 7, "message": "x"}, "priority"),
            ({"type": "repair", "priority": "urgent", "message": "x"}, "priority"),
            ({"type": "repair", "priority": 5.0, "message": "x"}, "priority"),
            ({"type": "repair", "priority": True, "message": "x"}, "priority"),
            ({"type": "fix", "priority": 5, "message": "x"}, "type"),
            ({"type": "repair", "priority": 5, "message": "   "}, "message"),
            ({"type": "repair", "priority": 5, "message": "nul\x00byte"}, "message"),
            ({"type": "repair", "priority": 5}, "message"),
            ({"type": "repair", "priority": 5, "message": "x", "status": "done"}, "status"),
            (
                {"type": "repair", "priority": 5, "message": "x", "observatory_id": 2},
                "observatory_id",
            ),
            ({"type": "repair", "priority": 5, "message": "x", "summary": "a\nb"}, "summary"),
            (
                {"type": "repair", "priority": 5, "message": "x", "telescope_id": 2**40},
                "telescope_id",
            ),
        ],
    )
    def test_bad_input_is_refused_naming_the_field(
        self, api: Api, tenant: Tenant, body: dict[str, Any], field: str
    ) -> None:
        r = api.as_(tenant.client).post("/incidents", json=body)
        assert r.status_code == 422, r.text
        problem = r.json()
        assert problem["field"] == field
        assert problem["code"] == "invalid"
        assert field in problem["detail"]
        counts = api.as_(tenant.client).ok("GET", "/incidents/counts")
        assert counts["total"] == 0

    def test_malformed_json_is_a_422_not_a_500(self, api: Api, tenant: Tenant) -> None:
        r = api.as_(tenant.client).post(
            "/incidents",
            content=b'{"type": "repair",',
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 422
        assert r.json()["code"] == "invalid"

    def test_reference_numbers_are_per_observatory(
        self, api: Api, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        a = [tenant.incident(api)["ref"] for _ in range(2)]
        b = other_tenant.incident(api)["ref"]
        assert a == [f"{tenant.slug}-1", f"{tenant.slug}-2"]
        assert b == f"{other_tenant.slug}-1"


class TestReadAndList:
    def test_get_by_reference_or_number(self, api: Api, tenant: Tenant) -> None:
        created = tenant.incident(api)
        by_number = api.as_(tenant.client).ok("GET", "/incidents/1")
        by_ref = api.as_(tenant.client).ok("GET", f"/incidents/{created['ref'].lower()}")
        assert by_number["ref"] == by_ref["ref"] == created["ref"]

    @pytest.mark.parametrize("ref", ["0", "nope", "OTHER-1", "99999999999999", "1-1-1"])
    def test_unknown_references_are_404(self, api: Api, tenant: Tenant, ref: str) -> None:
        tenant.incident(api)
        r = api.as_(tenant.client).get(f"/incidents/{ref}")
        assert r.status_code == 404
        assert r.json()["code"] == "not_found"

    def test_default_order_is_priority_then_oldest(self, api: Api, tenant: Tenant) -> None:
        low = tenant.incident(api, priority="low")["ref"]
        high1 = tenant.incident(api, priority="high")["ref"]
        mid = tenant.incident(api, priority="medium")["ref"]
        high2 = tenant.incident(api, priority="high")["ref"]
        page = api.as_(tenant.staff).ok("GET", "/incidents")
        assert refs(page) == [high1, high2, mid, low]
        assert page["next_cursor"] is None

    @pytest.mark.parametrize("sort", ["priority", "created", "-created", "updated", "-updated"])
    def test_cursor_pages_cover_everything_once_in_order(
        self, api: Api, tenant: Tenant, sort: str
    ) -> None:
        priorities = ["low", "high", "medium", "high", "low", "medium", "high"] * 2
        for p in priorities:
            tenant.incident(api, priority=p)
        staff = api.as_(tenant.staff)
        full = refs(staff.ok("GET", "/incidents", params={"sort": sort, "limit": 200}))
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"sort": sort, "limit": 3}
            if cursor:
                params["cursor"] = cursor
            page = staff.ok("GET", "/incidents", params=params)
            seen += refs(page)
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == full
        assert len(set(seen)) == len(priorities)

    def test_a_page_reflects_changes_without_skipping(self, api: Api, tenant: Tenant) -> None:
        for _ in range(4):
            tenant.incident(api, priority="medium")
        staff = api.as_(tenant.staff)
        first = staff.ok("GET", "/incidents", params={"limit": 2})
        newcomer = tenant.incident(api, priority="low")["ref"]
        rest = staff.ok("GET", "/incidents", params={"limit": 10, "cursor": first["next_cursor"]})
        assert len(refs(first)) + len(refs(rest)) == 5
        assert refs(rest)[-1] == newcomer

    @pytest.mark.parametrize(
        "cursor",
        ["garbage", "eyJzIjoiY3JlYXRlZCIsImwiOm51bGwsImkiOjF9", "e30", "!!!", "eyJpIjotMX0"],
    )
    def test_bad_cursor_is_a_clear_422(self, api: Api, tenant: Tenant, cursor: str) -> None:
        r = api.as_(tenant.staff).get("/incidents", params={"cursor": cursor})
        assert r.status_code == 422
        assert r.json()["field"] == "cursor"

    def test_filters(self, api: Api, tenant: Tenant) -> None:
        staff = api.as_(tenant.staff)
        t1 = tenant.telescopes[tenant.account_a][0]
        a = tenant.incident(api, type="repair", priority="high", telescope_id=t1)["ref"]
        b = tenant.incident(api, type="question", priority="low", message="about the dome")["ref"]
        c = tenant.incident(api, who=tenant.client_b, type="visit", priority="medium")["ref"]
        staff.ok("POST", f"/incidents/{b}/status", json={"status": "blocked", "reason": "waiting"})
        staff.ok("PATCH", f"/incidents/{c}", json={"assignee_id": tenant.staff.id})

        def q(**params: Any) -> set[str]:
            return set(refs(staff.ok("GET", "/incidents", params=params)))

        assert q(status="open") == {a, c}
        assert q(status=["open", "Bloqueada"]) == {a, b, c}
        assert q(type="Reparación") == {a}
        assert q(priority="alta") == {a}
        assert q(priority=0) == {b}
        assert q(telescope=t1) == {a}
        assert q(client_account=tenant.account_b) == {c}
        assert q(assignee="me") == {c}
        assert q(assignee=str(tenant.staff.id)) == {c}
        assert q(assignee="none") == {a, b}
        assert q(q="DOME") == {b}
        assert q(q="%") == set()
        now = datetime.now(UTC)
        assert q(created_after=(now - timedelta(hours=1)).isoformat()) == {a, b, c}
        assert q(created_before=(now - timedelta(hours=1)).isoformat()) == set()
        assert q(updated_after=(now + timedelta(hours=1)).isoformat()) == set()

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"status": "closed"}, "status"),
            ({"type": "nope"}, "type"),
            ({"priority": "3"}, "priority"),
            ({"assignee": "someone"}, "assignee"),
            ({"limit": 0}, "limit"),
            ({"limit": 1000}, "limit"),
            ({"sort": "name"}, "sort"),
            ({"telescope": "abc"}, "telescope"),
            ({"telescope": 2**40}, "telescope"),
            ({"created_after": "yesterday"}, "created_after"),
            ({"created_after": "2026-01-01T00:00:00"}, "created_after"),
            ({"q": "nul\x00byte"}, "q"),
        ],
    )
    def test_bad_filters_are_422(
        self, api: Api, tenant: Tenant, params: dict[str, Any], field: str
    ) -> None:
        r = api.as_(tenant.staff).get("/incidents", params=params)
        assert r.status_code == 422, r.text
        assert r.json()["field"] == field

    def test_search_ignores_case_beyond_ascii(self, api: Api, tenant: Tenant) -> None:
        ref = tenant.incident(api, message="ÓPTICA SUCIA en la cúpula")["ref"]
        for query in ("óptica", "ÓPTICA", "Óptica sucia", "CÚPULA"):
            found = api.as_(tenant.client).ok("GET", "/incidents", params={"q": query})
            assert refs(found) == [ref], query

    def test_search_matches_comments(self, api: Api, tenant: Tenant) -> None:
        ref = tenant.incident(api, message="plain")["ref"]
        api.as_(tenant.client).ok("POST", f"/incidents/{ref}/comments", json={"body": "Encoder 42"})
        found = api.as_(tenant.staff).ok("GET", "/incidents", params={"q": "encoder"})
        assert refs(found) == [ref]

    def test_counts_follow_every_change(self, api: Api, tenant: Tenant) -> None:
        r1 = tenant.incident(api)["ref"]
        tenant.incident(api)
        tenant.incident(api, who=tenant.client_b)
        staff = api.as_(tenant.staff)
        staff.ok("POST", f"/incidents/{r1}/status", json={"status": "in_progress"})
        counts = staff.ok("GET", "/incidents/counts")
        assert counts["counts"] == {
            "open": 2,
            "in_progress": 1,
            "blocked": 0,
            "done": 0,
            "cancelled": 0,
        }
        assert counts["total"] == 3
        mine = api.as_(tenant.client_b).ok("GET", "/incidents/counts")
        assert mine["counts"]["open"] == 1
        assert mine["total"] == 1

    def test_stats_show_unfinished_by_status_and_priority_and_weekly_flow(
        self, api: Api, server: LiveServer, tenant: Tenant
    ) -> None:
        staff = api.as_(tenant.staff)
        high = tenant.incident(api, priority="high")["ref"]
        tenant.incident(api, priority="high")
        low = tenant.incident(api, priority="low")["ref"]
        old = tenant.incident(api, who=tenant.client_b, priority="medium")["ref"]
        staff.ok("POST", f"/incidents/{high}/status", json={"status": "in_progress"})
        staff.ok("POST", f"/incidents/{low}/status", json={"status": "done"})
        # Filed three weeks ago: the history cannot be rewritten, but the filing date can.
        three_weeks_ago = datetime.now(UTC) - timedelta(weeks=3)
        with server.db.write() as session:
            row = session.exec(
                select(Incident)
                .join(Observatory)
                .where(Observatory.slug == tenant.slug, Incident.number == int(old.split("-")[1]))
            ).one()
            row.created_at = three_weeks_ago
            session.add(row)

        stats = staff.ok("GET", "/incidents/stats")
        assert stats["open"] == [
            {"status": "open", "priority": 10, "count": 1},
            {"status": "open", "priority": 5, "count": 1},
            {"status": "in_progress", "priority": 10, "count": 1},
        ]
        weeks = stats["weeks"]
        today = datetime.now(UTC).date()
        this_monday = today - timedelta(days=today.weekday())
        assert [w["week"] for w in weeks] == [
            (this_monday - timedelta(weeks=11 - i)).isoformat() for i in range(12)
        ]
        assert (weeks[-1]["created"], weeks[-1]["finished"]) == (3, 1)
        assert (weeks[-4]["created"], weeks[-4]["finished"]) == (1, 0)
        assert sum(w["created"] for w in weeks) == 4

        # A client sees only their own account's incidents.
        theirs = api.as_(tenant.client_b).ok("GET", "/incidents/stats", params={"weeks": 4})
        assert theirs["open"] == [{"status": "open", "priority": 5, "count": 1}]
        assert [(w["created"], w["finished"]) for w in theirs["weeks"]] == [
            (1, 0),
            (0, 0),
            (0, 0),
            (0, 0),
        ]

    @pytest.mark.parametrize("weeks", ["0", "105", "x"])
    def test_stats_refuse_an_impossible_number_of_weeks(
        self, api: Api, tenant: Tenant, weeks: str
    ) -> None:
        r = api.as_(tenant.staff).get("/incidents/stats", params={"weeks": weeks})
        assert r.status_code == 422
        assert r.json()["field"] == "weeks"


class TestChanges:
    def test_status_flow_with_reasons_and_history(self, api: Api, tenant: Tenant) -> None:
        ref = tenant.incident(api)["ref"]
        staff = api.as_(tenant.staff)
        r = staff.post(f"/incidents/{ref}/status", json={"status": "blocked"})
        assert r.status_code == 422
        assert r.json()["code"] == "reason_required"
        staff.ok(
            "POST", f"/incidents/{ref}/status", json={"status": "Bloqueada", "reason": "parts"}
        )
        staff.ok("POST", f"/incidents/{ref}/status", json={"status": "in_progress"})
        done = staff.ok("POST", f"/incidents/{ref}/status", json={"status": "done"})
        assert done["status"] == "done"
        assert done["allowed_statuses"] == ["open"]
        again = staff.ok("POST", f"/incidents/{ref}/status", json={"status": "done"})
        assert len(again["events"]) == len(done["events"])
        r = staff.post(f"/incidents/{ref}/status", json={"status": "in_progress"})
        assert r.status_code == 409
        assert r.json()["code"] == "transition_not_allowed"
        reopened = staff.ok(
            "POST", f"/incidents/{ref}/status", json={"status": "open", "reason": "came back"}
        )
        changes = [e["data"] for e in reopened["events"] if e["kind"] == "status_changed"]
        assert [(c["from"], c["to"], c["reason"]) for c in changes] == [
            ("open", "blocked", "parts"),
            ("blocked", "in_progress", None),
            ("in_progress", "done", None),
            ("done", "open", "came back"),
        ]

    def test_client_may_cancel_with_reason_but_nothing_else(self, api: Api, tenant: Tenant) -> None:
        ref = tenant.incident(api)["ref"]
        client = api.as_(tenant.client)
        r = client.post(f"/incidents/{ref}/status", json={"status": "done"})
        assert r.status_code == 403
        r = client.post(f"/incidents/{ref}/status", json={"status": "cancelled"})
        assert r.status_code == 422
        got = client.ok(
            "POST", f"/incidents/{ref}/status", json={"status": "cancelled", "reason": "fixed it"}
        )
        assert got["status"] == "cancelled"
        r = client.post(f"/incidents/{ref}/status", json={"status": "open", "reason": "again"})
        assert r.status_code == 403

    def test_status_change_notifies_account_members_and_assignee(
        self, api: Api, server: LiveServer, tenant: Tenant
    ) -> None:
        ref = tenant.incident(api)["ref"]
        staff = api.as_(tenant.staff)
        staff.ok("PATCH", f"/incidents/{ref}", json={"assignee_id": tenant.staff.id})
        api.as_(tenant.admin).ok("POST", f"/incidents/{ref}/status", json={"status": "in_progress"})
        with server.db.read() as session:
            rows = session.exec(
                select(Notification.user_id).where(
                    Notification.kind == "status_changed",
                    Notification.user_id.in_(  # type: ignore[union-attr]
                        [tenant.client.id, tenant.client_b.id, tenant.staff.id, tenant.admin.id]
                    ),
                )
            ).all()
        assert sorted(rows) == sorted([tenant.client.id, tenant.staff.id])

    def test_comments_and_internal_notes(self, api: Api, tenant: Tenant) -> None:
        ref = tenant.incident(api)["ref"]
        staff, client = api.as_(tenant.staff), api.as_(tenant.client)
        note = staff.ok(
            "POST",
            f"/incidents/{ref}/comments",
            json={"body": "secret", "internal": True},
            expect=201,
        )
        assert note["internal"] is True
        staff.ok("POST", f"/incidents/{ref}/comments", json={"body": "public reply"}, expect=201)
        voice = client.ok(
            "POST", f"/incidents/{ref}/comments", json={"body": "dictado", "source": "voice"}
        )
        assert voice["source"] == "voice"
        r = client.post(f"/incidents/{ref}/comments", json={"body": "x", "internal": True})
        assert r.status_code == 403
        seen_by_client = [e.get("body") for e in client.ok("GET", f"/incidents/{ref}")["events"]]
        assert "secret" not in seen_by_client
        assert "public reply" in seen_by_client
        seen_by_staff = [e.get("body") for e in staff.ok("GET", f"/incidents/{ref}")["events"]]
        assert "secret" in seen_by_staff
        assert refs(client.ok("GET", "/incidents", params={"q": "secret"})) == []
        assert refs(staff.ok("GET", "/incidents", params={"q": "secret"})) == [ref]

    def test_patch_priority_assignee_summary(self, api: Api, tenant: Tenant) -> None:
        ref = tenant.incident(api, priority="low")["ref"]
        staff = api.as_(tenant.staff)
        got = staff.ok(
            "PATCH",
            f"/incidents/{ref}",
            json={"priority": "alta", "assignee_id": tenant.staff.id, "summary": "New"},
        )
        assert (got["priority"], got["assignee"]["id"], got["summary"]) == (
            10,
            tenant.staff.id,
            "New",
        )
        kinds = [e["kind"] for e in got["events"]]
        assert kinds[-3:] == ["priority_changed", "assigned", "summary_changed"]
        same = staff.ok("PATCH", f"/incidents/{ref}", json={"priority": 10})
        assert len(same["events"]) == len(got["events"])
        cleared = staff.ok("PATCH", f"/incidents/{ref}", json={"unassign": True})
        assert cleared["assignee"] is None
        r = staff.patch(f"/incidents/{ref}", json={"assignee_id": tenant.client.id})
        assert r.status_code == 422
        assert r.json()["code"] == "invalid_assignee"
        r = staff.patch(f"/incidents/{ref}", json={"status": "done"})
        assert r.status_code == 422
        r = api.as_(tenant.client).patch(f"/incidents/{ref}", json={"priority": "low"})
        assert r.status_code == 403

    def test_bulk_status_change(self, api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
        staff = api.as_(tenant.staff)
        a = tenant.incident(api)["ref"]
        b = tenant.incident(api)["ref"]
        c = tenant.incident(api)["ref"]
        staff.ok("POST", f"/incidents/{c}/status", json={"status": "done"})
        foreign = other_tenant.incident(api)["ref"]
        body = {"refs": [a, b, c, foreign, "nonsense"], "status": "in_progress", "dry_run": True}
        dry = staff.ok("POST", "/incidents/bulk-status", json=body)
        assert [r["result"] for r in dry["results"]] == [
            "changed",
            "changed",
            "refused",
            "not_found",
            "not_found",
        ]
        assert staff.ok("GET", f"/incidents/{a}")["status"] == "open"
        body["dry_run"] = False
        real = staff.ok("POST", "/incidents/bulk-status", json=body)
        assert (real["changed"], real["refused"], real["not_found"]) == (2, 1, 2)
        assert real["results"][2]["code"] == "transition_not_allowed"
        assert staff.ok("GET", f"/incidents/{a}")["status"] == "in_progress"
        repeat = staff.ok("POST", "/incidents/bulk-status", json=body)
        assert (repeat["changed"], repeat["unchanged"]) == (0, 2)
        events = staff.ok("GET", f"/incidents/{a}")["events"]
        assert sum(e["kind"] == "status_changed" for e in events) == 1
        r = staff.post("/incidents/bulk-status", json={"refs": [a], "status": "blocked"})
        assert r.json()["results"][0]["code"] == "reason_required"


class TestErrors:
    def test_problem_details_shape(self, api: Api, tenant: Tenant) -> None:
        r = api.as_(tenant.client).get("/incidents/12345")
        body = r.json()
        assert r.headers["content-type"] == "application/problem+json"
        assert set(body) >= {"type", "title", "status", "detail", "code"}
        assert body["status"] == 404

    def test_unknown_route_and_method(self, api: Api, tenant: Tenant) -> None:
        r = api.as_(tenant.client).get("/nowhere")
        assert r.status_code == 404
        assert r.json()["code"] == "not_found"
        r = api.as_(tenant.client).put("/incidents")
        assert r.status_code == 405
        assert r.json()["code"] == "method_not_allowed"

    def test_openapi_is_served(self, api: Api) -> None:
        doc = api.ok("GET", "/openapi.json")
        assert "/api/v1/incidents" in doc["paths"]
