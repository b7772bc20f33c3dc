"""Pydantic's validation errors, said in the caller's language.

Each error type the request schemas can produce has a `v_<type>` message in the catalogue;
a value refused by one of our own validators carries its message (`domain.InvalidValue`).
Anything else keeps pydantic's English.
"""

from __future__ import annotations

import string
from typing import Any

from obs_support.server.messages import MESSAGES, Msg, refusal

# The count that decides between "1 character" and "2 characters", per error type.
_COUNTED = {
    "string_too_short": "min_length",
    "string_too_long": "max_length",
    "too_short": "min_length",
    "too_long": "max_length",
}
_SAME_AS = {"literal_error": "enum"}
_KINDS = {"List": Msg("kind_list"), "Dictionary": Msg("kind_dictionary")}
# Why a date or time could not be read, by pydantic's English text.
_TIME_ERRORS = {MESSAGES[k]["en"]: Msg(k) for k in MESSAGES if k.startswith("time_")}


def _placeholders(pattern: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(pattern) if name}


def field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _alternatives(expected: str) -> Msg | str:
    """Pydantic's "'a', 'b' or 'c'", with the last "or" in the caller's language."""
    first, sep, last = expected.rpartition(" or ")
    return Msg("alternatives", first=first, last=last) if sep else expected


def message(err: dict[str, Any]) -> Msg | str:
    """The message for one pydantic error (as in `ValidationError.errors()`)."""
    kind = str(err.get("type", ""))
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    if kind == "value_error" and isinstance(ctx.get("error"), ValueError):
        return refusal(ctx["error"])
    kind = _SAME_AS.get(kind, kind)
    key = f"v_{kind}"
    if kind in _COUNTED and ctx.get(_COUNTED[kind]) == 1:
        key += "_1"
    if key not in MESSAGES or not _placeholders(MESSAGES[key]["en"]) <= ctx.keys():
        return str(err.get("msg", MESSAGES["v_invalid"]["en"]))
    if "expected" in ctx:
        ctx["expected"] = _alternatives(str(ctx["expected"]))
    if "field_type" in ctx:
        ctx["field_type"] = _KINDS.get(str(ctx["field_type"]), ctx["field_type"])
    if "error" in ctx:
        ctx["error"] = _TIME_ERRORS.get(str(ctx["error"]), ctx["error"])
    return Msg(key, **ctx)
