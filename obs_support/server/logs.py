"""The server's logs: one JSON object per line on stderr (or plain text), tagged with a request id.

Every line written while a request is being handled carries that request's id, taken from a
context variable the access middleware sets, so a log collector can group a request's lines
with its access line. Secrets never reach a line: URLs lose their passwords and anything shaped
like an API token is masked, whatever logged it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["json", "text"]

request_id: ContextVar[str | None] = ContextVar("obs_support_request_id", default=None)

# Fields an access line carries besides the message (passed as `extra=`).
FIELDS = ("method", "route", "status", "duration_ms", "user_id")

_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")
# API, invitation and reset tokens: a prefix and at least 20 base62 characters (see secrets.py).
_TOKEN = re.compile(r"\bobs(?:inv|rst)?_[A-Za-z0-9]{20,}")


def redact(text: str) -> str:
    return _TOKEN.sub("obs_***", _PASSWORD_IN_URL.sub(r"\1***@", text))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process or os.getpid(),
            "message": redact(record.getMessage()),
        }
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid:
            line["request_id"] = rid
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            # A traceback belongs in the log (an operator needs it), kept on one line as a field.
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = redact(super().format(record))
        rid = getattr(record, "request_id", None) or request_id.get()
        return f"{text} [{rid}]" if rid else text


def config(log_format: LogFormat, level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` for the server (uvicorn applies it in every worker)."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "obs_support": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            # The access middleware writes one line per request, with the route template
            # instead of the raw path (which may carry secrets in its query string).
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        },
    }
