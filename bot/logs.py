"""Logging set-up: one line per record, text for humans or JSON for collectors, and never a secret in it.

Secrets are redacted where records are made (the log record factory), so every handler sees the same safe
record, whatever its level: values of secret options and fields (`api_key`, `token`, ...) in payloads, text
shaped like an API key or a Discord token, and the secret values the settings hold (`redact_from_logs`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from typing import Any

from bot.config import LoggingSettings

REDACTED = "[redacted]"
# Names of options, modal fields and payload keys whose values are secrets (`api_key`, `token`, `client_secret`).
SECRET_NAME = re.compile(r"(?i)^(?:.*[_-])?(?:api[_-]?key|(?:secret|private|access)[_-]?key|token|secret|password)$")
# Secrets in free text: OpenAI-style keys, Discord bot tokens, credentials in headers, `api_key=...` pairs.
SECRET_TEXT = (
    (re.compile(r"\bsk-[A-Za-z0-9][A-Za-z0-9_\-]{7,}"), REDACTED),
    (re.compile(r"\b[A-Za-z\d_-]{23,}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,}"), REDACTED),
    (re.compile(r"(?i)\b(bearer) [A-Za-z\d._~+/=-]{8,}"), rf"\1 {REDACTED}"),
    (re.compile(r"(?i)\b(api_?key|token|secret|password)=[^\s&,;'\"]+"), rf"\1={REDACTED}"),
)
# Loggers that write whole payloads at DEBUG: gateway frames and REST bodies, SQL with its parameters, LLM requests.
WIRE_LOGGERS = (
    "discord.gateway",
    "discord.http",
    "discord.webhook",
    "aiosqlite",
    "asyncpg",
    "httpx",
    "httpcore",
    "openai",
)
# Shorter than this, a "secret" would redact ordinary words.
SHORTEST_SECRET = 8

_known_secrets: set[str] = set()
_TRACEBACKS = logging.Formatter()


def redact_from_logs(*secrets: str) -> None:
    """Keep these values out of every log line from now on (tokens and keys read from settings or decrypted)."""
    _known_secrets.update(secret for secret in secrets if len(secret) >= SHORTEST_SECRET)


def redact_text(text: str) -> str:
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any) -> Any:
    """`value` with every secret replaced: structures are copied, other objects left as they are."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        # An option ({"name": "api_key", "value": ...}) or a modal field ({"custom_id": "api_key", "value": ...}).
        label = value.get("name", value.get("custom_id"))
        secret_option = isinstance(label, str) and SECRET_NAME.match(label) is not None
        return {
            key: REDACTED
            if (key == "value" and secret_option) or (isinstance(key, str) and SECRET_NAME.match(key) and item)
            else redact(item)
            for key, item in value.items()
        }
    if type(value) in (list, tuple):
        return type(value)(redact(item) for item in value)
    return value


def _redacting(make_record: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def make_redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        # Formatted here, from redacted arguments, then redacted as text: no handler sees the raw arguments.
        if record.args:
            record.args = redact(record.args)
        with suppress(TypeError, ValueError):  # a malformed call: the handler reports it as usual
            record.msg, record.args = redact_text(record.getMessage()), ()
        # Formatters show `exc_text` when it is set: the traceback, as every handler will print it.
        if record.exc_info:
            record.exc_text = redact_text(_TRACEBACKS.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return record

    make_redacted_record.redacts = True  # type: ignore[attr-defined]
    return make_redacted_record


class RedactingFormatter(logging.Formatter):
    """A formatter whose output, tracebacks included, goes through `redact_text`."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


class JSONFormatter(RedactingFormatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return redact_text(json.dumps(entry, ensure_ascii=False))


def configure_logging(settings: LoggingSettings, *, secrets: Iterable[str] = ()) -> None:
    """Log to stderr at `settings.level`, `secrets` (and anything shaped like one) redacted from every record."""
    redact_from_logs(*secrets)
    if not getattr(logging.getLogRecordFactory(), "redacts", False):
        logging.setLogRecordFactory(_redacting(logging.getLogRecordFactory()))
    handler = logging.StreamHandler()
    if settings.format == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    # Library chatter (gateway events, each migration step) only when debugging.
    debugging = settings.level == "DEBUG"
    library_level = logging.DEBUG if debugging else logging.WARNING
    for library in ("discord", "alembic", "apscheduler"):
        logging.getLogger(library).setLevel(library_level)
    # Whole payloads (what members type) only when asked for on top of DEBUG; otherwise as their parent says.
    wire_level = logging.DEBUG if settings.wire_debug else logging.INFO
    for wire in WIRE_LOGGERS:
        logging.getLogger(wire).setLevel(wire_level if debugging else logging.NOTSET)
