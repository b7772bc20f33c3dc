"""Schemathesis hooks, loaded by `schemathesis run` through SCHEMATHESIS_HOOKS.

- `PATCH /uploads/{id}` takes the next chunk of a file as `application/offset+octet-stream`
  (the tus protocol's media type), which schemathesis cannot serialize on its own: the bytes
  go as they are.
- Credentials come from logging in (OBS_ST_EMAIL, OBS_ST_PASSWORD, OBS_ST_OBSERVATORY at
  OBS_ST_URL), not from a fixed header: the run calls `DELETE /tokens/{id}` too and may
  revoke the very token it is using; on a 401 schemathesis logs in again and replays, so
  later operations are still tested as that user. Knowing the credential also lets the
  `ignored_auth` check send each request without it.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import schemathesis


@schemathesis.serializer("application/offset+octet-stream")
def offset_octet_stream(_ctx: Any, value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode()


@schemathesis.auth()
class Login:
    def get(self, _case: Any, _ctx: Any) -> str:
        response = httpx.post(
            f"{os.environ['OBS_ST_URL']}/api/v1/auth/login",
            json={
                "email": os.environ["OBS_ST_EMAIL"],
                "password": os.environ["OBS_ST_PASSWORD"],
                "observatory": os.environ["OBS_ST_OBSERVATORY"],
                "token_name": "schemathesis",
            },
            timeout=30,
        )
        response.raise_for_status()
        token: str = response.json()["token"]
        return token

    def set(self, case: Any, data: str, _ctx: Any) -> None:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
