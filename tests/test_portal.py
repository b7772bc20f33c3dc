"""The observatory's web portal: branded pages, invitations and password resets.

Two halves. A real headless Chromium walks the journeys people take — the invitation e-mail
to a working CLI login, the forgotten password to a new one — and takes the screenshots the
docs show. Then plain HTTP checks, on SQLite and PostgreSQL, pin what a browser hides: CSRF,
validation, escaping of user data, no incident data without a login, headers and languages.
"""

from __future__ import annotations

import email
import email.policy
import io
import math
import os
import re
import shlex
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from markupsafe import escape
from PIL import Image, ImageDraw
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import update
from sqlmodel import col, select

from obs_support.server import secrets
from obs_support.server.models import Invitation, PasswordReset
from obs_support.server.services.passwords import RESET_PREFIX
from obs_support.server.services.setup import create_observatory
from obs_support.server.types import utcnow
from tests.cli_support import Cli, cli_env
from tests.support import Api, LiveServer, Tenant, make_tenant, start_server

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
NO_BROWSER = (
    "needs Debian packages chromium and chromium-driver (scripts/system-deps installs them)"
)
WAIT = 10.0  # seconds: the longest any single browser step or e-mail may take
NEW_PASSWORD = "a brand new password 42"
CSRF_FIELD = re.compile(r'<input type="hidden" name="csrf" value="([^"]*)">')
EN = {"Accept-Language": "en"}


# --- helpers shared by both halves -----------------------------------------------------------


def portal(slug: str) -> str:
    return f"/o/{slug.lower()}"


def web(server: LiveServer, **headers: str) -> httpx.Client:
    """A cookie-keeping client at the server's root, like a browser without scripts."""
    return httpx.Client(base_url=server.url, headers=headers, timeout=15, follow_redirects=False)


def open_form(client: httpx.Client, path: str) -> str:
    """GET a portal form; returns its CSRF token (the cookie is now in the client's jar)."""
    r = client.get(path)
    assert r.status_code == 200, f"GET {path} -> {r.status_code} {r.text[:500]}"
    found = CSRF_FIELD.search(r.text)
    assert found and found[1], f"no csrf field in {path}"
    assert client.cookies.get("obs_csrf") == found[1]
    return found[1]


def csrf_of(response: httpx.Response) -> str:
    found = CSRF_FIELD.search(response.text)
    assert found, "the page has no csrf field"
    return found[1]


def new_invitation(api: Api, tenant: Tenant, address: str | None = None) -> tuple[str, str, int]:
    """(e-mail, portal path, id) of a fresh client invitation made by the tenant's admin."""
    address = address or f"guest-{uuid.uuid4().hex[:8]}@example.org"
    inv = api.as_(tenant.admin).ok(
        "POST",
        "/invitations",
        json={"email": address, "role": "client", "client_account_id": tenant.account_a},
        expect=201,
    )
    path = urlsplit(inv["link"]).path
    assert path.startswith(f"{portal(tenant.slug)}/invite/obsinv_")
    return inv["email"], path, inv["id"]


def new_reset(server: LiveServer, tenant: Tenant, user_id: int, *, valid: bool = True) -> str:
    """The portal path of a password reset link, written straight to the database."""
    secret = secrets.new_secret(RESET_PREFIX)
    expires = utcnow() + (timedelta(hours=1) if valid else -timedelta(minutes=1))
    with server.db.write() as session:
        session.add(
            PasswordReset(
                user_id=user_id, token_hash=secrets.hash_secret(secret), expires_at=expires
            )
        )
    return f"{portal(tenant.slug)}/reset/{secret}"


def user_emails(api: Api, tenant: Tenant) -> set[str]:
    return {u["email"] for u in api.as_(tenant.admin).ok("GET", "/users")}


def accept_form(csrf: str, **overrides: str) -> dict[str, str]:
    fields = {
        "csrf": csrf,
        "display_name": "Laura Martín",
        "password": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        "language": "en",
    }
    fields.update(overrides)
    return fields


def wait_for_mail(folder: Path, kind: str, to: str, timeout: float = WAIT) -> EmailMessage:
    """The `.eml` the server wrote for `to` (files are named NNNNNNNN-<kind>.eml)."""
    deadline = time.monotonic() + timeout
    while True:
        for path in sorted(folder.glob(f"*-{kind}.eml")):
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if to in str(msg["To"]):
                return msg
        if time.monotonic() > deadline:
            seen = sorted(p.name for p in folder.glob("*.eml")) if folder.exists() else []
            raise AssertionError(f"no {kind} e-mail to {to} within {timeout} s; saw {seen}")
        time.sleep(0.05)


def link_in(msg: EmailMessage, kind: str) -> str:
    """The single portal link of `kind` (invite, reset) in the text/plain part."""
    plain = msg.get_body(("plain",))
    assert isinstance(plain, EmailMessage), "the e-mail has no text/plain part"
    links = re.findall(rf"https?://[^\s]+/o/[a-z0-9-]+/{kind}/[A-Za-z0-9_]+", plain.get_content())
    assert len(links) == 1, f"expected one {kind} link, found {links}"
    return str(links[0])


def telescope_logo() -> bytes:
    """A small PNG: a refractor on a tripod under the stars, on a night-blue disc."""
    size = 256
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.ellipse((6, 6, 250, 250), fill=(11, 83, 148, 255))

    def star(cx: float, cy: float, r: float) -> None:
        points = []
        for i in range(10):
            angle = -math.pi / 2 + i * math.pi / 5
            radius = r if i % 2 == 0 else r * 0.42
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
        draw.polygon(points, fill=(255, 221, 87, 255))

    for cx, cy, r in ((62, 70, 16), (186, 52, 11), (112, 40, 7), (210, 112, 8), (50, 132, 6)):
        star(cx, cy, r)
    white = (245, 247, 250, 255)
    draw.polygon([(64, 168), (176, 96), (192, 121), (80, 193)], fill=white)  # the tube
    draw.polygon([(170, 86), (196, 69), (216, 100), (190, 117)], fill=(255, 221, 87, 255))
    draw.polygon([(52, 174), (70, 163), (80, 179), (62, 190)], fill=white)  # the eyepiece
    for foot in ((82, 236), (128, 240), (174, 236)):
        draw.line([(128, 150), foot], fill=white, width=8)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


# --- A. in a real browser --------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own on SQLite, mailing into <data dir>/mail/ (no SMTP server)."""
    root = tmp_path_factory.mktemp("portal-server")
    with start_server(f"sqlite:///{root / 'portal.sqlite3'}", root / "data", smtp_url=None) as live:
        yield live


@pytest.fixture
def site_api(site: LiveServer) -> Iterator[Api]:
    with Api(site.url) as client:
        yield client


@pytest.fixture
def site_tenant(site: LiveServer, site_api: Api) -> Tenant:
    return make_tenant(site, site_api)


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    """One headless Chromium for the module, in English, never fetching anything itself."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()) or not shutil.which(str(CHROMIUM)):
        pytest.skip(NO_BROWSER)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SE_OFFLINE", "true")  # Selenium Manager must not go to the network
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--window-size=1200,900",
            "--lang=en-US",
            "--hide-scrollbars",
        ):
            options.add_argument(arg)
        options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
        try:
            browser = webdriver.Chrome(
                service=Service(executable_path=str(CHROMEDRIVER)), options=options
            )
        except WebDriverException as exc:
            pytest.skip(f"{NO_BROWSER}: {exc.msg}")
    browser.set_page_load_timeout(WAIT)
    try:
        yield browser
    finally:
        browser.quit()


def wait(driver: WebDriver, condition: Callable[[Any], Any]) -> Any:
    return WebDriverWait(driver, WAIT, poll_frequency=0.05).until(condition)


def by_id(driver: WebDriver, element_id: str) -> WebElement:
    element: WebElement = wait(driver, ec.presence_of_element_located((By.ID, element_id)))
    return element


def submit(driver: WebDriver) -> None:
    """Press the form's button and wait until the answer page has replaced the form."""
    button = by_id(driver, "submit")
    button.click()
    wait(driver, ec.staleness_of(button))
    wait(driver, lambda d: d.execute_script("return document.readyState") == "complete")


def by_tag(driver: WebDriver, tag: str) -> WebElement:
    element: WebElement = wait(driver, ec.presence_of_element_located((By.TAG_NAME, tag)))
    return element


def heading(driver: WebDriver) -> str:
    return str(by_tag(driver, "h2").text)


def type_into(driver: WebDriver, element_id: str, text: str) -> None:
    field = by_id(driver, element_id)
    field.clear()
    field.send_keys(text)


