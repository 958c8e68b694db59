"""Interview specs (server/interviews.py): the candidate's e-mail is exactly one plain
address on every way in (HR API, CLI file, any InterviewSpec) and again before a message is
sent; YAML specs have no anchors or aliases (billion laughs), no deep nesting and a size
limit, and every problem is a clear error, not a traceback."""

from __future__ import annotations

import dataclasses
import os
import resource
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller

from server.interviews import MAX_SPEC_BYTES, InterviewSpec, SpecError
from server.notify import Outgoing, SMTPProvider
from server.store import Store, key
from tests.conftest import MASTER_KEYS, ROOT, SECRET, Hub, Org, free_port, interview_body
from tests.server.test_cli import run_cli
from tests.server.test_notify import Mailbox

NOT_ONE_ADDRESS = [
    "a@example.com, b@example.com",
    "a@example.com,b@example.com",
    "a@example.com; b@example.com",
    "a@example.com\r\nBcc: b@example.com",
    "a@example.com\nb@example.com",
    "Alice <a@example.com>",
    '"Alice" a@example.com',
    "a@example.com (Alice)",
    "a b@example.com",
    "a@example",
    "@example.com",
    "a@",
    "a..b@example.com",
    "a@@example.com",
]


async def test_the_api_refuses_anything_but_one_address(hub: Hub, org: Org) -> None:
    """HR's create answers 400 bad_field for a list, a display name, a line break or a malformed address in candidate.email, and creates with one plain address."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        for email in NOT_ONE_ADDRESS:
            body = interview_body()
            body["candidate"] = {**body["candidate"], "email": email}
            r = await http.post("/api/hr/interviews", json=body, headers=org.auth("admin"))
            assert r.status_code == 400, email
            assert r.json()["reason"].startswith("bad_field:candidate.email"), email
        body = interview_body()
        body["candidate"] = {**body["candidate"], "email": " one.person+hr@example.com "}
        r = await http.post("/api/hr/interviews", json=body, headers=org.auth("admin"))
        assert r.status_code == 201


def test_every_spec_checks_the_address() -> None:
    """The check is in InterviewSpec itself, so a spec made any way (the bulk creator's, a copy with a new e-mail) cannot hold a list."""
    spec = InterviewSpec.from_dict(
        {"candidate": {"name": "A", "phone": "13800138000"}, "position": "P", "questions": ["Q"]}
    )
    for email in NOT_ONE_ADDRESS:
        with pytest.raises(SpecError, match=r"candidate\.email"):
            dataclasses.replace(spec, email=email)
    assert dataclasses.replace(spec, email="x@example.com").email == "x@example.com"


def test_the_cli_refuses_a_list_of_addresses(tmp_path: Path, redis_server) -> None:
    """`interview-hub create` with two addresses in candidate.email exits 2 and says why."""
    spec = tmp_path / "iv.yaml"
    spec.write_text(
        "candidate: {name: A, phone: '13800138000', email: 'a@example.com, b@example.com'}\n"
        "position: P\nquestions: [Q]\n"
    )
    out = run_cli("create", str(spec), redis_url=redis_server.url, check=False)
    assert out.returncode == 2 and "candidate.email must be one plain address" in out.stderr


async def test_a_stored_list_is_not_sent_but_reported(hub: Hub, org: Org, store: Store) -> None:
    """An e-mail field holding a list (written to Redis past every check) is checked again before sending: nothing is queued for it and HR sees it as failed, with why."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        body = interview_body()
        body["candidate"] = {**body["candidate"], "email": "one@example.com"}
        created = (
            await http.post("/api/hr/interviews", json=body, headers=org.auth("admin"))
        ).json()
        iv_id = created["interview_id"]
        cipher = await store.cipher(iv_id)
        planted = cipher.seal_text("contact|email", "one@example.com, other@example.com")
        await store.redis.hset(key(iv_id, "contact"), "email", planted)
        assert (
            await http.post(f"/api/hr/interviews/{iv_id}/link", headers=org.auth("admin"))
        ).status_code == 200
        statuses = (
            await http.get(f"/api/hr/interviews/{iv_id}/notifications", headers=org.auth("admin"))
        ).json()["notifications"]
    emails = [s for s in statuses if s["channel"] == "email"]
    assert [s["state"] for s in emails][-1] == "failed"
    assert "not one plain address" in emails[-1]["last_error"]


async def test_the_smtp_provider_sends_to_one_recipient_only() -> None:
    """The SMTP provider refuses a recipient that is not one plain address before it connects: a real SMTP server receives nothing."""
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        provider = SMTPProvider("127.0.0.1", smtp.port, "hub@example.com")
        with pytest.raises(ValueError, match="one plain e-mail address"):
            await provider.send(
                Outgoing("m1", "email", "a@example.com, b@example.com", "Subject", "Body")
            )
        await provider.send(Outgoing("m2", "email", "a@example.com", "Subject", "Body"))
    finally:
        smtp.stop()
    assert [m["To"] for m in mailbox.messages] == ["a@example.com"]


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
candidate: {name: A, id_number: *i, phone: '13800138000'}
position: P
questions: [Q]
"""


def bounded_create(spec: Path, redis_url: str) -> subprocess.CompletedProcess[str]:
    """`interview-hub create` with at most 1 GiB of memory and 120 s, so a spec that
    expands without end fails by itself instead of taking the machine with it."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run(
        [sys.executable, "-m", "server.cli", "create", str(spec)],
        cwd=ROOT,
        env={
            **os.environ,
            "REDIS_URL": redis_url,
            "HUB_SECRET": SECRET,
            "HUB_MASTER_KEYS": MASTER_KEYS,
        },
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit_memory,
        check=False,
    )


def test_a_billion_laughs_spec_is_refused(tmp_path: Path, redis_server) -> None:
    """A YAML alias bomb whose expansion lands in a field the spec reads (9^9 strings) is refused at parsing with exit 2 and a clear message, not expanded."""
    spec = tmp_path / "bomb.yaml"
    spec.write_text(BILLION_LAUGHS)
    out = bounded_create(spec, redis_server.url)
    assert out.returncode == 2, out.stderr[-500:]
    assert "anchors and aliases" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        (
            "one_alias.yaml",
            "c: &c {name: A, phone: '13800138000'}\ncandidate: *c\nposition: P\nquestions: [Q]\n",
            "anchors and aliases",
        ),
        ("deep.yaml", "[" * 30_000, "nests deeper than 32"),
        ("deep.json", "[" * 30_000 + "]" * 30_000, "nests deeper than 32"),
        ("broken.yaml", "candidate: [\n", "not valid YAML"),
        ("broken.json", '{"candidate": ', "not JSON"),
        ("latin1.yaml", "candidate: {name: \xe9}", "not UTF-8"),
        ("huge.yaml", "# " + "x" * MAX_SPEC_BYTES, "larger than 1024 KiB"),
    ],
    ids=["one_alias", "deep_yaml", "deep_json", "broken_yaml", "broken_json", "latin1", "huge"],
)
def test_bad_spec_files_are_clear_errors(
    tmp_path: Path, redis_server, name: str, text: str, says: str
) -> None:
    """Anchors and aliases of any size, 30,000-deep nesting, broken YAML or JSON, text that is not UTF-8 and files over the size limit each exit 2 with a message saying so, never a traceback."""
    spec = tmp_path / name
    spec.write_bytes(text.encode("latin-1" if name == "latin1.yaml" else "utf-8"))
    out = bounded_create(spec, redis_server.url)
    assert out.returncode == 2, out.stderr[-500:]
    assert says in out.stderr and "Traceback" not in out.stderr
