"""Refusals in the caller's language: `detail` and `title` follow Accept-Language (es or en).

A real server, on SQLite and PostgreSQL, answers the same refusal in Spanish and English with
the same status, `code` and `field`. The catalogue is checked for completeness, and the
server's source for any refusal written as plain text instead of a catalogue message.
"""

from __future__ import annotations

import ast
import string
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import pytest
from pydantic import Field, Strict, TypeAdapter, ValidationError

from obs_support import domain, schemas
from obs_support.domain import Priority, Role, Status
from obs_support.server import validation
from obs_support.server.messages import MESSAGES, Msg, language_of, preferred
from tests.support import Api, Tenant

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "obs_support" / "server"

# --- the catalogue ---------------------------------------------------------------------------


def placeholders(pattern: str) -> set[str]:
    """The parameters a pattern uses: `{status.value}` and `{value!r}` count as their name."""
    names = set()
    for _, name, _, _ in string.Formatter().parse(pattern):
        if name is not None:
            names.add(name.split(".")[0].split("[")[0])
    return names


# The same in both languages on purpose: a layout, and a word Spanish shares.
SAME_IN_BOTH = {"field_problem", "title_other"}


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_message_has_both_languages_with_the_same_placeholders(key: str) -> None:
    entry = MESSAGES[key]
    assert set(entry) == {"es", "en"}
    assert entry["es"].strip() and entry["en"].strip()
    assert placeholders(entry["es"]) == placeholders(entry["en"]), entry
    if key not in SAME_IN_BOTH:
        assert entry["es"] != entry["en"], f"{key} is not translated"


def test_spanish_quotes_as_spanish_does() -> None:
    """«» as the e-mails and pages do: no straight quotes, no repr() of a value."""
    for key, entry in MESSAGES.items():
        assert "'" not in entry["es"] and "!r" not in entry["es"], key


def test_messages_say_domain_values_by_their_label() -> None:
    refused = Msg("cannot_move", current=Status.IN_PROGRESS, target=Status.OPEN)
    assert refused.render("en") == "cannot move from in_progress to open"
    assert refused.render("es") == "no se puede pasar del estado «En progreso» a «Abierta»"
    assert str(refused) == refused.render("en")
    nested = Msg("staff_only", action=Msg("action_internal_notes"))
    assert nested.render("es") == "solo el personal del observatorio puede escribir notas internas"
    assert nested.render("en") == "only observatory staff may write internal notes"
    assert Msg("name_taken", name="Scope 1").render("es") == "el nombre «Scope 1» ya está en uso"


def test_an_unknown_message_fails_at_once() -> None:
    with pytest.raises(KeyError):
        Msg("no_such_message")


# --- the language of an answer -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("es", "es"),
        ("en", "en"),
        ("ES", "es"),
        ("es-ES", "es"),
        ("es-419", "es"),
        ("es-ES,es;q=0.9,en;q=0.8", "es"),
        ("en-GB,en;q=0.9,es;q=0.8", "en"),
        ("fr", "en"),
        ("fr-FR,fr;q=0.9", "en"),
        ("fr;q=1, es;q=0.5", "es"),
        ("en;q=0.1, es;q=0.9", "es"),
        ("es;q=0, en;q=0.2", "en"),
        ("es;q=0", "en"),
        ("es;q=nonsense", "en"),
        ("es;q=2, en;q=0.5", "en"),
        ("*", "en"),
        ("de, es ; q = 0.7 , en;q=0.6", "es"),
        ("en, es", "en"),
    ],
)
def test_the_language_follows_accept_language(header: str | None, expected: str) -> None:
    assert language_of(header) == expected


def test_a_header_without_our_languages_has_no_preference() -> None:
    assert preferred("de-DE,fr;q=0.5") is None
    assert preferred("es-MX") == "es"


# --- our own validators speak through the catalogue ------------------------------------------


# The calls that name a refusal: where their key and English pattern go.
_REFUSING = {"InvalidValue": 0, "_refuse": 1, "_parse": 2}