class TestInBrowser:
    def test_invitation_from_email_to_cli_login(
        self,
        driver: WebDriver,
        site: LiveServer,
        site_api: Api,
        site_tenant: Tenant,
        tmp_path: Path,
    ) -> None:
        slug = site_tenant.slug.lower()
        address = f"ana-{uuid.uuid4().hex[:8]}@club.example"
        issued = site_api.as_(site_tenant.admin).ok(
            "POST",
            "/invitations",
            json={"email": address, "role": "client", "client_account_id": site_tenant.account_a},
            expect=201,
        )
        letter = wait_for_mail(site.settings.mail_dir, "invitation", address)
        assert f"Observatory {site_tenant.slug}" in str(letter["Subject"])
        link = link_in(letter, "invite")
        assert link == issued["link"]
        assert link.startswith(f"{site.url}/o/{slug}/invite/obsinv_")

        driver.delete_all_cookies()
        driver.get(link)
        assert address in by_tag(driver, "main").text
        type_into(driver, "display_name", "Ana Pérez")
        type_into(driver, "password", NEW_PASSWORD)
        type_into(driver, "password2", NEW_PASSWORD)
        Select(by_id(driver, "language")).select_by_value("es")
        submit(driver)
        # The page now speaks the language the newcomer chose, not the browser's.
        assert heading(driver) == "Ya tienes acceso", driver.page_source[:2000]
        command = by_id(driver, "command").text
        assert command == f"obs-support login {site.url} --observatory {slug} --email {address}"

        cli = Cli(tmp_path / "cfg", cli_env(tmp_path / "cfg"))
        words = shlex.split(command)
        assert words[:2] == ["obs-support", "login"]
        login = cli(*words[1:], "--password-stdin", input=NEW_PASSWORD + "\n")
        assert login.code == 0, login.err
        assert "Ana Pérez" in login.out
        who = cli("whoami", "--json")
        assert who.code == 0, who.err
        me = who.json()
        assert (me["email"], me["display_name"], me["role"], me["language"]) == (
            address,
            "Ana Pérez",
            "client",
            "es",
        )
        assert me["observatory"]["slug"] == site_tenant.slug
        assert f"Ana Pérez <{address}>" in cli("whoami").out

        driver.get(link)
        assert heading(driver) == "This invitation is not valid"
        assert by_tag(driver, "h1").text == f"Observatory {site_tenant.slug}"
        assert not driver.find_elements(By.ID, "submit")
        with web(site) as http:
            again = http.get(urlsplit(link).path)
        assert again.status_code == 410

    def test_forgotten_password_from_landing_page_to_new_login(
        self, driver: WebDriver, site: LiveServer, site_api: Api, site_tenant: Tenant
    ) -> None:
        who = site_tenant.client
        assert site_api.as_(who).get("/me").status_code == 200
        driver.delete_all_cookies()
        driver.get(f"{site.url}{portal(site_tenant.slug)}/")
        forgot = wait(
            driver, ec.element_to_be_clickable((By.CSS_SELECTOR, "main a[href$='/forgot']"))
        )
        assert forgot.text == "Forgot your password?"
        forgot.click()
        wait(driver, ec.url_to_be(f"{site.url}{portal(site_tenant.slug)}/forgot"))
        type_into(driver, "email", who.email)
        submit(driver)
        assert heading(driver) == "Reset your password"
        assert "the link is on its way" in by_tag(driver, "main").text

        link = link_in(wait_for_mail(site.settings.mail_dir, "password_reset", who.email), "reset")
        assert link.startswith(f"{site.url}{portal(site_tenant.slug)}/reset/obsrst_")
        driver.get(link)
        type_into(driver, "password", NEW_PASSWORD)
        type_into(driver, "password2", NEW_PASSWORD)
        submit(driver)
        assert heading(driver) == "Choose a new password", driver.page_source[:2000]
        assert by_id(driver, "command").text == (
            f"obs-support login {site.url} --observatory {site_tenant.slug.lower()} "
            f"--email {who.email}"
        )

        assert site_api.as_(who).get("/me").status_code == 401  # every old token is revoked
        issued = site_api.ok(
            "POST",
            "/auth/login",
            json={"email": who.email, "password": NEW_PASSWORD, "observatory": site_tenant.slug},
        )
        assert site_api.as_(issued["token"]).ok("GET", "/me")["id"] == who.id
        driver.get(link)
        assert heading(driver) == "This link is not valid"

    def test_branded_screenshots(
        self, driver: WebDriver, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
    ) -> None:
        """The docs' pictures: a branded observatory, served under a real-looking address."""
        root = tmp_path_factory.mktemp("teide")
        with start_server(
            f"sqlite:///{root / 'teide.sqlite3'}",
            root / "data",
            smtp_url=None,
            public_url="https://soporte.teide.example",
        ) as teide:
            with teide.db.write() as session:
                _obs, _admin, issued = create_observatory(
                    session,
                    name="Observatorio Teide",
                    slug="TEIDE",
                    admin_email="admin@teide.example",
                )
            with Api(teide.url, issued.token) as admin:
                self._shoot(driver, teide, admin, tmp_path)

    def _shoot(self, driver: WebDriver, teide: LiveServer, admin: Api, tmp_path: Path) -> None:
        admin.ok(
            "PATCH",
            "/observatory",
            json={
                "name": "Observatorio del Teide",
                "accent_color": "#0b5394",
                "support_email": "soporte@teide.example",
            },
        )
        logo = telescope_logo()
        assert admin.ok(
            "PUT", "/observatory/logo", content=logo, headers={"Content-Type": "image/png"}
        )["has_logo"]
        with web(teide) as http:
            served = http.get("/o/teide/logo")
            form = http.get("/o/teide/forgot")
        assert (served.status_code, served.headers["content-type"]) == (200, "image/png")
        assert served.content == logo
        # Served over https, the csrf cookie is Secure as well.
        cookie = next(c for c in form.headers.get_list("set-cookie") if c.startswith("obs_csrf="))
        assert "secure" in {part.strip().lower() for part in cookie.split(";")}

        wanted = os.environ.get("OBS_SUPPORT_WRITE_SCREENSHOTS") == "1"
        folder = REPO / "docs" / "img" if wanted else tmp_path
        folder.mkdir(parents=True, exist_ok=True)

        def open_branded(url: str) -> None:
            driver.get(url)
            assert by_tag(driver, "h1").text == "Observatorio del Teide"
            header = by_tag(driver, "header")
            assert header.value_of_css_property("background-color") == "rgba(11, 83, 148, 1)"
            wait(
                driver,
                lambda d: d.execute_script(
                    "const i = document.querySelector('header img');"
                    "return !!i && i.complete && i.naturalWidth === 256;"
                ),
            )

        def shoot(name: str) -> None:
            """The whole page: the window grows to fit it, then goes back to its usual size."""
            frame = driver.execute_script("return window.outerHeight - window.innerHeight")
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(1200, max(900, int(height) + int(frame)))
            try:
                path = folder / name
                assert driver.save_screenshot(str(path))
            finally:
                driver.set_window_size(1200, 900)
            with Image.open(path) as shot:
                assert shot.format == "PNG"
                assert shot.size[0] == 1200 and shot.size[1] >= int(height)

        driver.delete_all_cookies()
        open_branded(f"{teide.url}/o/teide/?lang=en")
        assert heading(driver) == "Observatorio del Teide support"
        pres = [p.text for p in driver.find_elements(By.TAG_NAME, "pre")]
        login = (
            "obs-support login https://soporte.teide.example --observatory teide "
            "--email you@example.org"
        )
        assert login in pres
        assert "Contact: soporte@teide.example" in by_tag(driver, "footer").text
        shoot("portal-landing.png")

        inv = admin.ok(
            "POST", "/invitations", json={"email": "laura@teide.example", "role": "staff"}
        )
        assert inv["link"].startswith("https://soporte.teide.example/o/teide/invite/obsinv_")
        open_branded(f"{teide.url}{urlsplit(inv['link']).path}?lang=en")
        assert heading(driver) == "Welcome to Observatorio del Teide support"
        assert "laura@teide.example" in by_tag(driver, "main").text
        type_into(driver, "display_name", "Laura Martín")
        shoot("portal-invite.png")


