"""`incident watch` — print what happens on your incidents as it happens."""

from __future__ import annotations

import json
import sys

import typer

from obs_support.cli.context import state
from obs_support.cli.output import stderr


def watch(
    ctx: typer.Context,
    ref: str | None = typer.Argument(None, help="Only this incident (TEIDE-42 or 42)."),
    as_json: bool = typer.Option(
        False, "--json", help="One JSON object per line, as the API streams it."
    ),
) -> None:
    """Follow new incidents, comments, status changes and files live, until Ctrl-C.

    It reconnects by itself after a dropped connection and misses nothing in between.

    Example: obs-support incident watch TEIDE-42
    """
    from rich.text import Text

    from obs_support import schemas
    from obs_support.cli import render
    from obs_support.cli.output import stdout
    from obs_support.client.live import follow

    st = state(ctx)
    client = st.client()
    t = st.t
    canonical = client.incident(ref).ref if ref else None

    def on_state(change: str) -> None:
        if change == "reconnecting":
            stderr.print(t("reconnecting"), markup=False, style="yellow")

    if not as_json:
        stderr.print(t("watching", what=canonical or t("watch_all")), markup=False, style="dim")
    try:
        for message in follow(client, incident=canonical, on_state=on_state):
            if as_json:
                sys.stdout.write(json.dumps(message.data, ensure_ascii=False) + "\n")
                sys.stdout.flush()
                continue
            item = schemas.LiveEvent.model_validate(message.data)
            assignee = item.incident.assignee
            names = {assignee.id: assignee.display_name} if assignee else {}
            line, body = render.event_line(t, item.event, names)
            stdout.print(
                Text.assemble(
                    Text(item.incident.ref, style="bold"),
                    "  ",
                    render.status_text(t, item.incident.status.value),
                    "  ",
                    line,
                    "  ",
                    Text(item.incident.summary, style="italic"),
                )
            )
            if body is not None:
                stdout.print(Text("    ").append_text(body))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
