"""The operation log's hash chain: every edit, deletion, swap and cut is caught."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import httpx

from client.candidate import CandidateClient
from server.audit import GENESIS, LogKey, verify
from tests.conftest import PHONE, ROOT, SECRET, Hub, Org, interview_body

KEY = LogKey.from_secret("unit-secret")


def chain(n: int, key: LogKey = KEY) -> tuple[list[dict[str, str]], str]:
    entries, prev = [], GENESIS
    for i in range(n):
        e = json.dumps({"action": "join", "outcome": "ok", "actor": f"user{i}", "i": i})
        t = str(1_800_000_000_000 + i)
        h = key.link(prev, t, e)
        entries.append({"id": f"{t}-0", "e": e, "t": t, "p": prev, "h": h})
        prev = h
    return entries, prev


def mutate(
    entries: list[dict[str, str]], head: str, rng: random.Random
) -> tuple[list[dict[str, str]], str, str]:
    """One random tampering, as someone with write access to Redis but not the secret could do."""
    out = [dict(e) for e in entries]
    kind = rng.choice(
        ["edit_e", "edit_t", "edit_p", "edit_h", "delete", "swap", "truncate", "insert", "rechain"]
    )
    i = rng.randrange(len(out))
    if kind == "edit_e":
        out[i]["e"] = (
            out[i]["e"].replace("ok", "permission_denied")
            if "ok" in out[i]["e"]
            else out[i]["e"] + " "
        )
    elif kind == "edit_t":
        out[i]["t"] = str(int(out[i]["t"]) + rng.randint(1, 10**6))
    elif kind == "edit_p":
        out[i]["p"] = f"{rng.getrandbits(160):040x}"
    elif kind == "edit_h":
        out[i]["h"] = f"{rng.getrandbits(160):040x}"
    elif kind == "delete":
        del out[i]
    elif kind == "swap":
        j = rng.randrange(len(out))
        while j == i:
            j = rng.randrange(len(out))
        out[i], out[j] = out[j], out[i]
    elif kind == "truncate":
        out = out[: rng.randrange(len(out))]  # the head (kept beside the stream) still says more
    elif kind == "insert":
        forged = {
            "id": "x",
            "e": '{"action":"end"}',
            "t": out[i]["t"],
            "p": out[i]["p"],
            "h": f"{rng.getrandbits(160):040x}",
        }
        out.insert(i, forged)
    else:  # rewrite the whole chain consistently, but without the hub's secret
        wrong = LogKey.from_secret(f"guess-{rng.random()}")
        out, head = chain(len(out), wrong)
        return out, head, kind
    return out, head, kind


def test_an_intact_chain_verifies() -> None:
    """A chain as written verifies, head included; an empty log with no head does too."""
    entries, head = chain(30)
    assert verify(KEY, entries, head).ok
    assert verify(KEY, [], None).ok


def test_a_thousand_random_tamperings_are_all_caught() -> None:
    """1,000 random edits, deletions, swaps, truncations, insertions and rewrites: every one fails verification."""
    rng = random.Random(20261126)
    entries, head = chain(40)
    kinds: dict[str, int] = {}
    for _ in range(1000):
        tampered, tampered_head, kind = mutate(entries, head, rng)
        kinds[kind] = kinds.get(kind, 0) + 1
        verdict = verify(KEY, tampered, tampered_head)
        assert not verdict.ok, kind
        assert verdict.reason
    assert len(kinds) == 9  # every kind of tampering was tried


async def test_the_hubs_log_verifies_and_a_tampered_one_points_at_the_entry(
    hub: Hub, org: Org, store
) -> None:
    """Links written by Redis scripts check out in Python; deleting an entry in Redis is found, by the API and the CLI."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = (
            await http.post("/api/hr/interviews", json=interview_body(), headers=org.auth("admin"))
        ).json()
        iv = created["interview_id"]
        async with CandidateClient(hub.ws, created["token"], PHONE) as c:
            await c.join()
            await c.request_exit()
            await c.confirm_exit()
        await http.post(
            f"/api/hr/interviews/{iv}/end", json={"confirm": True}, headers=org.auth("recruiter")
        )  # a 403, logged
        good = (
            await http.get(f"/api/hr/interviews/{iv}/log/verify", headers=org.auth("admin"))
        ).json()
        assert good["ok"] is True and good["entries"] >= 5
        proof = (
            await http.get(f"/api/hr/interviews/{iv}/log/export", headers=org.auth("admin"))
        ).json()
        assert proof["head"] == proof["entries"][-1]["h"]
        env = {**os.environ, "REDIS_URL": hub.redis_url, "HUB_SECRET": SECRET}
        cli = subprocess.run(
            [sys.executable, "-m", "server.cli", "log", "verify", iv],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 0 and "ok" in cli.stdout
        victim = proof["entries"][2]["id"]
        await store.redis.xdel(f"{{iv:{iv}}}:log", victim)  # someone removes the exit request
        bad = (
            await http.get(f"/api/hr/interviews/{iv}/log/verify", headers=org.auth("admin"))
        ).json()
        assert bad["ok"] is False and bad["first_bad"] == 2
        cli = subprocess.run(
            [sys.executable, "-m", "server.cli", "log", "verify", iv],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 1 and "BROKEN at entry 2" in cli.stdout
        org_check = subprocess.run(
            [sys.executable, "-m", "server.cli", "log", "verify", "--org", org.name],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert org_check.returncode == 0, org_check.stdout