def raises_in(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line, key, English pattern) of every refusal named in a file.

    A helper that passes its own parameters on (`InvalidValue(key, english, …)`) is skipped:
    its callers, listed in `_REFUSING`, are the ones checked.
    """
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        first = _REFUSING.get(node.func.id)
        if first is None or len(node.args) < first + 2:
            continue
        key, english = node.args[first], node.args[first + 1]
        if isinstance(key, ast.Name) and isinstance(english, ast.Name):
            continue
        assert isinstance(key, ast.Constant) and isinstance(key.value, str), node.lineno
        assert isinstance(english, ast.Constant) and isinstance(english.value, str), node.lineno
        yield node.lineno, key.value, english.value


@pytest.mark.parametrize("module", ["domain.py", "schemas.py"])
def test_refused_values_are_worded_in_the_catalogue(module: str) -> None:
    path = ROOT / "obs_support" / module
    found = list(raises_in(path))
    assert found
    for line, key, english in found:
        assert key in MESSAGES, f"{module}:{line}: {key!r} is not in the catalogue"
        assert MESSAGES[key]["en"] == english, f"{module}:{line}: not the catalogue's English"
    source = ast.parse(path.read_text())
    plain = [
        n.lineno
        for n in ast.walk(source)
        if isinstance(n, ast.Raise)
        and isinstance(n.exc, ast.Call)
        and isinstance(n.exc.func, ast.Name)
        and n.exc.func.id == "ValueError"
    ]
    assert plain == [], f"{module}: a plain ValueError cannot be translated (lines {plain})"


def test_domain_refusals_carry_their_message() -> None:
    with pytest.raises(domain.InvalidValue) as caught:
        domain.parse_status("closed")
    refusal = caught.value
    assert str(refusal) == Msg(refusal.key, **refusal.params).render("en")
    assert Msg(refusal.key, **refusal.params).render("es") == (
        "estado «closed» desconocido; se espera uno de estos: "
        "open, in_progress, blocked, done, cancelled"
    )
    verdict = domain.check_transition(Status.DONE, Status.BLOCKED, Role.STAFF)
    assert verdict.refused is not None
    said = Msg(verdict.refused.key, **verdict.refused.params)
    assert said.render("en") == verdict.refused.message == "done is final; it can only be reopened"
    assert said.render("es") == (
        "«Finalizada» es un estado final; la incidencia solo se puede reabrir"
    )


# Every pydantic error type the handler words itself, provoked for real: the English must be
# pydantic's own (as the API always said it), the Spanish must differ.
_CASES: list[tuple[Any, Any]] = [
    (Annotated[str, Field(min_length=1)], ""),
    (Annotated[str, Field(min_length=10)], "short"),
    (Annotated[str, Field(max_length=1)], "ab"),
    (Annotated[str, Field(max_length=200)], "a" * 201),
    (Annotated[str, Field(pattern=r"^[0-9a-f]{4}$")], "zzzz"),
    (str, 5),
    (int, "seven"),
    (int, 1.5),
    (int, [1]),
    (int, "9" * 5000),
    (Annotated[int, Field(ge=1)], 0),
    (Annotated[int, Field(gt=1)], 1),
    (Annotated[int, Field(le=10)], 11),
    (Annotated[int, Field(lt=10)], 10),
    (Annotated[bool, Strict()], 1),
    (bool, "perhaps"),
    (date, "2026-13-01"),
    (date, "2026-01-01T10:20:00"),
    (date, [1]),
    (datetime, "2026-01-31 25:00"),
    (datetime, "yesterday"),
    (datetime, "2026-01-31T10:00:00+25:00"),
    (datetime, [1]),
    (schemas.CommentSource, "fax"),
    (Literal["es", "en"], "fr"),
    (Literal["es", "en", "de"], "fr"),
    (Annotated[list[int], Field(min_length=1)], []),
    (Annotated[list[int], Field(max_length=2)], [1, 2, 3]),
    (Annotated[list[int], Field(max_length=1)], [1, 2]),
    (list[int], "x"),
    (dict[str, int], "x"),
    (schemas.StatusChange, [1]),
    (schemas.StatusChange, {"status": "open", "colour": "red"}),
    (schemas.StatusChange, {}),
    (schemas.StatusChange, {"status": "closed"}),
    (schemas.IncidentCreate, {"type": "repair", "priority": "urgent", "message": " "}),
    (schemas.IncidentCreate, {"type": "repair", "priority": True, "message": "a\x00"}),
    (schemas.LoginRequest, {"email": "nobody", "password": "x", "token_name": "a\nb"}),
    (schemas.Moment, "1700000000"),
]


def _errors(kind: Any, value: Any) -> list[Any]:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(kind).validate_python(value)
    return caught.value.errors()


@pytest.mark.parametrize(("kind", "value"), _CASES)
def test_validation_errors_keep_pydantic_english_and_have_spanish(kind: Any, value: Any) -> None:
    for err in _errors(kind, value):
        said = validation.message(dict(err))
        assert isinstance(said, Msg), f"{err['type']} has no message of its own"
        expected = {
            "missing": "is required",
            "extra_forbidden": "is not a field you can set",
        }.get(err["type"], err["msg"].removeprefix("Value error, "))
        assert said.render("en") == expected
        assert said.render("es") != expected


def test_dates_say_what_is_wrong_in_spanish() -> None:
    (err,) = _errors(date, "2026-13-01")
    assert str(validation.message(dict(err))) == (
        "Input should be a valid date or datetime, month value is outside expected range of 1-12"
    )
    said = validation.message(dict(err))
    assert isinstance(said, Msg)
    assert said.render("es") == "debe ser una fecha válida: el mes debe estar entre 1 y 12"


def test_an_unknown_validation_error_keeps_pydantic_english() -> None:
    err = {"type": "frobnicated", "loc": ("body", "x"), "msg": "Frobnicated input", "ctx": {}}
    assert validation.message(err) == "Frobnicated input"
    # A known type whose context lacks what the message needs: pydantic's words, not a crash.
    short = {"type": "greater_than", "loc": ("x",), "msg": "Input should be greater than 1"}
    assert validation.message(short) == "Input should be greater than 1"


# --- no refusal in the server's source is plain text ----------------------------------------

# The functions that build a refusal for the API, and where their `detail` argument goes.
_DETAIL_AT = {
    "ApiError": 2,
    "not_found": 0,
    "forbidden": 0,
    "invalid": 1,
    "conflict": 1,
    "problem": 2,
}


def _is_text(node: ast.expr) -> bool:
    """A detail written out as text: a string or f-string, joined, %- or .format()-ed, str()."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _is_text(node.left) or _is_text(node.right)
    if isinstance(node, ast.IfExp):
        return _is_text(node.body) or _is_text(node.orelse)
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("str", "repr", "format"):
            return True
        return isinstance(func, ast.Attribute) and func.attr in ("format", "join")
    return False


def untranslated(source: str, filename: str = "<source>") -> list[str]:
    """Refusals whose detail is plain text, and messages missing from the catalogue."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        detail: ast.expr | None = None
        if name in _DETAIL_AT:
            at = _DETAIL_AT[name]
            detail = node.args[at] if len(node.args) > at else None
            for keyword in node.keywords:
                if keyword.arg == "detail":
                    detail = keyword.value
            if detail is not None and _is_text(detail):
                found.append(f"{filename}:{node.lineno}: {name}() with a plain-text detail")
        if name == "Msg" and node.args:
            key = node.args[0]
            if isinstance(key, ast.Constant) and key.value not in MESSAGES:
                found.append(f"{filename}:{node.lineno}: no message {key.value!r}")
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        'raise ApiError(404, "x", "plain text")',
        'raise ApiError(404, "x", f"{n} missing")',
        'raise ApiError(404, "x", detail="plain text")',
        'raise ApiError(404, "x", "the file " + name)',
        'raise ApiError(404, "x", "%s missing" % name)',
        'raise ApiError(404, "x", "{} missing".format(name))',
        'raise ApiError(404, "x", str(exc))',
        'raise not_found("token")',
        'raise forbidden(f"only staff may {action}")',
        'raise invalid("q", "must be printable text")',
        'raise invalid("q", "a" if x else Msg("empty"))',
        'raise conflict("taken", "the name is taken")',
        'return problem(500, "oops", "something broke", language=language)',
        'raise errors.ApiError(409, "x", "plain text")',
        'raise ApiError(409, "x", Msg("no_such_message"))',
    ],
)
def test_the_check_catches_plain_text_refusals(snippet: str) -> None:
    assert untranslated(snippet)


@pytest.mark.parametrize(
    "snippet",
    [
        'raise ApiError(404, "not_found", Msg("upload_not_found"))',
        'raise not_found(Msg("token_not_found"))',
        "raise not_found()",
        'raise invalid("role", refusal(exc))',
        'raise invalid(name, Msg("needs_timezone"), code="x")',
        'raise conflict("name_taken", Msg("name_taken", name=name))',
        'raise forbidden(Msg("staff_only", action=action))',
        "return problem(exc.status, exc.code, exc.detail, field=exc.field)",
        "return page.not_found()",
    ],
)
def test_the_check_lets_catalogue_messages_through(snippet: str) -> None:
    assert untranslated(snippet) == []


def test_every_refusal_in_the_server_comes_from_the_catalogue() -> None:
    files = sorted(SERVER.rglob("*.py"))
    assert len(files) > 20
    problems = [p for f in files for p in untranslated(f.read_text(), str(f.relative_to(ROOT)))]
    assert problems == []


# --- a real server, in both languages ----------------------------------------------------------

Send = Callable[[dict[str, str]], httpx.Response]


@dataclass
class Refusal:
    status: int
    code: str
    field: str | None
    en: str
    es: str


def _incident(api: Api, tenant: Tenant) -> str:
    return str(tenant.incident(api)["ref"])


def unknown_incident(api: Api, tenant: Tenant) -> Send:
    me = api.as_(tenant.client)
    return lambda h: me.get("/incidents/999999", headers=h)


def final_status(api: Api, tenant: Tenant) -> Send:
    ref = _incident(api, tenant)
    staff = api.as_(tenant.staff)
    staff.ok("POST", f"/incidents/{ref}/status", json={"status": "done"})
    return lambda h: staff.post(
        f"/incidents/{ref}/status", json={"status": "in_progress"}, headers=h
    )


def client_closes(api: Api, tenant: Tenant) -> Send:
    ref = _incident(api, tenant)
    me = api.as_(tenant.client)
    return lambda h: me.post(f"/incidents/{ref}/status", json={"status": "done"}, headers=h)


def staff_only(api: Api, tenant: Tenant) -> Send:
    ref = _incident(api, tenant)
    me = api.as_(tenant.client)
    return lambda h: me.patch(f"/incidents/{ref}", json={"priority": "high"}, headers=h)


def missing_field(api: Api, tenant: Tenant) -> Send:
    me = api.as_(tenant.client)
    return lambda h: me.post("/incidents", json={"type": "repair", "priority": 5}, headers=h)


def unknown_values(api: Api, tenant: Tenant) -> Send:
    me = api.as_(tenant.client)
    body = {"type": "fix", "priority": 5, "message": "x", "source": "fax"}
    return lambda h: me.post("/incidents", json=body, headers=h)


def wrong_offset(api: Api, tenant: Tenant) -> Send:
    ref = _incident(api, tenant)
    me = api.as_(tenant.client)
    made = me.ok("POST", f"/incidents/{ref}/uploads", json={"filename": "a.txt", "size": 10})
    headers = {"Content-Type": "application/offset+octet-stream", "Upload-Offset": "4"}
    return lambda h: me.patch(f"/uploads/{made['id']}", content=b"rest!!", headers=headers | h)


def no_token(api: Api, tenant: Tenant) -> Send:
    return lambda h: api.get("/me", headers=h)


def bad_token(api: Api, tenant: Tenant) -> Send:
    forged = api.as_("obs_" + "x" * 40)
    return lambda h: forged.get("/me", headers=h)


def unknown_route(api: Api, tenant: Tenant) -> Send:
    return lambda h: api.get("/no-such-thing", headers=h)


def wrong_method(api: Api, tenant: Tenant) -> Send:
    return lambda h: api.delete("/incidents", headers=h)


def too_large(api: Api, tenant: Tenant) -> Send:
    me = api.as_(tenant.client)
    huge = b'{"message": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    json_type = {"Content-Type": "application/json"}
    return lambda h: me.post("/incidents", content=huge, headers=json_type | h)


def rate_limited(api: Api, tenant: Tenant) -> Send:
    body = {"email": f"ghost-{uuid.uuid4().hex[:8]}@example.org", "password": "not it"}
    body["observatory"] = tenant.slug
    for _ in range(5):  # login_max_failures in the test settings
        assert api.post("/auth/login", json=body).status_code == 401
    return lambda h: api.post("/auth/login", json=body, headers=h)


REFUSALS: dict[str, tuple[Callable[[Api, Tenant], Send], Refusal]] = {
    "unknown incident": (
        unknown_incident,
        Refusal(404, "not_found", None, "incident not found", "incidencia no encontrada"),
    ),
    "final status": (
        final_status,
        Refusal(
            409,
            "transition_not_allowed",
            None,
            "done is final; it can only be reopened",
            "«Finalizada» es un estado final; la incidencia solo se puede reabrir",
        ),
    ),
    "client closes": (
        client_closes,
        Refusal(
            403,
            "forbidden",
            None,
            "clients may only cancel their incidents",
            "los clientes solo pueden cancelar sus incidencias",
        ),
    ),
    "staff only": (
        staff_only,
        Refusal(
            403,
            "forbidden",
            None,
            "only observatory staff may change priority, assignee or summary",
            "solo el personal del observatorio puede cambiar la prioridad, la persona asignada "
            "o el resumen",
        ),
    ),
    "missing field": (
        missing_field,
        Refusal(422, "invalid", "message", "message: is required", "message: es obligatorio"),
    ),
    "unknown values": (
        unknown_values,
        Refusal(
            422,
            "invalid",
            "type",
            "type: unknown incident type 'fix'; expected one of: "
            "question, installation, repair, upgrade, visit",
            "type: tipo de incidencia «fix» desconocido; se espera uno de estos: "
            "question, installation, repair, upgrade, visit",
        ),
    ),
    "wrong offset": (
        wrong_offset,
        Refusal(
            409,
            "offset_mismatch",
            None,
            "the server has 0 bytes of this upload; send from there",
            "el servidor tiene 0 bytes de esta subida; envía a partir de ahí",
        ),
    ),
    "no token": (
        no_token,
        Refusal(
            401,
            "unauthenticated",
            None,
            "authentication required: send 'Authorization: Bearer <token>'",
            "hace falta autenticarse: envía «Authorization: Bearer <token>»",
        ),
    ),
    "bad token": (
        bad_token,
        Refusal(
            401,
            "invalid_token",
            None,
            "the token is not valid; log in again",
            "el token no es válido; vuelve a iniciar sesión",
        ),
    ),
    "unknown route": (
        unknown_route,
        Refusal(404, "not_found", None, "not found", "no encontrado"),
    ),
    "wrong method": (
        wrong_method,
        Refusal(405, "method_not_allowed", None, "Method Not Allowed", "método no permitido"),
    ),
    "body too large": (
        too_large,
        Refusal(
            413,
            "too_large",
            None,
            "the request body is over 2 MiB",
            "el cuerpo de la petición supera 2 MiB",
        ),
    ),
    "rate limited": (
        rate_limited,
        Refusal(
            429,
            "too_many_attempts",
            None,
            "too many failed attempts; try again later",
            "demasiados intentos fallidos; inténtalo de nuevo más tarde",
        ),
    ),
}

TITLES = {
    401: ("Unauthorized", "No autenticado"),
    403: ("Forbidden", "No permitido"),
    404: ("Not found", "No encontrado"),
    405: ("Method not allowed", "Método no permitido"),
    409: ("Conflict", "Conflicto"),
    413: ("Payload too large", "Contenido demasiado grande"),
    422: ("Invalid input", "Datos no válidos"),
    429: ("Too many requests", "Demasiadas peticiones"),
}

# Accept-Language as sent -> the language of the answer.
ASKED: list[tuple[str | None, Literal["es", "en"]]] = [
    ("es", "es"),
    ("en", "en"),
    (None, "en"),
    ("es-ES,es;q=0.9,en;q=0.8", "es"),
    ("fr", "en"),
    ("en;q=0.1, es;q=0.9", "es"),
    ("es-419", "es"),
]


@pytest.mark.parametrize("name", list(REFUSALS))
def test_refusals_follow_accept_language(api: Api, tenant: Tenant, name: str) -> None:
    prepare, want = REFUSALS[name]
    send = prepare(api, tenant)
    for header, language in ASKED:
        r = send({"Accept-Language": header} if header else {})
        where = f"{name}, Accept-Language: {header}"
        assert r.status_code == want.status, f"{where}: {r.text}"
        assert r.headers["content-type"] == "application/problem+json", where
        body = r.json()
        assert body["code"] == want.code, where
        assert body.get("field") == want.field, where
        assert body["status"] == want.status, where
        assert body["detail"] == (want.es if language == "es" else want.en), where
        en_title, es_title = TITLES[want.status]
        assert body["title"] == (es_title if language == "es" else en_title), where
        assert r.headers["content-language"] == language, where
        assert "accept-language" in r.headers["vary"].lower(), where


def test_every_field_error_is_translated(api: Api, tenant: Tenant) -> None:
    body = {"type": "fix", "priority": 7, "message": "", "source": "fax", "colour": "red"}
    me = api.as_(tenant.client)
    es = me.post("/incidents", json=body, headers={"Accept-Language": "es"}).json()
    en = me.post("/incidents", json=body).json()
    assert [e["field"] for e in es["errors"]] == [e["field"] for e in en["errors"]]
    assert {e["field"]: e["message"] for e in es["errors"]} == {
        "type": "tipo de incidencia «fix» desconocido; se espera uno de estos: "
        "question, installation, repair, upgrade, visit",
        "priority": "prioridad «7» desconocida; se espera 0, 5 o 10",
        "message": "debe tener al menos 1 carácter",
        "source": "debe ser 'text' o 'voice'",
        "colour": "no es un campo que se pueda indicar",
    }
    assert {e["field"]: e["message"] for e in en["errors"]} == {
        "type": "unknown incident type 'fix'; expected one of: "
        "question, installation, repair, upgrade, visit",
        "priority": "unknown priority 7; expected 0, 5 or 10",
        "message": "String should have at least 1 character",
        "source": "Input should be 'text' or 'voice'",
        "colour": "is not a field you can set",
    }


def test_query_values_refused_by_the_domain_are_translated(api: Api, tenant: Tenant) -> None:
    me = api.as_(tenant.client)
    r = me.get("/incidents", params={"priority": "urgent"}, headers={"Accept-Language": "es"})
    assert r.status_code == 422
    assert r.json()["field"] == "priority"
    assert r.json()["detail"] == (
        "priority: prioridad «urgent» desconocida; se espera baja, media, alta o 0, 5, 10"
    )
    assert Priority.HIGH is domain.parse_priority("Alta")  # the Spanish advice holds


def test_bulk_refusals_follow_accept_language(api: Api, tenant: Tenant) -> None:
    ref = _incident(api, tenant)
    me = api.as_(tenant.client)
    body = {"refs": [ref, "999999"], "status": "done", "dry_run": True}
    es = me.ok("POST", "/incidents/bulk-status", json=body, headers={"Accept-Language": "es"})
    en = me.ok("POST", "/incidents/bulk-status", json=body)
    assert (
        [(r["result"], r["code"]) for r in es["results"]]
        == [(r["result"], r["code"]) for r in en["results"]]
        == [("refused", "forbidden"), ("not_found", "not_found")]
    )
    assert [r["message"] for r in es["results"]] == [
        "los clientes solo pueden cancelar sus incidencias",
        "incidencia no encontrada",
    ]
    assert [r["message"] for r in en["results"]] == [
        "clients may only cancel their incidents",
        "incident not found",
    ]
