"""Tables and timelines for people. User text is always shown literally (rich `Text`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from rich.console import Group
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from obs_support.cli.i18n import Translator
from obs_support.cli.output import stdout

if TYPE_CHECKING:
    from obs_support import schemas

PRIORITY_STYLE = {10: "bold red", 5: "yellow", 0: "dim"}
STATUS_STYLE = {
    "open": "bold cyan",
    "in_progress": "bold blue",
    "blocked": "bold magenta",
    "done": "green",
    "cancelled": "dim",
}


def priority_text(t: Translator, value: int) -> Text:
    return Text(t.priority(value), style=PRIORITY_STYLE.get(value, ""))


def status_text(t: Translator, value: str) -> Text:
    return Text(t.status(value), style=STATUS_STYLE.get(value, ""))


def incidents_table(
    t: Translator, items: Sequence[schemas.IncidentPublic], *, show_account: bool
) -> None:
    """One line per incident; the summary takes what width is left and is cut with '…'."""
    columns: list[tuple[str, list[Text]]] = [
        (t("col_ref"), [Text(i.ref, style="bold") for i in items]),
        (t("col_priority"), [priority_text(t, i.priority) for i in items]),
        (t("col_type"), [Text(t.type(i.type)) for i in items]),
        (t("col_status"), [status_text(t, i.status) for i in items]),
        (t("col_telescope"), [_cut(i.telescope.name if i.telescope else "—", 16) for i in items]),
    ]
    if show_account:
        columns.append((t("col_account"), [_cut(i.client_account.name, 20) for i in items]))
    summary = (t("col_summary"), [Text(i.summary) for i in items])
    tail = [
        (
            t("col_assignee"),
            [_cut(i.assignee.display_name if i.assignee else "—", 16) for i in items],
        ),
        (t("col_updated"), [Text(t.age(i.updated_at), style="dim") for i in items]),
    ]
    # On narrow terminals, drop the least useful columns until the summary has some room.
    for droppable in (
        t("col_updated"),
        t("col_assignee"),
        t("col_type"),
        t("col_telescope"),
        t("col_account"),
    ):
        if _width(columns + tail) + len(columns + tail) + 24 <= stdout.width:
            break
        columns = [c for c in columns if c[0] != droppable]
        tail = [c for c in tail if c[0] != droppable]
    fixed = columns + tail
    widths = [_width([c]) for c in fixed]
    room = max(12, stdout.width - sum(widths) - len(fixed))
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1, 0, 0))
    for (header, _), width in zip(columns, widths, strict=False):
        table.add_column(header, no_wrap=True, min_width=width)
    table.add_column(summary[0], no_wrap=True, overflow="ellipsis", max_width=room)
    for (header, _), width in zip(tail, widths[len(columns) :], strict=True):
        table.add_column(header, no_wrap=True, min_width=width)
    for row in zip(*(cells for _, cells in [*columns, summary, *tail]), strict=True):
        table.add_row(*row)
    stdout.print(table)


def _width(columns: list[tuple[str, list[Text]]]) -> int:
    return sum(max([len(h), *(c.cell_len for c in cells)]) for h, cells in columns)


def _cut(text: str, width: int) -> Text:
    return Text(text if len(text) <= width else text[: width - 1] + "…")


def event_line(
    t: Translator, e: schemas.EventPublic, users: dict[int, str]
) -> tuple[Text, Text | None]:
    who = Text(e.actor.display_name, style="bold")
    data = e.data or {}
    what: str
    body: Text | None = None
    if e.kind == "created":
        what = t("ev_created")
    elif e.kind == "comment":
        what = (
            t("ev_internal")
            if e.internal
            else t("ev_voice" if e.source == "voice" else "ev_comment")
        )
        body = Text(e.body or "")
    elif e.kind == "status_changed":
        what = t(
            "ev_status", old=t.status(str(data.get("from"))), new=t.status(str(data.get("to")))
        )
        if data.get("reason"):
            body = Text(f"{t('ev_reason')}: {data['reason']}")
    elif e.kind == "priority_changed":
        what = t(
            "ev_priority",
            old=t.priority(int(data.get("from", 0))),
            new=t.priority(int(data.get("to", 0))),
        )
    elif e.kind == "assigned":
        target = data.get("to")
        what = (
            t("ev_assigned", who=users.get(int(target), f"#{target}"))
            if target
            else t("ev_unassigned")
        )
    elif e.kind == "summary_changed":
        what = t("ev_summary")
        body = Text(str(data.get("to", "")))
    elif e.kind == "attachment_added":
        what = t("ev_attachment", name=str(data.get("name", "")))
    else:
        what = str(e.kind)
    line = Text.assemble(
        Text(e.created_at.astimezone().strftime("%Y-%m-%d %H:%M"), style="dim"),
        "  ",
        who,
        " ",
        what,
    )
    return line, body


def incident_detail(
    t: Translator, i: schemas.IncidentDetail, users: dict[int, str] | None = None
) -> None:
    names = dict(users or {})
    names.update({e.actor.id: e.actor.display_name for e in i.events})
    if i.assignee:
        names[i.assignee.id] = i.assignee.display_name
    header = Table.grid(padding=(0, 2))
    header.add_column(style="dim")
    header.add_column()
    header.add_row(t("col_status"), status_text(t, i.status))
    header.add_row(t("col_priority"), priority_text(t, i.priority))
    header.add_row(t("col_type"), Text(t.type(i.type)))
    header.add_row(t("col_telescope"), Text(i.telescope.name if i.telescope else "—"))
    header.add_row(t("col_account"), Text(i.client_account.name))
    header.add_row(t("col_assignee"), Text(i.assignee.display_name if i.assignee else t("nobody")))
    if i.visit_date:
        header.add_row("📅", Text(i.visit_date.isoformat()))
    header.add_row(
        "", Text(t("created_by", who=i.creator.display_name, when=t.age(i.created_at)), style="dim")
    )
    title = Text.assemble(Text(i.ref, style="bold"), "  ", Text(i.summary))
    stdout.print(Panel(header, title=title, title_align="left", expand=False))
    for e in i.events:
        line, body = event_line(t, e, names)
        style = "on grey15" if e.internal else ""
        parts: list[Text | Padding] = [line]
        if body is not None:
            parts.append(Padding(body, (0, 0, 0, 4)))
        stdout.print(Group(*parts), style=style)


def simple_table(headers: Iterable[str], rows: Iterable[Iterable[str]]) -> None:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for h in headers:
        table.add_column(h, overflow="fold")
    for row in rows:
        table.add_row(*(Text(str(c)) for c in row))
    stdout.print(table)


def notifications_table(t: Translator, items: Sequence[schemas.NotificationPublic]) -> None:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in (
        "",
        t("col_when"),
        t("col_kind"),
        t("col_incident"),
        t("col_by"),
        t("col_summary"),
    ):
        table.add_column(name, overflow="fold" if name == t("col_summary") else "ellipsis")
    for n in items:
        table.add_row(
            Text("●", style="bold cyan") if n.read_at is None else Text(" "),
            Text(t.age(n.created_at), style="dim"),
            Text(t.label(n.kind)),
            Text(n.incident, style="bold"),
            Text(n.actor.display_name),
            Text(n.summary),
        )
    stdout.print(table)
