"""Logging set-up: one line per record, text for humans or JSON for collectors."""

from __future__ import annotations

import json
import logging

from bot.config import LoggingSettings


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: LoggingSettings) -> None:
    handler = logging.StreamHandler()
    if settings.format == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    # Library chatter (gateway events, each migration step) only when debugging.
    library_level = logging.DEBUG if settings.level == "DEBUG" else logging.WARNING
    for library in ("discord", "alembic", "apscheduler"):
        logging.getLogger(library).setLevel(library_level)
