"""The hub's log lines: text for a person at a terminal, or one JSON object a line for a
log collector (``HUB_LOG_FORMAT=json``).

A JSON line has ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger`` and
``message``; ``exc`` holds a traceback, escaped into the same line, so a multi-line
traceback never splits into lines a collector reads as separate entries.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
# notices for the person starting the hub ("note: made a new master key in ..."): bare lines
# in the text log, as they were printed before; JSON objects like the rest in the JSON log
NOTICES = "interview_hub.notice"


def notice(text: str) -> None:
    """Tell the operator something at start (unconfigured logging prints it bare too)."""
    logging.getLogger(NOTICES).warning(text)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if record.name == NOTICES:
            return record.getMessage()
        return super().format(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # default=str: a message argument that is no JSON type still makes a line
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(log_format: str, level: int = logging.WARNING) -> None:
    """Set up the root logger once for the process (the command line calls it)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


__all__ = ["NOTICES", "JsonFormatter", "TextFormatter", "configure", "notice"]
