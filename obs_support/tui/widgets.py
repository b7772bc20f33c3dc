"""Small pieces shared by the screens: rows of the queue, lines of the timeline."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from rich.console import Group, RenderableType
from rich.text import Text
from textual.binding import BindingsMap
from textual.dom import DOMNode

from obs_support import schemas
from obs_support.cli.i18n import Translator
from obs_support.cli.render import priority_text, status_text
from obs_support.domain import IncidentType, Priority, Status
from obs_support.tui.text import literal

COLUMNS = (
    "ref",
    "priority",
    "type",
    "status",
    "telescope",
    "client",
    "summary",
    "assignee",
    "updated",
)


def column_labels(t: Translator) -> list[str]:
    return [
        t("col_ref"),
        t("col_priority"),
        t("col_type"),
        t("col_status"),
        t("col_telescope"),
        t("col_account"),
        t("col_summary"),
        t("col_assignee"),
        t("col_updated"),
    ]


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# The name columns (telescope, client, assignee) get this share of the room left; their
# text, and the summary's, is cut with … to fit.
NARROW_SHARE, NARROW_MIN, NARROW_MAX = 0.17, 8, 24


def column_widths(t: Translator, slug: str, width: int) -> dict[str, int]:
    """How wide each column of the queue is, so the whole row fits in `width` cells.

    Every column gets a set width: one the table would measure from its rows instead
    would jump as pages arrive. The closed columns are as wide as their longest possible
    value in this language; the name columns share what is left, the summary most of it.
    """
    labels = dict(zip(COLUMNS, column_labels(t), strict=True))

    def widest(key: str, values: list[str]) -> int:
        return max(len(labels[key]), *map(len, values))

    widths = {
        "ref": widest("ref", [f"{slug}-999999"]),
        "priority": widest("priority", [t.label(p) for p in Priority]),
        "type": widest("type", [t.label(k) for k in IncidentType]),
        "status": widest("status", [t.label(s) for s in Status]),
        "updated": widest("updated", [t("ago", n="99 min")]),
    }
    # Two cells of padding per column, and the vertical scrollbar.
    free = max(width - sum(widths.values()) - 2 * len(COLUMNS) - 2, 40)
    narrow = min(max(int(free * NARROW_SHARE), NARROW_MIN), NARROW_MAX)
    widths |= {"telescope": narrow, "client": narrow, "assignee": narrow}
    widths["summary"] = free - 3 * narrow
    return widths


def queue_row(
    t: Translator, i: schemas.IncidentPublic, widths: dict[str, int]
) -> list[RenderableType]:
    return [
        Text(i.ref, style="bold"),
        priority_text(t, i.priority),
        Text(t.type(i.type.value)),
        status_text(t, i.status.value),
        literal(_fit(i.telescope.name, widths["telescope"]) if i.telescope else "—"),
        literal(_fit(i.client_account.name, widths["client"])),
        literal(_fit(i.summary, widths["summary"])),
        literal(
            _fit(i.assignee.display_name, widths["assignee"]) if i.assignee else "—",
            "" if i.assignee else "dim",
        ),
        Text(t.age(i.updated_at), style="dim"),
    ]


def sort_key(i: schemas.IncidentPublic) -> tuple[int, datetime]:
    """The queue's order: highest priority first, then oldest first."""
    return (-i.priority, i.created_at)


def timeline_entry(t: Translator, e: schemas.EventPublic, names: dict[int, str]) -> RenderableType:
    from obs_support.cli.render import event_line

    line, body = event_line(t, e, names)
    # event_line builds Text objects from user strings; make them visible-safe too.
    head = literal(line.plain)
    if e.kind == "comment" and e.body is not None:
        # From the raw text, not event_line's Text (rich drops control characters there).
        shown = literal(e.body, multiline=True)
        body = Text("\n").join(
            Text.assemble("    ", line) for line in shown.split("\n", allow_blank=True)
        )
    head.stylize("dim", 0, 16)
    if e.internal:
        head = Text.assemble(Text(f" {t('ev_internal')} ", style="black on yellow"), " ", head)
    elif e.source == "voice":
        head = Text.assemble(Text(" ♪ ", style="black on cyan"), " ", head)
    if body is None:
        return head
    if e.kind != "comment":
        body = Text.assemble("    ", literal(body.plain, multiline=True))
    return Group(head, body)


def localize_bindings(node: DOMNode, t: Translator, labels: dict[str, str]) -> None:
    """Give a screen's key bindings their descriptions in the user's language.

    `labels` maps an action (as in BINDINGS) to a catalog key; Textual reads bindings from the
    class, so the instance gets a translated copy of them.
    """
    current: BindingsMap = node._bindings
    translated = BindingsMap()
    for key, bindings in current.key_to_bindings.items():
        translated.key_to_bindings[key] = [
            replace(b, description=t(labels[b.action])) if b.action in labels else b
            for b in bindings
        ]
    node._bindings = translated
