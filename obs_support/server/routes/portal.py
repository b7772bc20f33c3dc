"""The observatory's public web pages: its branded landing page, invitations, password resets.

Server-rendered (Jinja2, autoescaped), no scripts. Forms carry a CSRF token that must match
a SameSite=Strict cookie set with the form (double submit). No page shows incident data:
the incident links in e-mails open a page that says how to see it from the terminal.
"""

from __future__ import annotations

import hmac
import re
import secrets as pysecrets
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import select
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from obs_support import domain, schemas
from obs_support.domain import Language
from obs_support.server import auth
from obs_support.server.errors import ApiError
from obs_support.server.mail.letter import environment
from obs_support.server.messages import preferred
from obs_support.server.models import Observatory
from obs_support.server.services import auth as auth_service
from obs_support.server.services import passwords
from obs_support.server.state import AppState, StateDep
from obs_support.server.texts import t

router = APIRouter(include_in_schema=False)

CSRF_COOKIE = "obs_csrf"
FORM_MAX_BYTES = 16 * 1024
_ACCENT = re.compile(r"^#[0-9a-fA-F]{6}$")
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}


def _observatory(state: AppState, slug: str) -> Observatory | None:
    if not (slug.isascii() and slug.replace("-", "").isalnum() and len(slug) <= 20):
        return None
    with state.db.read() as session:
        return session.exec(select(Observatory).where(Observatory.slug == slug.upper())).first()


def _language(request: Request, obs: Observatory | None) -> Language:
    asked = request.query_params.get("lang")
    if asked in ("es", "en"):
        return "en" if asked == "en" else "es"
    if (preferred_language := preferred(request.headers.get("accept-language"))) is not None:
        return preferred_language
    return "en" if obs is not None and obs.default_language == "en" else "es"


class Page:
    """What every portal page needs: the observatory's branding and the language."""

    def __init__(self, request: Request, state: AppState, obs: Observatory | None) -> None:
        self.state = state
        self.obs = obs
        self.lang = _language(request, obs)
        # A language chosen in the address (?lang=en) goes on to the forms and links of the
        # page, so sending a form or following a link does not fall back to the browser's.
        asked = request.query_params.get("lang")
        self.keep = f"?lang={asked}" if asked in ("es", "en") else ""
        self.public_url = state.settings.public_url.rstrip("/")
        self.base = f"/o/{obs.slug.lower()}" if obs else ""

    def t(self, key: str, **fields: object) -> str:
        return t(key, self.lang, **fields)

    def render(
        self, template: str, status: int = 200, *, csrf: str | None = None, **values: Any
    ) -> HTMLResponse:
        obs = self.obs
        accent = obs.accent_color if obs and _ACCENT.match(obs.accent_color) else "#1f6feb"
        if "action" in values:
            values["action"] = f"{values['action']}{self.keep}"
        context = {
            "t": self.t,
            "lang": self.lang,
            "obs_name": obs.name if obs else "obs-support",
            "slug": obs.slug.lower() if obs else "",
            "accent": accent,
            "has_logo": bool(obs and obs.logo),
            "support_email": obs.support_email if obs else None,
            "public_url": self.public_url,
            "base": self.base,
            "keep": self.keep,
            "csrf": csrf or "",
            "error": None,
            "values": {},
            "command": None,
            "more": None,
            **values,
        }
        html = environment().get_template(f"portal/{template}").render(context)
        response = HTMLResponse(html, status_code=status, headers=_HEADERS)
        if csrf is not None:
            response.set_cookie(
                CSRF_COOKIE,
                csrf,
                path=self.base + "/",
                httponly=True,
                samesite="strict",
                secure=self.public_url.startswith("https://"),
            )
        return response

    def not_found(self) -> HTMLResponse:
        return self.render(
            "done.html",
            404,
            heading=self.t("not_found_heading"),
            line="",
            command=None,
            more=None,
        )

    def login_command(self, email: str) -> str:
        slug = self.obs.slug.lower() if self.obs else ""
        return f"obs-support login {self.public_url} --observatory {slug} --email {email}"


