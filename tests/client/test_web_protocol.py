"""The web pages' protocol constants are generated from protocol/ and are the only ones they use: close codes, which closes end reconnecting, reasons, permissions and roles."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from client.web_protocol import TARGET, module
from protocol.closecodes import CANDIDATE_FINAL, MONITOR_FINAL, CloseCode
from protocol.permissions import Permission, Role

WEB = Path(__file__).resolve().parents[2] / "client" / "web"
OWN_JS = [p for p in WEB.rglob("*.js") if "node_modules" not in p.parts and p != TARGET]


def test_the_generated_module_is_what_protocol_says_now() -> None:
    """client/web/shared/protocol.js is byte for byte what `python -m client.web_protocol` makes from protocol/ today (regenerate it after a protocol change)."""
    assert TARGET.read_text(encoding="utf-8") == module()


def test_the_final_closes_are_the_documented_ones() -> None:
    """A candidate's client stops reconnecting after 4000-4005 and a monitor after 4008 and 4009, as SPEC §13 says."""
    assert sorted(CANDIDATE_FINAL) == [4000, 4001, 4002, 4003, 4004, 4005]
    assert sorted(MONITOR_FINAL) == [CloseCode.LOGGED_OUT, CloseCode.NOT_AUTHENTICATED]


def test_no_page_keeps_a_close_code_of_its_own() -> None:
    """No web module but the generated one writes a 4000-4010 close code as a number: they read CLOSE and the final-close lists."""
    own = re.compile(r"close\(\s*40\d\d|new Set\(\[\s*40\d\d|=\s*40(0\d|10)\s*;")
    offenders = [
        f"{p.relative_to(WEB)}:{n}"
        for p in OWN_JS
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if own.search(line)
    ]
    assert offenders == []
    users = {p.name for p in OWN_JS if "/web/shared/protocol.js" in p.read_text(encoding="utf-8")}
    assert {"session.js", "monitor.js", "practice.js"} <= users


def console_strings() -> dict[str, dict[str, str]]:
    """The console's strings as the browser loads them (the module run by node)."""
    script = (
        f"import S from {json.dumps((WEB / 'hr' / 'strings.js').as_uri())};"
        "process.stdout.write(JSON.stringify(S));"
    )
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_the_console_names_every_permission_and_role() -> None:
    """The HR console has a zh-CN and an en label for every permission and role protocol/ knows, so none is ever shown as a raw code or dropped."""
    strings = console_strings()
    for key in [f"perm.{p.value}" for p in Permission] + [f"role.{r.value}" for r in Role]:
        label = strings.get(key, {})
        assert label.get("en") and label.get("zh-CN"), f"{key} has no label in both languages"
