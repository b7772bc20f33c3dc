"""`notifications` — what happened on your incidents, and which notices also come by e-mail."""

from __future__ import annotations

import typer

from obs_support.cli.context import die, print_json, say, state
from obs_support.domain import NotifyKind

app = typer.Typer(help="Your notifications, and which ones come by e-mail.")

JsonOpt = typer.Option(False, "--json", help="Print the result as JSON (as the API returns it).")


@app.callback(invoke_without_command=True)
def notifications(
    ctx: typer.Context,
    unread: bool = typer.Option(False, "--unread", help="Only the ones not read yet."),
    read_all: bool = typer.Option(False, "--read-all", help="Mark every notification read."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=200, help="How many to show."),
    as_json: bool = JsonOpt,
) -> None:
    """Your notifications, newest first, with the unread count.

    Example: obs-support notifications --unread
    """
    if ctx.invoked_subcommand is not None:
        return
    from obs_support.cli import render

    st = state(ctx)
    client = st.client()
    t = st.t
    if read_all:
        marked = client.mark_read()
        if as_json:
            print_json(marked)
        else:
            say(t("marked_read", n=marked.marked, left=marked.unread))
        return
    page = client.notifications(unread=unread, limit=limit)
    if as_json:
        print_json(page)
        return
    if not page.items:
        say(t("no_notifications"))
        return
    render.notifications_table(t, page.items)
    say(t("unread_count", n=page.unread))


@app.command("settings")
def settings(
    ctx: typer.Context,
    email_on: list[str] = typer.Option(
        [], "--email-on", help="A kind to receive by e-mail (repeatable)."
    ),
    email_off: list[str] = typer.Option(
        [], "--email-off", help="A kind to stop receiving by e-mail (repeatable)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Show or change which kinds of notification also arrive by e-mail.

    Kinds: new_incident, client_reply, staff_reply, status_changed. The in-app notice is kept.

    Example: obs-support notifications settings --email-off new_incident
    """
    from obs_support.cli import render

    st = state(ctx)
    client = st.client()
    changes: dict[str, bool] = {}
    for names, wanted in ((email_on, True), (email_off, False)):
        for name in names:
            changes[_kind(name, "--email-on" if wanted else "--email-off").value] = wanted
    current = (
        client.update_notification_settings(changes) if changes else client.notification_settings()
    )
    if as_json:
        print_json(current)
        return
    render.simple_table(
        [st.t("col_kind"), "", st.t("col_email_on")],
        [[k.value, st.t.label(k), st.t("yes" if on else "no")] for k, on in current.email.items()],
    )
    if changes:
        say(st.t("settings_saved"))


def _kind(text: str, option: str) -> NotifyKind:
    from obs_support import domain

    try:
        return domain.parse_notify_kind(text)
    except ValueError as exc:
        die(f"{option}: {exc}", code=2)