# --- B. over plain HTTP, on both databases ---------------------------------------------------


CSRF_CASES = ["no cookie", "wrong token", "no token", "json body", "text/plain body"]


class TestCsrf:
    @pytest.mark.parametrize("case", CSRF_CASES)
    def test_invitation_refused_and_nothing_created(
        self, server: LiveServer, api: Api, tenant: Tenant, case: str
    ) -> None:
        address, path, _id = new_invitation(api, tenant)
        with web(server, **EN) as browser:
            csrf = open_form(browser, path)
            r = post_forged(server, browser, path, accept_form(csrf), case)
            assert r.status_code == 403, r.text[:500]
            assert "The form has expired. Reload the page and try again." in r.text
            assert "<form" in r.text
            assert address not in user_emails(api, tenant)
            # The invitation is untouched: a proper submission still works.
            csrf = open_form(browser, path)
            done = browser.post(path, data=accept_form(csrf))
            assert done.status_code == 200, done.text[:500]
            assert 'id="command"' in done.text
        assert address in user_emails(api, tenant)

    @pytest.mark.parametrize("case", CSRF_CASES)
    def test_forgot_refused_and_no_mail(
        self, server: LiveServer, tenant: Tenant, case: str
    ) -> None:
        path = f"{portal(tenant.slug)}/forgot"
        with web(server, **EN) as browser:
            csrf = open_form(browser, path)
            fields = {"csrf": csrf, "email": tenant.client.email}
            r = post_forged(server, browser, path, fields, case)
        assert r.status_code == 403, r.text[:500]
        assert "The form has expired" in r.text
        with server.db.read() as session:
            resets = session.exec(
                select(PasswordReset).where(col(PasswordReset.user_id) == tenant.client.id)
            ).all()
        assert resets == []

    @pytest.mark.parametrize("case", CSRF_CASES)
    def test_reset_refused_and_password_unchanged(
        self, server: LiveServer, api: Api, tenant: Tenant, case: str
    ) -> None:
        path = new_reset(server, tenant, tenant.client.id)
        with web(server, **EN) as browser:
            csrf = open_form(browser, path)
            fields = {"csrf": csrf, "password": NEW_PASSWORD, "password2": NEW_PASSWORD}
            r = post_forged(server, browser, path, fields, case)
            assert r.status_code == 403, r.text[:500]
            assert api.as_(tenant.client).get("/me").status_code == 200  # nothing revoked
            assert browser.get(path).status_code == 200  # the link still works


def post_forged(
    server: LiveServer, browser: httpx.Client, path: str, fields: dict[str, str], case: str
) -> httpx.Response:
    """POST the form the way `case` breaks the double-submit check."""
    if case == "no cookie":
        with web(server, **EN) as stranger:
            return stranger.post(path, data=fields)
    if case == "wrong token":
        return browser.post(path, data={**fields, "csrf": "x" * len(fields["csrf"])})
    if case == "no token":
        return browser.post(path, data={k: v for k, v in fields.items() if k != "csrf"})
    if case == "json body":
        return browser.post(path, json=fields)
    assert case == "text/plain body"
    body = "&".join(f"{k}={v}" for k, v in fields.items())
    return browser.post(path, content=body, headers={"Content-Type": "text/plain"})


