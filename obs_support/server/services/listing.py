"""Keyset (cursor) pagination of incident lists.

Pages are found by seeking in an index from the last row seen, never with OFFSET, so the
thousandth page costs what the first does. Sorts with a lead column before the id tiebreaker
are read in two index range scans — the rest of the current lead value, then the values
after it — because a row-value comparison cannot seek an index when the two run in opposite
directions (the default queue: priority high first, then oldest first)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, literal
from sqlmodel import Session, select

from obs_support.server.errors import invalid
from obs_support.server.messages import Msg
from obs_support.server.models import Incident

SortName = Literal["priority", "created", "-created", "updated", "-updated"]
SORTS: tuple[SortName, ...] = ("priority", "created", "-created", "updated", "-updated")


@dataclass(frozen=True)
class SortSpec:
    lead: str | None  # column name before the id tiebreaker, if any
    lead_desc: bool
    id_desc: bool


_SPECS: dict[str, SortSpec] = {
    "priority": SortSpec("priority", lead_desc=True, id_desc=False),
    "created": SortSpec(None, lead_desc=False, id_desc=False),
    "-created": SortSpec(None, lead_desc=False, id_desc=True),
    "updated": SortSpec("updated_at", lead_desc=False, id_desc=False),
    "-updated": SortSpec("updated_at", lead_desc=True, id_desc=True),
}


def encode_cursor(sort: str, row: Incident) -> str:
    spec = _SPECS[sort]
    lead: Any = None
    if spec.lead is not None:
        lead = getattr(row, spec.lead)
        if isinstance(lead, datetime):
            lead = lead.isoformat()
    raw = json.dumps({"s": sort, "l": lead, "i": row.id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str) -> tuple[Any, int]:
    bad = invalid("cursor", Msg("cursor_invalid"))
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if not isinstance(data, dict) or data.get("s") != sort:
        raise bad
    last_id, lead = data.get("i"), data.get("l")
    if not isinstance(last_id, int) or isinstance(last_id, bool) or not 0 < last_id < 2**63:
        raise bad
    spec = _SPECS[sort]
    if spec.lead == "priority":
        if not isinstance(lead, int) or isinstance(lead, bool) or lead not in (0, 5, 10):
            raise bad
    elif spec.lead == "updated_at":
        try:
            lead = datetime.fromisoformat(str(lead))
        except (TypeError, ValueError):
            raise bad from None
        if lead.tzinfo is None:
            raise bad
    return lead, last_id


def _col(name: str) -> Any:
    return getattr(Incident, name)


def page(
    session: Session,
    where: list[ColumnElement[bool]],
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[Incident], str | None]:
    """One page of incidents matching `where`, and the cursor of the next page (or None)."""
    spec = _SPECS[sort]
    id_col = _col("id")
    id_order = id_col.desc() if spec.id_desc else id_col.asc()
    want = limit + 1
    rows: list[Incident] = []

    def fetch(conditions: list[Any], order: list[Any], n: int) -> list[Incident]:
        return list(
            session.exec(
                select(Incident).where(*where, *conditions).order_by(*order).limit(n)
            ).all()
        )

    if spec.lead is None:
        conditions = []
        if cursor is not None:
            _, last_id = decode_cursor(sort, cursor)
            conditions.append(id_col < last_id if spec.id_desc else id_col > last_id)
        rows = fetch(conditions, [id_order], want)
    else:
        lead_col = _col(spec.lead)
        lead_order = lead_col.desc() if spec.lead_desc else lead_col.asc()
        if cursor is None:
            rows = fetch([], [lead_order, id_order], want)
        else:
            lead, last_id = decode_cursor(sort, cursor)
            after_id = id_col < last_id if spec.id_desc else id_col > last_id
            # The page's ids first, then its rows. Asked for whole rows in id order,
            # PostgreSQL may walk the primary key filtering on the lead value — to the end of
            # the table when that value's rows run out; the id-only query reads the lead
            # index alone. The LIMIT is inlined: with a parameter, a generic plan scans.
            page_ids = (
                select(id_col)
                .where(*where, lead_col == lead, after_id)
                .order_by(id_order)
                .limit(literal(want, literal_execute=True))
            )
            rows = list(
                session.exec(
                    select(Incident)
                    .where(id_col.in_(page_ids.scalar_subquery()))
                    .order_by(id_order)
                ).all()
            )
            if len(rows) < want:
                after_lead = lead_col < lead if spec.lead_desc else lead_col > lead
                rows += fetch([after_lead], [lead_order, id_order], want - len(rows))
    next_cursor = encode_cursor(sort, rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor
