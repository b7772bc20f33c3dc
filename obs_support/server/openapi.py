"""The OpenAPI document, made to say what the server really does.

FastAPI derives most of the document from the routes; this adds what it cannot know:
errors are `application/problem+json`; any request body can be refused as unparsable (400) or
too large (413); query parameters parsed by the domain accept its spellings; and links say
which operations follow from a created incident or upload. The rules come from the code that
enforces them (`domain`, `schemas`), never written out a second time.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from obs_support import schemas
from obs_support.domain import IncidentType, Priority, Role, Status

PROBLEM = "application/problem+json"
Json = dict[str, Any]

# Query parameters that the domain parses: the names it accepts (the API names; labels and
# other spellings are accepted too, as the descriptions say, but clients should send these).
_PARSED_QUERY: dict[str, type[enum.Enum]] = {
    "status": Status,
    "type": IncidentType,
    "priority": Priority,
    "role": Role,
}

# What follows from a created object: (method, path, operation, response code) -> links.
_LINKS: dict[tuple[str, str], tuple[str, Json]] = {
    ("post", "/incidents"): (
        "201",
        {
            "GetIncident": ("get", "/incidents/{ref}", {"ref": "$response.body#/ref"}),
            "UpdateIncident": ("patch", "/incidents/{ref}", {"ref": "$response.body#/ref"}),
            "Comment": ("post", "/incidents/{ref}/comments", {"ref": "$response.body#/ref"}),
            "ChangeStatus": ("post", "/incidents/{ref}/status", {"ref": "$response.body#/ref"}),
            "AnnounceUpload": ("post", "/incidents/{ref}/uploads", {"ref": "$response.body#/ref"}),
            "Attachments": (
                "get",
                "/incidents/{ref}/attachments",
                {"ref": "$response.body#/ref"},
            ),
        },
    ),
    ("post", "/incidents/{ref}/uploads"): (
        "201",
        {
            "UploadState": ("head", "/uploads/{upload_id}", {"upload_id": "$response.body#/id"}),
            "SendBytes": ("patch", "/uploads/{upload_id}", {"upload_id": "$response.body#/id"}),
            "CancelUpload": (
                "delete",
                "/uploads/{upload_id}",
                {"upload_id": "$response.body#/id"},
            ),
        },
    ),
}


def install(app: FastAPI, prefix: str) -> None:
    """Replace `app.openapi` with a version that post-processes FastAPI's document once."""
    build: Callable[[], Json] = app.openapi

    def openapi() -> Json:
        if app.openapi_schema is None:
            app.openapi_schema = refine(build(), prefix)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def refine(doc: Json, prefix: str) -> Json:
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    doc.setdefault("components", {}).setdefault("schemas", {}).setdefault(
        "Problem", schemas.Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    for path, operations in doc.get("paths", {}).items():
        short = path.removeprefix(prefix)
        for method, op in operations.items():
            responses: Json = op.setdefault("responses", {})
            if "requestBody" in op:
                responses.setdefault("400", {"description": "The body could not be parsed"})
                responses.setdefault("413", {"description": "The body is too large"})
            if method in ("post", "put", "patch", "delete"):
                responses.setdefault(
                    "507", {"description": "The server's disk is full; nothing was saved"}
                )
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400:
                    response["content"] = {PROBLEM: {"schema": problem_ref}}
                elif method == "head":
                    response.pop("content", None)  # a HEAD answer has headers, never a body
            for param in op.get("parameters", []):
                _not_null(param)
                _constrain(param)
            links = _LINKS.get((method, short))
            if links is not None:
                code, targets = links
                responses[code]["links"] = {
                    name: {"operationId": _operation_id(doc, prefix + p, m), "parameters": params}
                    for name, (m, p, params) in targets.items()
                }
    return doc


def allowed_methods(doc: Json, path: str) -> list[str]:
    """The methods the document lists for a request path (a literal path before templates)."""
    paths: dict[str, Json] = doc.get("paths", {})
    operations = paths.get(path)
    if operations is None:
        for template, ops in paths.items():
            if "{" in template and _template(template).fullmatch(path):
                operations = ops
                break
    return sorted(m.upper() for m in operations or {})


def _template(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)))


def _not_null(param: Json) -> None:
    """An optional parameter is left out, never sent as null: drop FastAPI's `null` branch."""
    schema: Json = param.get("schema", {})
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    if "anyOf" in schema and len(branches) == 1:
        del schema["anyOf"]
        schema.update(branches[0])
    elif "anyOf" in schema:
        schema["anyOf"] = branches


def _constrain(param: Json) -> None:
    kind = _PARSED_QUERY.get(param.get("name", ""))
    if param.get("in") != "query" or kind is None:
        return
    names = sorted({name for member in kind for name in _api_names(member)})
    schema: Json = param.get("schema", {})
    # `str | None` and `list[str]` come as anyOf / array: constrain the string inside.
    for target in (schema, schema.get("items", {}), *schema.get("anyOf", [])):
        if target.get("type") == "string":
            target["enum"] = names
            target.pop("maxLength", None)


def _api_names(member: enum.Enum) -> tuple[str, ...]:
    if isinstance(member, Priority):  # a priority goes by its name or its number
        return (member.name.lower(), str(member.value))
    return (str(member.value),)


def _operation_id(doc: Json, path: str, method: str) -> str:
    operation_id: str = doc["paths"][path][method]["operationId"]
    return operation_id