class TestValidation:
    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"password2": NEW_PASSWORD + "!"}, "The two passwords do not match."),
            (
                {"password": "short", "password2": "short"},
                "The password must be at least 10 characters long.",
            ),
            ({"display_name": "   "}, "Write your name (one line, up to 200 characters)."),
            ({"display_name": ""}, "Write your name (one line, up to 200 characters)."),
            ({"display_name": "two\nlines"}, "Write your name (one line, up to 200 characters)."),
        ],
        ids=["passwords differ", "too short", "blank name", "empty name", "two-line name"],
    )
    def test_invitation_form_says_what_is_wrong(
        self, server: LiveServer, api: Api, tenant: Tenant, fields: dict[str, str], message: str
    ) -> None:
        address, path, _id = new_invitation(api, tenant)
        with web(server, **EN) as browser:
            csrf = open_form(browser, path)
            r = browser.post(path, data=accept_form(csrf, **fields))
            assert r.status_code == 400, r.text[:500]
            assert f'<p class="error" role="alert">{message}</p>' in r.text
            assert '<button type="submit" id="submit">Create my access</button>' in r.text
            assert address in r.text
            assert address not in user_emails(api, tenant)
            if "display_name" not in fields:
                assert 'value="Laura Martín"' in r.text  # what was typed is kept
            # The page carries a fresh token (and cookie): fixing the mistake just works.
            done = browser.post(path, data=accept_form(csrf_of(r)))
            assert done.status_code == 200, done.text[:500]
            assert "You are in" in done.text
        assert address in user_emails(api, tenant)

    @pytest.mark.parametrize(
        ("password", "password2", "message"),
        [
            (NEW_PASSWORD, NEW_PASSWORD + "!", "The two passwords do not match."),
            ("short", "short", "The password must be at least 10 characters long."),
        ],
        ids=["passwords differ", "too short"],
    )
    def test_reset_form_says_what_is_wrong(
        self,
        server: LiveServer,
        api: Api,
        tenant: Tenant,
        password: str,
        password2: str,
        message: str,
    ) -> None:
        path = new_reset(server, tenant, tenant.client.id)
        with web(server, **EN) as browser:
            csrf = open_form(browser, path)
            r = browser.post(
                path, data={"csrf": csrf, "password": password, "password2": password2}
            )
            assert r.status_code == 400, r.text[:500]
            assert f'<p class="error" role="alert">{message}</p>' in r.text
            assert api.as_(tenant.client).get("/me").status_code == 200
            fields = {"csrf": csrf_of(r), "password": NEW_PASSWORD, "password2": NEW_PASSWORD}
            done = browser.post(path, data=fields)
        assert done.status_code == 200, done.text[:500]
        assert api.as_(tenant.client).get("/me").status_code == 401

    def test_second_invitation_to_someone_already_in(
        self, server: LiveServer, api: Api, tenant: Tenant
    ) -> None:
        address, first, _id = new_invitation(api, tenant)
        _same, second, _id2 = new_invitation(api, tenant, address)
        with web(server, **EN) as browser:
            done = browser.post(first, data=accept_form(open_form(browser, first)))
            assert done.status_code == 200
            r = browser.post(second, data=accept_form(open_form(browser, second)))
        assert r.status_code == 409, r.text[:500]
        assert "That e-mail already has an account: log in." in r.text
        assert [u for u in user_emails(api, tenant) if u == address] == [address]

    def test_forgot_form_wants_an_email_address(self, server: LiveServer, tenant: Tenant) -> None:
        path = f"{portal(tenant.slug)}/forgot"
        with web(server, **EN) as browser:
            csrf = open_form(browser, path)
            r = browser.post(path, data={"csrf": csrf, "email": "not an address"})
        assert r.status_code == 400
        assert '<p class="error" role="alert">Write a valid e-mail address.</p>' in r.text
        assert 'value="not an address"' in r.text


EVIL_NAME = "<script>alert(1)</script> Observatory"
EVIL_SUPPORT = "<script>alert(2)</script>@evil.example"
EVIL_INVITEE = "<img/src=x/onerror=alert(3)>@evil.example"
EVIL_DISPLAY = '"><script>alert(4)</script>'
EVIL_TYPED = '"><script>alert(5)</script>'


