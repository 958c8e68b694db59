"""The protocol's constants for the web pages: ``client/web/shared/protocol.js``.

The browser code cannot import protocol/, so this writes the close codes, which closes end
a client's reconnecting, the reason codes with their messages, the permissions and the
roles into one ES module; the pages import it instead of keeping lists of their own.
``uv run python -m client.web_protocol`` writes it; tests/client/test_web_protocol.py
fails when the file and protocol/ disagree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from protocol.closecodes import (
    CANDIDATE_FINAL,
    CANDIDATE_WAITS_FOR_ACTIVITY,
    MONITOR_FINAL,
    CloseCode,
)
from protocol.permissions import DEFAULT_ROLES, Permission, Role
from protocol.reasons import HTTP_STATUS, Reason, messages

TARGET = Path(__file__).resolve().parent / "web" / "shared" / "protocol.js"
HEADER = (
    "// Generated from protocol/ by `uv run python -m client.web_protocol`: do not edit.\n"
    "// tests/client/test_web_protocol.py fails when this file and protocol/ disagree.\n"
)


def _const(name: str, value: Any, doc: str) -> str:
    text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False)
    return f"// {doc}\nexport const {name} = Object.freeze({text});\n"


def module() -> str:
    """The whole module's text."""
    parts = [
        HEADER,
        _const(
            "CLOSE",
            {c.name: int(c) for c in CloseCode},
            "WebSocket close codes by name (SPEC §13).",
        ),
        _const(
            "CANDIDATE_FINAL_CLOSES",
            sorted(int(c) for c in CANDIDATE_FINAL),
            "After these a candidate's client does not reconnect by itself.",
        ),
        _const(
            "CANDIDATE_WAITS_FOR_ACTIVITY",
            sorted(int(c) for c in CANDIDATE_WAITS_FOR_ACTIVITY),
            "After these it reconnects when the candidate does something again.",
        ),
        _const(
            "MONITOR_FINAL_CLOSES",
            sorted(int(c) for c in MONITOR_FINAL),
            "After these a monitor does not reconnect (its HR session is gone).",
        ),
        _const(
            "REASONS",
            {
                r.value: {"status": HTTP_STATUS.get(r.value, 409), **messages(r.value)}
                for r in Reason
            },
            "Every reason code: its HTTP status and its messages (SPEC §12).",
        ),
        _const("PERMISSIONS", [p.value for p in Permission], "Every permission (docs/hr.md)."),
        _const(
            "DEFAULT_ROLES",
            {
                role.value: sorted(p.value for p in DEFAULT_ROLES[role])
                for role in Role
                if role in DEFAULT_ROLES
            },
            "Every role and the permissions it has until an admin changes it.",
        ),
    ]
    return "\n".join(parts)


def main() -> int:
    TARGET.write_text(module(), encoding="utf-8")
    print(f"wrote {TARGET}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
