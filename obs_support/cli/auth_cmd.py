"""`login`, `logout`, `whoami`, `accept-invite` — getting in and staying in."""

from __future__ import annotations

import re
import sys
from urllib.parse import urlsplit

import typer

from obs_support.cli.context import die, print_json, say, state
from obs_support.cli.output import stderr
from obs_support.client.config import Profile
from obs_support.client.errors import ClientError, InvalidInput


def _password_from_stdin() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        die("--password-stdin: nothing on standard input", code=2)
    return password


def _normalise_url(url: str) -> str:
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        die(f"{url!r} is not a server address like https://support.example.org", code=2)
    return url


def _store(
    ctx: typer.Context, url: str, token: str, email: str | None, observatory: str | None
) -> None:
    st = state(ctx)
    st.tokens.set(st.profile, token)
    st.config.save(Profile(name=st.profile, url=url, email=email, observatory=observatory))


def login(
    ctx: typer.Context,
    url: str | None = typer.Argument(
        None, help="The support server's address (default: this profile's)."
    ),
    email: str | None = typer.Option(None, "--email", "-e", help="Your e-mail (asked if omitted)."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from stdin."
    ),
    token: str | None = typer.Option(None, "--token", help="Use an existing API token instead."),
    observatory: str | None = typer.Option(
        None, "--observatory", help="Observatory code, when the server hosts several."
    ),
    forgot: str | None = typer.Option(
        None, "--forgot", metavar="EMAIL", help="E-mail me a link to choose a new password."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the logged-in user as JSON."),
) -> None:
    """Log in to a support server and remember it (the token goes to the OS keyring).

    Example: obs-support login https://soporte.teide.example --email laura@example.org
    """
    from obs_support.client.api import ObsClient

    st = state(ctx)
    saved = st.saved_profile()
    if url is None:
        if saved is None:
            die("give the server's address: obs-support login https://…", code=2)
        url = saved.url
        observatory = observatory or saved.observatory
    url = _normalise_url(url)
    if forgot is not None:
        with ObsClient(url, language=st.t.language) as anonymous:
            try:
                anonymous.forgot_password(forgot.strip(), observatory)
            except ValueError as exc:
                raise InvalidInput(_first_error(exc)) from None
        say(st.t("reset_sent", email=forgot.strip()))
        return
    with ObsClient(url, language=st.t.language) as anonymous:
        if token is None:
            email = email or typer.prompt("E-mail")
            password = (
                _password_from_stdin()
                if password_stdin
                else typer.prompt("Password", hide_input=True)
            )
            try:
                issued = anonymous.login(email, password, observatory)
            except ValueError as exc:  # refused before sending (e.g. not an e-mail address)
                raise InvalidInput(_first_error(exc)) from None
            token = issued.token
    _welcome(ctx, url, token, as_json)


def logout(ctx: typer.Context) -> None:
    """Forget this profile's token here and revoke it on the server.

    Example: obs-support logout --profile teide
    """
    from obs_support.client.api import ObsClient

    st = state(ctx)
    saved = st.saved_profile()
    token = st.tokens.get(st.profile)
    if saved and token:
        try:
            with ObsClient(saved.url, token, retries=1, language=st.t.language) as client:
                mine = [t for t in client.tokens() if token.startswith(t.prefix)]
                for t in mine:
                    client.revoke_token(t.id)
        except ClientError as exc:
            stderr.print(
                f"note: could not revoke the token on the server: {exc.message}", markup=False
            )
    st.tokens.delete(st.profile)
    st.config.remove(st.profile)
    say(st.t("logged_out", profile=st.profile))


def whoami(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Who you are logged in as, where.

    Example: obs-support whoami --json
    """
    st = state(ctx)
    me = st.client().me()
    if as_json:
        print_json(me)
        return
    say(
        f"{me.display_name} <{me.email}> · {st.t.label(me.role)} · {me.observatory.name} "
        f"({me.observatory.slug}) · {st.client().base_url}"
    )


def _split_invitation(link: str) -> tuple[str, str]:
    """(server URL, secret) from an invitation link, new (/o/<slug>/invite/…) or old (/invite#…)."""
    found = re.fullmatch(r"(.+?)/o/[^/]+/invite/([A-Za-z0-9_]+)/?", link.strip())
    if found:
        return found[1], found[2]
    base, sep, secret = link.strip().partition("/invite#")
    if not sep or not secret:
        die("that is not an invitation link (it should contain /o/…/invite/…)", code=2)
    return base, secret


def accept_invite(
    ctx: typer.Context,
    link: str = typer.Argument(..., help="The link from the invitation e-mail."),
    name: str | None = typer.Option(None, "--name", help="Your name as others will see it."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from stdin."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the new user as JSON."),
) -> None:
    """Accept an invitation: choose your name and password, and log in.

    Example: obs-support accept-invite 'https://soporte.teide.example/o/teide/invite/obsinv_…'
    """
    from obs_support.client.api import ObsClient

    base, secret = _split_invitation(link)
    url = _normalise_url(base)
    name = name or typer.prompt("Name")
    if password_stdin:
        password = _password_from_stdin()
    else:
        password = typer.prompt(
            "Password (at least 10 characters)", hide_input=True, confirmation_prompt=True
        )
    with ObsClient(url, language=state(ctx).t.language) as anonymous:
        try:
            issued = anonymous.accept_invitation(secret, name, password)
        except ValueError as exc:
            raise InvalidInput(_first_error(exc)) from None
    _welcome(ctx, url, issued.token, as_json)


def _welcome(ctx: typer.Context, url: str, token: str, as_json: bool) -> None:
    """Check the token works, remember it for this profile, and say who is logged in."""
    from obs_support.client.api import ObsClient

    st = state(ctx)
    with ObsClient(url, token, language=st.t.language) as client:
        me = client.me()
    _store(ctx, url, token, me.email, me.observatory.slug)
    if as_json:
        print_json(me)
    else:
        say(
            st.t(
                "logged_in", name=me.display_name, role=st.t.label(me.role), obs=me.observatory.name
            )
        )


def _first_error(exc: ValueError) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError) and exc.errors():
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        return f"{field}: {err['msg'].removeprefix('Value error, ')}"
    return str(exc).splitlines()[0]