async def _form(request: Request) -> tuple[dict[str, str], bool]:
    """The posted fields, and whether the CSRF token matches the cookie."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        return {}, False
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > FORM_MAX_BYTES:
            return {}, False
    try:
        parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return {}, False
    fields = {k: v[0] for k, v in parsed.items() if v}
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = fields.pop("csrf", "")
    ok = bool(cookie) and bool(sent) and hmac.compare_digest(cookie.encode(), sent.encode())
    return fields, ok


def _new_csrf() -> str:
    return pysecrets.token_urlsafe(32)


def _first_error(page: Page, exc: ValidationError) -> str:
    where = str(exc.errors()[0]["loc"][-1]) if exc.errors() else ""
    return page.t(
        {"display_name": "error_name", "password": "error_password", "email": "error_email"}.get(
            where, "error_password"
        )
    )


@router.get("/o/{slug}")
def landing_redirect(slug: str) -> Response:
    return RedirectResponse(f"/o/{slug.lower()}/", status_code=308)


@router.get("/o/{slug}/", response_class=HTMLResponse)
def landing(slug: str, request: Request, state: StateDep) -> HTMLResponse:
    page = Page(request, state, _observatory(state, slug))
    if page.obs is None:
        return page.not_found()
    return page.render("landing.html")


@router.get("/o/{slug}/logo")
def logo(slug: str, state: StateDep) -> Response:
    """The logo is public branding, shown on the portal and in e-mails."""
    obs = _observatory(state, slug)
    if obs is None or obs.logo is None or obs.logo_content_type is None:
        return Response(status_code=404, headers=_HEADERS)
    return Response(
        obs.logo,
        media_type=obs.logo_content_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=300"},
    )


@router.get("/o/{slug}/i/{ref}", response_class=HTMLResponse)
def incident_link(slug: str, ref: str, request: Request, state: StateDep) -> HTMLResponse:
    """Where e-mailed incident links land: how to open it, and nothing about it."""
    page = Page(request, state, _observatory(state, slug))
    try:
        ref_slug, number = domain.parse_reference(ref)
    except ValueError:
        return page.not_found()
    if page.obs is None or ref_slug not in (None, page.obs.slug):
        return page.not_found()
    canonical = domain.incident_reference(page.obs.slug, number)
    return page.render(
        "done.html",
        heading=page.t("incident_heading", ref=canonical),
        line=page.t("incident_line"),
        command=f"obs-support incident show {canonical}",
        more=None,
    )


# --- invitations -----------------------------------------------------------------------------


def _invitation_email(state: AppState, obs: Observatory, secret: str) -> str | None:
    with state.db.read() as session:
        inv = auth_service.pending_invitation(session, secret)
    return inv.email if inv is not None and inv.observatory_id == obs.id else None


def _invalid_invitation(page: Page) -> HTMLResponse:
    obs = page.obs
    contact = obs.support_email if obs and obs.support_email else page.t("the_observatory")
    return page.render(
        "done.html",
        410,
        heading=page.t("invite_invalid_heading"),
        line=page.t("invite_invalid_line", contact=contact),
        command=None,
        more=None,
    )


@router.get("/o/{slug}/invite/{secret}", response_class=HTMLResponse)
def invitation_form(slug: str, secret: str, request: Request, state: StateDep) -> HTMLResponse:
    page = Page(request, state, _observatory(state, slug))
    if page.obs is None:
        return page.not_found()
    email = _invitation_email(state, page.obs, secret)
    if email is None:
        return _invalid_invitation(page)
    return page.render(
        "invite.html", csrf=_new_csrf(), email=email, action=f"{page.base}/invite/{secret}"
    )


@router.post("/o/{slug}/invite/{secret}", response_class=HTMLResponse)
async def invitation_submit(
    slug: str, secret: str, request: Request, state: StateDep
) -> HTMLResponse:
    obs = await run_in_threadpool(_observatory, state, slug)
    page = Page(request, state, obs)
    if obs is None:
        return page.not_found()
    fields, csrf_ok = await _form(request)
    email = await run_in_threadpool(_invitation_email, state, obs, secret)
    if email is None:
        return _invalid_invitation(page)

    def again(error: str, status: int = 400) -> HTMLResponse:
        return page.render(
            "invite.html",
            status,
            csrf=_new_csrf(),
            email=email,
            action=f"{page.base}/invite/{secret}",
            error=error,
            values={k: v for k, v in fields.items() if k in ("display_name", "language")},
        )

    if not csrf_ok:
        return again(page.t("error_csrf"), 403)
    if fields.get("password", "") != fields.get("password2", ""):
        return again(page.t("error_passwords_differ"))
    try:
        body = schemas.InvitationAccept(
            token=secret,
            display_name=fields.get("display_name", ""),
            password=fields.get("password", ""),
            language="en" if fields.get("language") == "en" else "es",
        )
    except ValidationError as exc:
        return again(_first_error(page, exc))
    try:
        user, _ = await run_in_threadpool(
            lambda: auth_service.accept_invitation(
                state, auth.ip_key(request), body, observatory_id=obs.id, issue=False
            )
        )
    except ApiError as exc:
        if exc.status == 429:
            return again(page.t("error_busy"), 429)
        if exc.code == "email_taken":
            return again(page.t("error_taken"), 409)
        return _invalid_invitation(page)
    page.lang = "en" if user.language == "en" else "es"
    return page.render(
        "done.html",
        heading=page.t("invite_done_heading"),
        line=page.t("invite_done_line"),
        command=page.login_command(user.email),
        more=None,
    )


# --- forgotten passwords -------------------------------------------------------------------


@router.get("/o/{slug}/forgot", response_class=HTMLResponse)
def forgot_form(slug: str, request: Request, state: StateDep) -> HTMLResponse:
    page = Page(request, state, _observatory(state, slug))
    if page.obs is None:
        return page.not_found()
    return page.render("forgot.html", csrf=_new_csrf(), action=f"{page.base}/forgot")


@router.post("/o/{slug}/forgot", response_class=HTMLResponse)
async def forgot_submit(slug: str, request: Request, state: StateDep) -> HTMLResponse:
    obs = await run_in_threadpool(_observatory, state, slug)
    page = Page(request, state, obs)
    if obs is None:
        return page.not_found()
    fields, csrf_ok = await _form(request)

    def again(error: str, status: int = 400) -> HTMLResponse:
        values = {"email": fields.get("email", "")}
        return page.render(
            "forgot.html",
            status,
            csrf=_new_csrf(),
            action=f"{page.base}/forgot",
            error=error,
            values=values,
        )

    if not csrf_ok:
        return again(page.t("error_csrf"), 403)
    try:
        body = schemas.PasswordForgot(email=fields.get("email", ""), observatory=obs.slug)
    except ValidationError as exc:
        return again(_first_error(page, exc))
    try:
        observatory_id = await run_in_threadpool(passwords.ask, state, auth.ip_key(request), body)
    except ApiError as exc:
        if exc.status == 429:
            return again(page.t("error_busy"), 429)
        raise
    done = page.render(
        "done.html", heading=page.t("forgot_heading"), line=page.t("forgot_done"), command=None
    )
    if observatory_id is not None:  # looked up once the page is on its way, as in the API
        done.background = BackgroundTask(passwords.send_link, state, observatory_id, body.email)
    return done


def _reset_email(state: AppState, obs: Observatory, secret: str) -> str | None:
    """The e-mail of the user a still-valid reset link is for, else None."""
    with state.db.read() as session:
        found = passwords.find_valid(session, secret)
    return found[1].email if found is not None and found[1].observatory_id == obs.id else None


def _invalid_reset(page: Page) -> HTMLResponse:
    return page.render(
        "done.html",
        410,
        heading=page.t("reset_invalid_heading"),
        line=page.t("reset_invalid_line"),
        command=None,
        more=None,
    )


@router.get("/o/{slug}/reset/{secret}", response_class=HTMLResponse)
def reset_form(slug: str, secret: str, request: Request, state: StateDep) -> HTMLResponse:
    page = Page(request, state, _observatory(state, slug))
    if page.obs is None:
        return page.not_found()
    if _reset_email(state, page.obs, secret) is None:
        return _invalid_reset(page)
    return page.render("reset.html", csrf=_new_csrf(), action=f"{page.base}/reset/{secret}")


@router.post("/o/{slug}/reset/{secret}", response_class=HTMLResponse)
async def reset_submit(slug: str, secret: str, request: Request, state: StateDep) -> HTMLResponse:
    obs = await run_in_threadpool(_observatory, state, slug)
    page = Page(request, state, obs)
    if obs is None:
        return page.not_found()
    fields, csrf_ok = await _form(request)
    email = await run_in_threadpool(_reset_email, state, obs, secret)
    if email is None:
        return _invalid_reset(page)

    def again(error: str, status: int = 400) -> HTMLResponse:
        return page.render(
            "reset.html",
            status,
            csrf=_new_csrf(),
            action=f"{page.base}/reset/{secret}",
            error=error,
        )

    if not csrf_ok:
        return again(page.t("error_csrf"), 403)
    if fields.get("password", "") != fields.get("password2", ""):
        return again(page.t("error_passwords_differ"))
    try:
        body = schemas.PasswordReset(token=secret, password=fields.get("password", ""))
    except ValidationError as exc:
        return again(_first_error(page, exc))
    try:
        await run_in_threadpool(
            lambda: passwords.reset(
                state, auth.ip_key(request), body.token, body.password, issue=False
            )
        )
    except ApiError as exc:
        if exc.status == 429:
            return again(page.t("error_busy"), 429)
        return _invalid_reset(page)
    return page.render(
        "done.html",
        heading=page.t("reset_heading"),
        line=page.t("reset_done"),
        command=page.login_command(email),
    )


# --- the old link form ---------------------------------------------------------------------


@router.get("/invite", response_class=HTMLResponse)
def legacy_invitation_page(request: Request, state: StateDep) -> HTMLResponse:
    """Links from older invitation e-mails (`/invite#…`): send them to the right place."""
    with state.db.read() as session:
        observatories = session.exec(select(Observatory).limit(2)).all()
    only = observatories[0] if len(observatories) == 1 else None
    page = Page(request, state, only)
    return page.render(
        "done.html",
        heading=page.t("invite_heading", observatory=only.name if only else "obs-support"),
        line=page.t("portal_invited"),
        command="obs-support accept-invite 'LINK'",
        more=None,
    )
