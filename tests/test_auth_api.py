"""Accounts and access: invitations, login, tokens, rate limits, directory management."""

from __future__ import annotations

import io
import logging
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlmodel import select

from obs_support.server import secrets
from obs_support.server.models import ApiToken, Invitation
from obs_support.server.models import User as UserRow
from obs_support.server.types import utcnow
from tests.support import PASSWORD, Api, LiveServer, Tenant, invite, png_bytes, start_server


def login(api: Api, tenant: Tenant, email: str, password: str = PASSWORD) -> tuple[int, dict]:  # type: ignore[type-arg]
    r = api.post(
        "/auth/login", json={"email": email, "password": password, "observatory": tenant.slug}
    )
    return r.status_code, r.json()


class TestInvitations:
    def test_invite_accept_login(self, api: Api, server: LiveServer, tenant: Tenant) -> None:
        inv = api.as_(tenant.admin).ok(
            "POST",
            "/invitations",
            json={
                "email": "Nueva@Example.org",
                "role": "cliente",
                "client_account_id": tenant.account_a,
            },
            expect=201,
        )
        assert inv["email"] == "nueva@example.org"
        assert inv["link"].endswith(inv["token"])
        assert inv["token"].startswith("obsinv_")
        with server.db.read() as session:
            stored = session.get(Invitation, inv["id"])
            assert stored is not None
            assert stored.token_hash == secrets.hash_secret(inv["token"])
            assert inv["token"] not in str(stored.model_dump())
            assert stored.expires_at - utcnow() > timedelta(days=6, hours=23)
        issued = api.ok(
            "POST",
            "/invitations/accept",
            json={"token": inv["token"], "display_name": "Nueva", "password": PASSWORD},
        )
        assert issued["user"]["role"] == "client"
        assert issued["user"]["client_account_id"] == tenant.account_a
        me = api.as_(issued["token"]).ok("GET", "/me")
        assert me["observatory"]["slug"] == tenant.slug
        status, body = login(api, tenant, "NUEVA@example.org")
        assert status == 200
        assert body["token"] != issued["token"]

    @pytest.mark.parametrize(("sent_in", "chosen", "kept"), [
        ("en", None, "en"), (None, None, "es"), ("en", "es", "es"), ("es", "en", "en"),
    ])  # fmt: skip
    def test_the_new_user_keeps_the_invitations_language_unless_they_choose(
        self, api: Api, tenant: Tenant, sent_in: str | None, chosen: str | None, kept: str
    ) -> None:
        """The observatory's default is Spanish; an invitation sent in English makes an
        English-speaking user, also when accepted with a command that asks no language."""
        body = {"email": f"{uuid.uuid4().hex[:8]}@example.org", "role": "staff"}
        inv = api.as_(tenant.admin).ok(
            "POST", "/invitations", json=body | ({"language": sent_in} if sent_in else {}),
            expect=201,
        )  # fmt: skip
        accept = {"token": inv["token"], "display_name": "Nueva", "password": PASSWORD}
        if chosen is not None:
            accept["language"] = chosen
        issued = api.ok("POST", "/invitations/accept", json=accept)
        assert api.as_(issued["token"]).ok("GET", "/me")["language"] == kept

    def test_invitation_is_single_use_and_failures_look_alike(
        self, api: Api, tenant: Tenant
    ) -> None:
        inv = api.as_(tenant.staff).ok(
            "POST",
            "/invitations",
            json={
                "email": "once@example.org",
                "role": "client",
                "client_account_id": tenant.account_b,
            },
            expect=201,
        )
        body = {"token": inv["token"], "display_name": "Once", "password": PASSWORD}
        api.ok("POST", "/invitations/accept", json=body)
        reused = api.post("/invitations/accept", json=body)
        unknown = api.post(
            "/invitations/accept", json={**body, "token": secrets.new_secret("obsinv_")}
        )
        garbage = api.post("/invitations/accept", json={**body, "token": "obsinv_nope"})
        assert reused.status_code == unknown.status_code == garbage.status_code == 401
        assert reused.json() == unknown.json() == garbage.json()

    def test_expired_invitation_is_refused(
        self, api: Api, server: LiveServer, tenant: Tenant
    ) -> None:
        inv = api.as_(tenant.admin).ok(
            "POST", "/invitations", json={"email": "late@example.org", "role": "staff"}, expect=201
        )
        with server.db.write() as session:
            row = session.get(Invitation, inv["id"])
            assert row is not None
            row.expires_at = utcnow() - timedelta(seconds=1)
            session.add(row)
        r = api.post(
            "/invitations/accept",
            json={"token": inv["token"], "display_name": "Late", "password": PASSWORD},
        )
        assert r.status_code == 401
        assert r.json()["code"] == "invalid_invitation"

    def test_revoked_invitation_is_refused(self, api: Api, tenant: Tenant) -> None:
        inv = api.as_(tenant.admin).ok(
            "POST", "/invitations", json={"email": "rev@example.org", "role": "staff"}, expect=201
        )
        pending = api.as_(tenant.admin).ok("GET", "/invitations", params={"pending": True})
        assert inv["id"] in [i["id"] for i in pending]
        assert api.as_(tenant.admin).delete(f"/invitations/{inv['id']}").status_code == 204
        r = api.post(
            "/invitations/accept",
            json={"token": inv["token"], "display_name": "R", "password": PASSWORD},
        )
        assert r.status_code == 401

    @pytest.mark.parametrize(
        ("body", "status", "code"),
        [
            ({"email": "x@example.org", "role": "client"}, 422, "invalid"),
            ({"email": "x@example.org", "role": "staff", "client_account_id": 1}, 422, "invalid"),
            ({"email": "not-an-email", "role": "staff"}, 422, "invalid"),
            ({"email": "x@example.org", "role": "boss"}, 422, "invalid"),
        ],
    )
    def test_bad_invitations(
        self, api: Api, tenant: Tenant, body: dict, status: int, code: str
    ) -> None:  # type: ignore[type-arg]
        r = api.as_(tenant.admin).post("/invitations", json=body)
        assert (r.status_code, r.json()["code"]) == (status, code)

    def test_existing_email_cannot_be_invited(self, api: Api, tenant: Tenant) -> None:
        r = api.as_(tenant.admin).post(
            "/invitations", json={"email": tenant.staff.email, "role": "staff"}
        )
        assert r.status_code == 409
        assert r.json()["code"] == "email_taken"

    def test_weak_password_is_refused(self, api: Api, tenant: Tenant) -> None:
        inv = api.as_(tenant.admin).ok(
            "POST", "/invitations", json={"email": "weak@example.org", "role": "staff"}, expect=201
        )
        r = api.post(
            "/invitations/accept",
            json={"token": inv["token"], "display_name": "W", "password": "short"},
        )
        assert r.status_code == 422
        assert r.json()["field"] == "password"


