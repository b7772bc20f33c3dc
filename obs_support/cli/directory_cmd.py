"""`telescope`, `account`, `invite`, `token`, `user` — the observatory's directory."""

from __future__ import annotations

import typer

from obs_support.cli import values
from obs_support.cli.context import print_json, say, state
from obs_support.cli.incident_cmd import _account_id, _model
from obs_support.client.errors import InvalidInput, NotFound

JsonOpt = typer.Option(False, "--json", help="Print the result as JSON (as the API returns it).")

telescope_app = typer.Typer(help="Telescopes of the client accounts.", no_args_is_help=True)
account_app = typer.Typer(help="Client accounts (staff).", no_args_is_help=True)
token_app = typer.Typer(help="Your API tokens.", no_args_is_help=True)
user_app = typer.Typer(help="People in the observatory (staff).", no_args_is_help=True)


@telescope_app.command("list")
def telescope_list(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """Telescopes you can file incidents about.

    Example: obs-support telescope list
    """
    from obs_support.cli import render

    st = state(ctx)
    scopes = st.client().telescopes()
    if as_json:
        print_json(scopes)
        return
    t = st.t
    render.simple_table(
        ["id", t("col_name"), t("col_model"), t("col_mount"), t("col_location")],
        [[str(s.id), s.name, s.model or "—", s.mount or "—", s.location or "—"] for s in scopes],
    )


@telescope_app.command("add")
def telescope_add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Unique within the client account."),
    account: str = typer.Option(..., "--account", help="The client account's name or id."),
    model: str | None = typer.Option(None, "--model"),
    mount: str | None = typer.Option(None, "--mount"),
    location: str | None = typer.Option(None, "--location", help="Pier or dome."),
    as_json: bool = JsonOpt,
) -> None:
    """Register a telescope in a client account (staff).

    Example: obs-support telescope add "C14" --account "Agrupación" --location "Cúpula 2"
    """
    from obs_support import schemas

    st = state(ctx)
    client = st.client()
    body = _model(
        schemas.TelescopeCreate,
        client_account_id=_account_id(client, account),
        name=name,
        model=model,
        mount=mount,
        location=location,
    )
    created = client.create_telescope(body)
    if as_json:
        print_json(created)
    else:
        say(st.t("added", what=st.t("col_telescope"), name=created.name))


@telescope_app.command("show")
def telescope_show(
    ctx: typer.Context,
    name: str = typer.Argument(
        ..., help="The telescope's name (or id).", autocompletion=values.complete_telescope
    ),
    as_json: bool = JsonOpt,
) -> None:
    """A telescope and its whole incident history, newest first.

    Example: obs-support telescope show "C14"
    """
    from obs_support.cli import render

    st = state(ctx)
    client = st.client()
    matches = [s for s in client.telescopes() if name.casefold() in (s.name.casefold(), str(s.id))]
    if not matches:
        raise NotFound(f"no telescope named {name!r}", code="not_found")
    if len(matches) > 1:
        raise InvalidInput(f"{len(matches)} telescopes are named {name!r}; use its id")
    scope = matches[0]
    history = list(client.iter_incidents(telescope=scope.id, sort="-created", limit=200))
    if as_json:
        print_json(
            {
                "telescope": scope.model_dump(mode="json"),
                "incidents": [i.model_dump(mode="json") for i in history],
            }
        )
        return
    t = st.t
    render.simple_table(
        [t("col_name"), t("col_model"), t("col_mount"), t("col_location")],
        [[scope.name, scope.model or "—", scope.mount or "—", scope.location or "—"]],
    )
    say("")
    say(t("telescope_history"))
    if history:
        render.incidents_table(t, history, show_account=False)
    else:
        say(t("none_found"))


@account_app.command("list")
def account_list(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """Client accounts (clients see their own).

    Example: obs-support account list --json
    """
    from obs_support.cli import render

    st = state(ctx)
    accounts = st.client().accounts()
    if as_json:
        print_json(accounts)
        return
    render.simple_table(["id", st.t("col_name")], [[str(a.id), a.name] for a in accounts])


@account_app.command("add")
def account_add(
    ctx: typer.Context, name: str = typer.Argument(...), as_json: bool = JsonOpt
) -> None:
    """Create a client account (staff).

    Example: obs-support account add "Universidad de Leiden"
    """
    from obs_support import schemas

    st = state(ctx)
    created = st.client().create_account(_model(schemas.AccountCreate, name=name))
    if as_json:
        print_json(created)
    else:
        say(st.t("added", what=st.t("col_account"), name=created.name))


def invite(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="Who to invite."),
    role: str = typer.Option("client", "--role", help="client, staff or admin."),
    account: str | None = typer.Option(None, "--account", help="For clients: their account."),
    language: str | None = typer.Option(
        None, "--language", help="es or en: the e-mail's language (default: the observatory's)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Invite someone: the server e-mails them a link; it is printed here too.

    Example: obs-support invite laura@example.org --role client --account "Agrupación Astronómica"
    """
    from obs_support import schemas

    st = state(ctx)
    client = st.client()
    account_id = _account_id(client, account) if account else None
    issued = client.invite(
        _model(
            schemas.InvitationCreate,
            email=email,
            role=role,
            client_account_id=account_id,
            language=language,
        )
    )
    if as_json:
        print_json(issued)
        return
    say(st.t("invited", email=issued.email, role=st.t.label(issued.role)))
    typer.echo(issued.link)


@token_app.command("list")
def token_list(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """Your API tokens (never their secrets).

    Example: obs-support token list
    """
    from obs_support.cli import render

    st = state(ctx)
    tokens = st.client().tokens()
    if as_json:
        print_json(tokens)
        return
    t = st.t
    render.simple_table(
        ["id", t("col_name"), "prefix", t("col_created"), t("col_last_used")],
        [
            [
                str(x.id),
                x.name,
                x.prefix + "…",
                t.age(x.created_at),
                t.age(x.last_used_at) if x.last_used_at else t("never"),
            ]
            for x in tokens
        ],
    )


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context, token_id: int = typer.Argument(..., min=1, max=2**31 - 1)
) -> None:
    """Revoke one of your tokens; it stops working at once.

    Example: obs-support token revoke 12
    """
    st = state(ctx)
    st.client().revoke_token(token_id)
    say(st.t("revoked", id=token_id))


@user_app.command("list")
def user_list(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """People in the observatory (staff; clients see themselves).

    Example: obs-support user list
    """
    from obs_support.cli import render

    st = state(ctx)
    people = st.client().users()
    if as_json:
        print_json(people)
        return
    t = st.t
    render.simple_table(
        ["id", t("col_name"), t("col_email"), t("col_role"), t("col_active")],
        [
            [str(u.id), u.display_name, u.email, t.label(u.role), t("yes") if u.active else t("no")]
            for u in people
        ],
    )


@user_app.command("deactivate")
def user_deactivate(
    ctx: typer.Context, email: str = typer.Argument(...), as_json: bool = JsonOpt
) -> None:
    """Deactivate a user (admin): their tokens stop working at once.

    Example: obs-support user deactivate jorge@example.org
    """
    from obs_support import schemas

    st = state(ctx)
    client = st.client()
    matches = [u for u in client.users() if u.email.casefold() == email.strip().casefold()]
    if not matches:
        raise NotFound(f"no user with e-mail {email!r}", code="not_found")
    updated = client.update_user(matches[0].id, schemas.UserUpdate(active=False))
    if as_json:
        print_json(updated)
    else:
        say(st.t("deactivated", email=updated.email))