def test_user_data_is_escaped_on_every_page(server: LiveServer, api: Api, tenant: Tenant) -> None:
    admin = api.as_(tenant.admin)
    changed = admin.patch("/observatory", json={"name": EVIL_NAME, "support_email": EVIL_SUPPORT})
    if changed.status_code == 422:  # should the API refuse it, the data could still get there
        from obs_support.server.models import Observatory

        with server.db.write() as session:
            session.execute(
                update(Observatory)
                .where(col(Observatory.slug) == tenant.slug)
                .values(name=EVIL_NAME, support_email=EVIL_SUPPORT)
            )
    else:
        assert changed.is_success, changed.text
    tenant.incident(api)
    address, invite_path, _id = new_invitation(api, tenant, EVIL_INVITEE)
    assert address == EVIL_INVITEE
    base = portal(tenant.slug)
    pages: dict[str, httpx.Response] = {}
    with web(server, **EN) as browser:
        pages["landing"] = browser.get(f"{base}/")
        pages["landing es"] = browser.get(f"{base}/?lang=es")
        pages["forgot form"] = browser.get(f"{base}/forgot")
        pages["forgot refused"] = browser.post(
            f"{base}/forgot", data={"csrf": "wrong", "email": EVIL_TYPED}
        )
        pages["forgot invalid"] = browser.post(
            f"{base}/forgot", data={"csrf": csrf_of(pages["forgot refused"]), "email": EVIL_TYPED}
        )
        pages["forgot done"] = browser.post(
            f"{base}/forgot",
            data={"csrf": csrf_of(pages["forgot invalid"]), "email": "nobody@example.org"},
        )
        pages["invite form"] = browser.get(invite_path)
        pages["invite invalid"] = browser.post(
            invite_path,
            data=accept_form(
                csrf_of(pages["invite form"]), display_name=EVIL_DISPLAY, password2="x"
            ),
        )
        pages["invite done"] = browser.post(
            invite_path,
            data=accept_form(csrf_of(pages["invite invalid"]), display_name=EVIL_DISPLAY),
        )
        pages["invite used"] = browser.get(invite_path)
        newcomer = next(u for u in admin.ok("GET", "/users") if u["email"] == EVIL_INVITEE)
        reset_path = new_reset(server, tenant, newcomer["id"])
        pages["reset form"] = browser.get(reset_path)
        pages["reset done"] = browser.post(
            reset_path,
            data={
                "csrf": csrf_of(pages["reset form"]),
                "password": NEW_PASSWORD,
                "password2": NEW_PASSWORD,
            },
        )
        pages["reset used"] = browser.get(reset_path)
        pages["incident link"] = browser.get(f"{base}/i/{tenant.slug}-1")
        pages["bad reference"] = browser.get(f"{base}/i/%3Cscript%3E")
    expected = {
        "forgot refused": 403,
        "forgot invalid": 400,
        "invite invalid": 400,
        "invite used": 410,
        "reset used": 410,
        "bad reference": 404,
    }
    for name, page in pages.items():
        assert page.status_code == expected.get(name, 200), f"{name}: {page.text[:500]}"
        body = page.text
        assert "<script" not in body.lower(), f"{name} has a script tag"
        assert "<img" not in body.lower(), f"{name} has an image tag (there is no logo)"
        for evil in (EVIL_NAME, EVIL_SUPPORT, EVIL_INVITEE, EVIL_DISPLAY, EVIL_TYPED):
            assert evil not in body, f"{name} shows {evil!r} unescaped"
        assert f"<h1>{escape(EVIL_NAME)}</h1>" in body, name
        assert str(escape(EVIL_SUPPORT)) in body, f"{name}: the contact line is missing"
    assert str(escape(EVIL_INVITEE)) in pages["invite form"].text
    assert f'value="{escape(EVIL_DISPLAY)}"' in pages["invite invalid"].text
    assert f'value="{escape(EVIL_TYPED)}"' in pages["forgot refused"].text
    for name in ("invite done", "reset done"):
        assert f"--email {escape(EVIL_INVITEE)}</pre>" in pages[name].text, name
    assert f"Ask {escape(EVIL_SUPPORT)} for a new one." in pages["invite used"].text