class TestLogin:
    def test_unknown_email_and_wrong_password_answer_alike(self, api: Api, tenant: Tenant) -> None:
        user = invite(api, tenant.admin, "staff")
        wrong = login(api, tenant, user.email, "wrong password!")
        unknown = login(api, tenant, "nobody@example.org")
        assert wrong == unknown
        assert wrong[0] == 401
        assert wrong[1]["code"] == "invalid_credentials"

    def test_repeated_failures_are_rate_limited(self, api: Api, tenant: Tenant) -> None:
        user = invite(api, tenant.admin, "staff")
        limit = 5  # login_max_failures in the test settings
        for _ in range(limit):
            assert login(api, tenant, user.email, "wrong password!")[0] == 401
        r = api.post(
            "/auth/login",
            json={"email": user.email, "password": PASSWORD, "observatory": tenant.slug},
        )
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) > 0
        # Unknown e-mails are limited the same way, so the limit reveals nothing.
        for _ in range(limit):
            login(api, tenant, "ghost@example.org", "x")
        assert login(api, tenant, "ghost@example.org", "x")[0] == 429

    def test_per_address_limit_covers_bad_tokens(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'limit.sqlite3'}"
        with start_server(url, tmp_path / "data", ip_max_failures=3) as live, Api(live.url) as api:
            bad = api.as_(secrets.new_secret())
            assert [bad.get("/me").status_code for _ in range(3)] == [401, 401, 401]
            assert bad.get("/me").status_code == 429

    def test_inactive_user_cannot_log_in_or_use_tokens(self, api: Api, tenant: Tenant) -> None:
        user = invite(api, tenant.admin, "staff")
        assert api.as_(user).get("/me").status_code == 200
        api.as_(tenant.admin).ok("PATCH", f"/users/{user.id}", json={"active": False})
        assert api.as_(user).get("/me").status_code == 401
        assert login(api, tenant, user.email)[0] == 401

    def test_login_needs_observatory_when_several(
        self, api: Api, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        r = api.post("/auth/login", json={"email": tenant.admin.email, "password": PASSWORD})
        assert r.status_code == 422
        assert r.json()["field"] == "observatory"
        r = api.post(
            "/auth/login", json={"email": "a@b.co", "password": "x", "observatory": "A\x00"}
        )
        assert r.status_code == 422
        assert r.json()["field"] == "observatory"

    def test_passwords_are_argon2id(self, api: Api, server: LiveServer, tenant: Tenant) -> None:
        user = invite(api, tenant.admin, "staff")
        with server.db.read() as session:
            row = session.get(UserRow, user.id)
        assert row is not None
        assert row.password_hash is not None
        assert row.password_hash.startswith("$argon2id$")
        params = dict(p.split("=") for p in row.password_hash.split("$")[3].split(","))
        assert int(params["m"]) >= 19 * 1024
        assert int(params["t"]) >= 2
        assert PASSWORD not in row.password_hash


class TestTokens:
    def test_token_format_and_storage(self, api: Api, server: LiveServer, tenant: Tenant) -> None:
        issued = api.as_(tenant.client).ok("POST", "/tokens", json={"name": "cron"}, expect=201)
        token = issued["token"]
        assert token.startswith("obs_")
        assert secrets.looks_valid(token)
        assert not secrets.looks_valid(token[:-1] + ("A" if token[-1] != "A" else "B"))
        assert issued["token_info"]["prefix"] == token[:10]
        with server.db.read() as session:
            row = session.get(ApiToken, issued["token_info"]["id"])
            all_hashes = session.exec(select(ApiToken.token_hash)).all()
        assert row is not None
        assert row.token_hash == secrets.hash_secret(token)
        assert token not in all_hashes
        listed = api.as_(tenant.client).ok("GET", "/tokens")
        assert "token" not in str(listed).replace("token_", "")
        assert token not in str(listed)

    def test_only_the_authorization_header_counts(self, api: Api, tenant: Tenant) -> None:
        assert api.get("/me", params={"token": tenant.client.token}).status_code == 401
        assert api.get("/me", params={"access_token": tenant.client.token}).status_code == 401
        assert api.get("/me", headers={"Authorization": tenant.client.token}).status_code == 401
        assert api.get("/me", headers={"Cookie": f"token={tenant.client.token}"}).status_code == 401
        assert api.as_(tenant.client).get("/me").status_code == 200

    def test_revoked_token_stops_working(self, api: Api, tenant: Tenant) -> None:
        extra = api.as_(tenant.client).ok("POST", "/tokens", json={"name": "temp"}, expect=201)
        assert api.as_(extra["token"]).get("/me").status_code == 200
        assert (
            api.as_(tenant.client).delete(f"/tokens/{extra['token_info']['id']}").status_code == 204
        )
        r = api.as_(extra["token"]).get("/me")
        assert r.status_code == 401
        assert r.json()["code"] == "invalid_token"
        assert (
            api.as_(tenant.client).delete(f"/tokens/{extra['token_info']['id']}").status_code == 404
        )

    def test_secrets_never_reach_the_logs(
        self, api: Api, tenant: Tenant, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        user = invite(api, tenant.admin, "staff")
        login(api, tenant, user.email)
        login(api, tenant, user.email, "a wrong password")
        api.as_(user).get("/me")
        assert PASSWORD not in caplog.text
        assert user.token not in caplog.text
        assert "a wrong password" not in caplog.text

    def test_change_own_password(self, api: Api, tenant: Tenant) -> None:
        user = invite(api, tenant.admin, "staff")
        me = api.as_(user)
        r = me.patch("/me", json={"password": "a brand new one", "current_password": "wrong"})
        assert r.status_code == 422
        me.ok(
            "PATCH",
            "/me",
            json={"password": "a brand new one", "current_password": PASSWORD, "language": "en"},
        )
        assert login(api, tenant, user.email)[0] == 401
        assert login(api, tenant, user.email, "a brand new one")[0] == 200
        assert me.patch("/me", json={"role": "admin"}).status_code == 422


class TestDirectory:
    def test_accounts_and_telescopes(self, api: Api, tenant: Tenant) -> None:
        staff = api.as_(tenant.staff)
        acc = staff.ok("POST", "/accounts", json={"name": "Instituto"}, expect=201)
        assert staff.post("/accounts", json={"name": "instituto"}).status_code == 409
        renamed = staff.ok("PATCH", f"/accounts/{acc['id']}", json={"name": "Instituto X"})
        assert renamed["name"] == "Instituto X"
        t = staff.ok(
            "POST",
            "/telescopes",
            json={
                "client_account_id": acc["id"],
                "name": "C14",
                "mount": "EQ8",
                "location": "Cúpula 3",
            },
            expect=201,
        )
        dup = staff.post("/telescopes", json={"client_account_id": acc["id"], "name": "c14"})
        assert dup.status_code == 409
        # The same name in another account is fine.
        staff.ok("POST", "/telescopes", json={"client_account_id": tenant.account_a, "name": "C14"})
        moved = staff.ok("PATCH", f"/telescopes/{t['id']}", json={"location": "Pilar 2"})
        assert (moved["location"], moved["mount"]) == ("Pilar 2", "EQ8")
        listed = staff.ok("GET", "/telescopes", params={"client_account": acc["id"]})
        assert [x["name"] for x in listed] == ["C14"]
        bad = staff.post("/telescopes", json={"client_account_id": 2**31 - 1, "name": "Z"})
        assert bad.status_code == 422

    def test_observatory_branding_admin_only(self, api: Api, tenant: Tenant) -> None:
        got = api.as_(tenant.admin).ok(
            "PATCH", "/observatory", json={"accent_color": "#112233", "default_language": "en"}
        )
        assert (got["accent_color"], got["default_language"]) == ("#112233", "en")
        assert api.as_(tenant.staff).patch("/observatory", json={"name": "X"}).status_code == 403
        assert (
            api.as_(tenant.admin).patch("/observatory", json={"accent_color": "red"}).status_code
            == 422
        )
        assert (
            api.as_(tenant.admin).patch("/observatory", json={"slug": "OTHER"}).status_code == 422
        )
        assert api.as_(tenant.client).ok("GET", "/observatory")["accent_color"] == "#112233"

    def test_users_list_for_assignment(self, api: Api, tenant: Tenant) -> None:
        staff_list = api.as_(tenant.staff).ok("GET", "/users", params={"role": "personal"})
        assert [u["id"] for u in staff_list] == [tenant.staff.id]
        assert [u["id"] for u in api.as_(tenant.client).ok("GET", "/users")] == [tenant.client.id]
        r = api.as_(tenant.admin).patch(f"/users/{tenant.admin.id}", json={"active": False})
        assert r.status_code == 409


class TestLogo:
    PNG = png_bytes()

    def test_admin_uploads_a_logo_everyone_can_fetch(self, api: Api, tenant: Tenant) -> None:
        assert api.as_(tenant.client).get("/observatory/logo").status_code == 404
        got = api.as_(tenant.admin).ok(
            "PUT", "/observatory/logo", content=self.PNG, headers={"content-type": "image/png"}
        )
        assert got["has_logo"] is True
        r = api.as_(tenant.client).get("/observatory/logo")
        assert r.status_code == 200
        assert r.content == self.PNG
        assert r.headers["content-type"] == "image/png"
        assert r.headers["x-content-type-options"] == "nosniff"

    @pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
    def test_jpeg_and_webp_logos_are_kept_as_they_are(
        self, api: Api, tenant: Tenant, fmt: str, mime: str
    ) -> None:
        out = io.BytesIO()
        Image.new("RGB", (240, 80), (200, 60, 20)).save(out, format=fmt)
        # Whatever Content-Type the admin's tool sends, the type served comes from the bytes.
        api.as_(tenant.admin).ok(
            "PUT",
            "/observatory/logo",
            content=out.getvalue(),
            headers={"content-type": "image/png"},
        )
        r = api.as_(tenant.client).get("/observatory/logo")
        assert r.status_code == 200
        assert r.content == out.getvalue()
        assert r.headers["content-type"] == mime

    @pytest.mark.parametrize(
        ("who", "data", "status"),
        [
            ("staff", PNG, 403),
            ("admin", b"", 422),
            ("admin", b"<svg onload=alert(1)>", 415),
            ("admin", b"\x89PNG\r\n\x1a\n" + b"0" * (512 * 1024), 413),
            ("admin", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, 415),  # a PNG header, no image
            ("admin", PNG[: len(PNG) // 2], 415),  # cut short
            ("admin", png_bytes(4000, 20), 422),  # not a sane logo size
            ("admin", png_bytes(8, 8), 422),
        ],
    )
    def test_bad_logos_are_refused(
        self, api: Api, tenant: Tenant, who: str, data: bytes, status: int
    ) -> None:
        user = tenant.admin if who == "admin" else tenant.staff
        r = api.as_(user).put(
            "/observatory/logo", content=data, headers={"content-type": "image/svg+xml"}
        )
        assert r.status_code == status
        assert api.as_(tenant.admin).get("/observatory/logo").status_code == 404


def test_invitation_link_opens_the_observatory_s_invitation_page(
    api: Api, server: LiveServer, tenant: Tenant
) -> None:
    inv = api.as_(tenant.admin).ok(
        "POST", "/invitations", json={"email": "page@example.org", "role": "staff"}, expect=201
    )
    assert inv["link"] == f"{server.url}/o/{tenant.slug.lower()}/invite/{inv['token']}"
    page = httpx.get(inv["link"])
    assert page.status_code == 200
    assert "page@example.org" in page.text
    assert f"Observatory {tenant.slug}" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