class TestNoIncidentData:
    def test_incident_links_and_landing_show_nothing_of_the_incident(
        self, server: LiveServer, api: Api, tenant: Tenant
    ) -> None:
        marker = f"zebra-{uuid.uuid4().hex[:10]}"
        made = tenant.incident(
            api,
            summary=f"Dome motor {marker}",
            message=f"The dome motor smokes {marker}.\nSerial {marker}-SN",
        )
        ref = made["ref"]
        assert ref == f"{tenant.slug}-1"
        base = portal(tenant.slug)
        with web(server, **EN) as browser:
            shown = browser.get(f"{base}/i/{ref}")
            by_number = browser.get(f"{base}/i/1")
            lowercase = browser.get(f"{base}/i/{ref.lower()}")
            missing = browser.get(f"{base}/i/{tenant.slug}-999")
            landing = browser.get(f"{base}/")
        for page in (shown, by_number, lowercase, missing, landing):
            assert page.status_code == 200
            assert marker not in page.text.lower()
            assert "dome motor" not in page.text.lower()
            assert "Account A" not in page.text
        for page in (shown, by_number, lowercase):
            assert f"<h2>Incident {ref}</h2>" in page.text
            assert f'<pre id="command">obs-support incident show {ref}</pre>' in page.text
        # An incident that does not exist looks the same: the page tells nothing about existence.
        assert missing.text.replace(f"{tenant.slug}-999", ref) == shown.text

    def test_unknown_places_and_other_observatories(
        self, server: LiveServer, api: Api, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        other_ref = other_tenant.incident(api)["ref"]
        other_address, other_path, _id = new_invitation(api, other_tenant)
        secret = other_path.rsplit("/", 1)[1]
        base = portal(tenant.slug)
        unknown = f"/o/zz{uuid.uuid4().hex[:8]}"
        with web(server, **EN) as browser:
            for path in (f"{unknown}/", f"{unknown}/forgot", f"{unknown}/invite/{secret}"):
                r = browser.get(path)
                assert r.status_code == 404, path
                assert "<h2>Page not found</h2>" in r.text
                assert other_tenant.slug not in r.text
            assert browser.get(f"{base}/i/{other_ref}").status_code == 404
            crossed = browser.get(f"{base}/invite/{secret}")
            assert crossed.status_code == 410
            assert "<h2>This invitation is not valid</h2>" in crossed.text
            assert other_address not in crossed.text
            csrf = open_form(browser, f"{base}/forgot")  # a valid token for this slug's path
            posted = browser.post(f"{base}/invite/{secret}", data=accept_form(csrf))
            assert posted.status_code == 410
            assert other_address not in user_emails(api, other_tenant)
            assert browser.get(other_path).status_code == 200  # still valid where it belongs
            forged = secrets.new_secret(secrets.INVITE_PREFIX)  # well formed, never issued
            for token in (forged, secret[:-1] + ("A" if secret[-1] != "A" else "B"), "nonsense"):
                r = browser.get(f"{base}/invite/{token}")
                assert r.status_code == 410, token
                assert "<h2>This invitation is not valid</h2>" in r.text
                assert f"<h1>Observatory {tenant.slug}</h1>" in r.text


def test_security_headers_on_every_page(server: LiveServer, api: Api, tenant: Tenant) -> None:
    _address, invite_path, _id = new_invitation(api, tenant)
    base = portal(tenant.slug)
    reset_path = new_reset(server, tenant, tenant.client.id)
    pages: list[httpx.Response] = []
    form_pages: list[httpx.Response] = []
    with web(server, **EN) as browser:
        for path in (f"{base}/forgot", invite_path, reset_path):
            form_pages.append(browser.get(path))
        csrf = open_form(browser, invite_path)
        form_pages.append(browser.post(invite_path, data=accept_form(csrf, password2="x")))
        pages.append(browser.post(invite_path, data=accept_form("wrong")))
        pages.append(browser.post(invite_path, data=accept_form(csrf_of(form_pages[-1]))))
        pages.append(browser.get(invite_path))  # used: 410
        for path in (
            f"{base}/",
            f"{base}/?lang=en",
            f"{base}/i/{tenant.slug}-1",
            f"{base}/i/not-a-ref",
            f"{base}/reset/obsrst_nothing",
            "/o/zz-nowhere/",
            "/invite",
        ):
            pages.append(browser.get(path))
        redirect = browser.get(f"/o/{tenant.slug}")
    assert redirect.status_code == 308
    assert redirect.headers["location"] == f"{base}/"
    statuses = sorted({p.status_code for p in pages + form_pages})
    assert statuses == [200, 400, 403, 404, 410]
    for page in pages + form_pages:
        where = f"{page.request.method} {page.request.url.path} -> {page.status_code}"
        assert page.headers["content-type"].startswith("text/html"), where
        assert page.headers.get("x-frame-options") == "DENY", where
        assert page.headers.get("referrer-policy") == "no-referrer", where
        assert page.headers.get("x-content-type-options") == "nosniff", where
        assert "no-store" in page.headers.get("cache-control", ""), where
        policy = {
            d.split()[0]: d.split()[1:]
            for d in page.headers.get("content-security-policy", "").split(";")
            if d.strip()
        }
        assert policy.get("default-src") == ["'none'"], where
        assert policy.get("style-src") == ["'unsafe-inline'"], where
        assert policy.get("img-src") == ["'self'"], where
        assert policy.get("form-action") == ["'self'"], where
        assert policy.get("frame-ancestors") == ["'none'"], where
        assert "script-src" not in policy, where
    for page in form_pages:
        where = f"{page.request.method} {page.request.url.path}"
        cookies = [c for c in page.headers.get_list("set-cookie") if c.startswith("obs_csrf=")]
        assert len(cookies) == 1, where
        value, *attributes = [part.strip() for part in cookies[0].split(";")]
        lowered = {a.lower() for a in attributes}
        assert value == f"obs_csrf={csrf_of(page)}", where
        assert "httponly" in lowered, where
        assert "samesite=strict" in lowered, where
        assert f"path={base}/" in lowered, where


class TestLanguage:
    @pytest.mark.parametrize(
        ("query", "accept", "default", "expected"),
        [
            ("?lang=en", None, "es", "en"),
            ("?lang=es", "en-GB,en;q=0.9", "en", "es"),
            ("", "en-GB,en;q=0.9", "es", "en"),
            ("", "fr-FR,fr;q=0.9,en;q=0.5", "es", "en"),
            ("", "es-ES", "en", "es"),
            ("", None, "es", "es"),
            ("", None, "en", "en"),
            ("", "de-DE", "en", "en"),
            ("?lang=de", None, "es", "es"),
        ],
    )
    def test_landing_page_language(
        self,
        server: LiveServer,
        api: Api,
        tenant: Tenant,
        query: str,
        accept: str | None,
        default: str,
        expected: str,
    ) -> None:
        api.as_(tenant.admin).ok("PATCH", "/observatory", json={"default_language": default})
        headers = {"Accept-Language": accept} if accept else {}
        with web(server, **headers) as browser:
            r = browser.get(f"{portal(tenant.slug)}/{query}")
        assert r.status_code == 200
        assert f'<html lang="{expected}">' in r.text
        if expected == "en":
            assert "<h3>1. Install the tool</h3>" in r.text
            assert f"<title>Observatory {tenant.slug} support</title>" in r.text
            assert "--email you@example.org</pre>" in r.text
        else:
            assert "<h3>1. Instala la herramienta</h3>" in r.text
            assert f"<title>Soporte de Observatory {tenant.slug}</title>" in r.text
            assert "--email tu@correo.example</pre>" in r.text

    def test_forms_follow_the_page_and_the_account_its_owner(
        self, server: LiveServer, api: Api, tenant: Tenant
    ) -> None:
        address, path, _id = new_invitation(api, tenant)
        with web(server, **EN) as browser:
            form = browser.get(path)
            assert '<option value="en" selected>English</option>' in form.text
            assert "Create my access" in form.text
            spanish = browser.get(f"{path}?lang=es")
            assert '<option value="es" selected>Español</option>' in spanish.text
            assert "Crear mi acceso" in spanish.text
            csrf = csrf_of(spanish)
            done = browser.post(path, data=accept_form(csrf, language="es"))
        assert done.status_code == 200
        assert "<h2>Ya tienes acceso</h2>" in done.text
        assert '<html lang="es">' in done.text
        newcomer = next(
            u for u in api.as_(tenant.admin).ok("GET", "/users") if u["email"] == address
        )
        assert newcomer["language"] == "es"

    def test_a_language_chosen_in_the_address_stays_through_forms_and_links(
        self, server: LiveServer, tenant: Tenant
    ) -> None:
        base = portal(tenant.slug)
        with web(server, **EN) as browser:  # the browser prefers English
            landing = browser.get(f"{base}/?lang=es")
            assert f'href="{base}/forgot?lang=es"' in landing.text
            form = browser.get(f"{base}/forgot?lang=es")
            assert f'action="{base}/forgot?lang=es"' in form.text
            wrong = browser.post(
                f"{base}/forgot?lang=es", data={"csrf": csrf_of(form), "email": "not an address"}
            )
            assert wrong.status_code == 400
            assert '<html lang="es">' in wrong.text
            assert f'action="{base}/forgot?lang=es"' in wrong.text
            sent = browser.post(
                f"{base}/forgot?lang=es",
                data={"csrf": csrf_of(wrong), "email": "nadie@example.org"},
            )
            assert sent.status_code == 200 and '<html lang="es">' in sent.text
            assert f'href="{base}/?lang=es"' in sent.text
            plain = browser.get(f"{base}/forgot")  # nothing asked: the browser's language
            assert '<html lang="en">' in plain.text
            assert f'action="{base}/forgot"' in plain.text


class TestExpired:
    def test_expired_invitation_is_a_branded_410(
        self, server: LiveServer, api: Api, tenant: Tenant
    ) -> None:
        admin = api.as_(tenant.admin)
        admin.ok(
            "PATCH",
            "/observatory",
            json={"accent_color": "#0b5394", "support_email": "help@teide.example"},
        )
        address, path, inv_id = new_invitation(api, tenant)
        with web(server, **EN) as browser:
            csrf = open_form(browser, path)  # opened while still valid...
            with server.db.write() as session:  # ...and it expires before being sent
                session.execute(
                    update(Invitation)
                    .where(col(Invitation.id) == inv_id)
                    .values(expires_at=utcnow() - timedelta(minutes=1))
                )
            shown = browser.get(path)
            posted = browser.post(path, data=accept_form(csrf))
        for page in (shown, posted):
            assert page.status_code == 410
            assert f"<h1>Observatory {tenant.slug}</h1>" in page.text
            assert "--accent: #0b5394;" in page.text
            assert "<h2>This invitation is not valid</h2>" in page.text
            assert "Ask help@teide.example for a new one." in page.text
            assert "<form" not in page.text
            assert address not in page.text
        assert address not in user_emails(api, tenant)

    def test_expired_reset_link_is_a_410(
        self, server: LiveServer, api: Api, tenant: Tenant
    ) -> None:
        path = new_reset(server, tenant, tenant.client.id, valid=False)
        with web(server, **EN) as browser:
            shown = browser.get(path)
        assert shown.status_code == 410
        assert "<h2>This link is not valid</h2>" in shown.text
        assert f"<h1>Observatory {tenant.slug}</h1>" in shown.text
        assert api.as_(tenant.client).get("/me").status_code == 200
