"""Signed ATS webhooks: report.ready and decision.made reach a real local receiver once, signed with the organisation's secret, retried through the outbox (across a hub restart); destinations and settings that must not be used are refused."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from client.candidate import CandidateClient
from server.store.embedded import EmbeddedRedis
from server.webhooks import SIGNATURE, sign, verify
from tests.conftest import PHONE, Hub, Org, ats_hub, free_port, interview_body, make_org


class Receiver:
    """An ATS endpoint: keeps every request; answers 500 to each delivery's first
    ``fail_first`` attempts; ``stop``/``start`` take it off and on the same port."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.requests: list[dict[str, Any]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/ats/hook?key=k1"
        self.server: ThreadingHTTPServer | None = None
        self.start()

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                delivery = self.headers["X-Interview-Hub-Delivery"]
                tries = sum(1 for r in receiver.requests if r["delivery"] == delivery) + 1
                ok = tries > receiver.fail_first
                receiver.requests.append(
                    {
                        "delivery": delivery,
                        "event": self.headers["X-Interview-Hub-Event"],
                        "signature": self.headers[SIGNATURE],
                        "idempotency": self.headers["Idempotency-Key"],
                        "path": self.path,
                        "raw": raw,
                        "accepted": ok,
                        "at": time.time(),
                    }
                )
                self.send_response(204 if ok else 500)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def accepted(self, event: str = "") -> list[dict[str, Any]]:
        return [r for r in self.requests if r["accepted"] and event in ("", r["event"])]


async def until(check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def set_webhook(http: httpx.AsyncClient, org: Org, url: str, **more: Any) -> dict[str, Any]:
    r = await http.put("/api/hr/org/webhook", json={"url": url, **more}, headers=org.auth("admin"))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def completed(hub: Hub, http: httpx.AsyncClient, org: Org) -> str:
    made = await http.post("/api/hr/interviews", json=interview_body(1), headers=org.auth("admin"))
    assert made.status_code == 201, made.text
    async with CandidateClient(hub.ws, made.json()["token"], PHONE) as c:
        await c.join()
        await c.send_text("First I measured the queue, then I fixed the slowest step.")
        await c.finish()
    return str(made.json()["interview_id"])


def test_a_signature_fails_for_another_body_secret_or_an_old_time() -> None:
    """verify() accepts the signed body within five minutes and nothing else: a changed byte, another secret, a stale or missing time."""
    body = '{"type":"report.ready","candidate":"李雷"}'.encode()
    now = 1_800_000_000
    header = sign("whsec_a", now, body)
    assert verify("whsec_a", header, body, now)
    assert verify("whsec_a", header, body, now + 299)
    assert not verify("whsec_a", header, body + b" ", now)
    assert not verify("whsec_b", header, body, now)
    assert not verify("whsec_a", header, body, now + 301)
    assert not verify("whsec_a", header.replace(f"t={now}", f"t={now + 1}"), body, now)
    assert not verify("whsec_a", header.split(",")[1], body, now)
    assert not verify("whsec_a", "", body, now)


async def test_report_ready_and_decision_made_reach_the_ats_signed(
    webhook_hub: Hub, ats_redis: EmbeddedRedis
) -> None:
    """A completed interview's report and a person's decision are each posted once, signed with the secret shown once, naming the profile; HR sees the deliveries sent."""
    hub = webhook_hub
    org = await make_org(hub, ats_redis.url)
    receiver = Receiver()
    try:
        async with httpx.AsyncClient(base_url=hub.http) as http:
            made = await set_webhook(http, org, receiver.url)
            secret = made["secret"]
            assert secret.startswith("whsec_") and made["events"] == [
                "report.ready",
                "decision.made",
            ]
            shown = (await http.get("/api/hr/org/webhook", headers=org.auth("admin"))).json()
            assert (
                "secret" not in shown and shown["secret_fingerprint"] == made["secret_fingerprint"]
            )
            iv = await completed(hub, http, org)
            ready = (await until(lambda: _async(receiver.accepted("report.ready"))))[0]
            assert ready["path"] == "/ats/hook?key=k1"
            assert verify(secret, ready["signature"], ready["raw"], int(time.time()))
            payload = json.loads(ready["raw"])
            assert payload["id"] == ready["delivery"] == ready["idempotency"]
            assert (payload["type"], payload["interview_id"], payload["org"]) == (
                "report.ready",
                iv,
                org.name,
            )
            assert payload["report"]["version"] == 1 and payload["report"]["trigger"] == "completed"
            assert set(payload["report"]["scores"]["dimensions"]) == {
                "language_expression",
                "logical_thinking",
                "emotional_stability",
            }
            profile = (
                await http.get(f"/api/hr/interviews/{iv}/profile", headers=org.auth("admin"))
            ).json()
            assert payload["profile_id"] == profile["profile_id"]
            assert payload["links"]["report_pdf"].endswith(
                f"/api/hr/interviews/{iv}/report.pdf?version=1"
            )
            decided = await http.post(
                f"/api/hr/interviews/{iv}/report/decision",
                json={"decision": "advance", "comment": "Strong answers"},
                headers=org.auth("interview_lead"),
            )
            assert decided.status_code == 201, decided.text
            made_event = (await until(lambda: _async(receiver.accepted("decision.made"))))[0]
            decision = json.loads(made_event["raw"])
            assert verify(secret, made_event["signature"], made_event["raw"], int(time.time()))
            assert decision["decision"]["decision"] == "advance"
            assert decision["decision"]["by"] == org.users["interview_lead"]
            assert decision["report"]["version"] == 2
            # the decision made report version 2: a report.ready for it as well, and no more
            await until(lambda: _async(len(receiver.accepted("report.ready")) == 2))

            async def all_sent() -> Any:
                got = (await http.get("/api/hr/org/webhook", headers=org.auth("admin"))).json()
                states = [d["state"] for d in got["deliveries"]]
                return got if states == ["sent"] * 3 else None

            listed = await all_sent() or await until(all_sent)
            assert {d["kind"] for d in listed["deliveries"]} == {"report.ready", "decision.made"}
            assert all(
                d["channel"] == "ats" and d["interview_id"] == iv for d in listed["deliveries"]
            )
            assert len({r["delivery"] for r in receiver.requests}) == len(receiver.requests) == 3
            org_log = (
                await http.get(
                    "/api/hr/log", params={"action": "webhook_set"}, headers=org.auth("admin")
                )
            ).json()["entries"]
            assert org_log[-1]["detail"]["url"] == f"http://127.0.0.1:{receiver.port}/ats/hook"
            assert secret not in json.dumps(org_log)  # never the secret, nor the URL's key
            assert "k1" not in json.dumps(org_log)
        assert hub.errors() == []
    finally:
        receiver.stop()


async def _async(value: Any) -> Any:
    return value


async def test_a_failing_receiver_is_retried_and_a_rotated_secret_signs_from_then_on(
    webhook_hub: Hub, ats_redis: EmbeddedRedis
) -> None:
    """Two 500s then success: one delivery, three attempts, accepted once; after a rotation the next delivery verifies with the new secret only."""
    hub = webhook_hub
    org = await make_org(hub, ats_redis.url)
    receiver = Receiver(fail_first=2)
    try:
        async with httpx.AsyncClient(base_url=hub.http) as http:
            old = (await set_webhook(http, org, receiver.url, events=["report.ready"]))["secret"]
            iv = await completed(hub, http, org)
            first = (await until(lambda: _async(receiver.accepted())))[0]
            assert [r["accepted"] for r in receiver.requests] == [False, False, True]
            assert len({r["delivery"] for r in receiver.requests}) == 1
            assert verify(old, first["signature"], first["raw"], int(time.time()))

            async def sent() -> Any:
                got = (await http.get("/api/hr/org/webhook", headers=org.auth("admin"))).json()
                done = [d for d in got["deliveries"] if d["state"] == "sent"]
                return done[0] if done else None

            status = await until(sent)
            assert status["attempts"] == 3
            rotated = await set_webhook(
                http, org, receiver.url, events=["report.ready"], rotate_secret=True
            )
            new = rotated["secret"]
            assert new != old and rotated["secret_fingerprint"] != ""
            again = await http.post(f"/api/hr/interviews/{iv}/report", headers=org.auth("admin"))
            assert again.status_code == 201
            await until(lambda: _async(len(receiver.accepted()) == 2))
            second = receiver.accepted()[1]
            assert verify(new, second["signature"], second["raw"], int(time.time()))
            assert not verify(old, second["signature"], second["raw"], int(time.time()))
            # decision.made is not among the events asked for: nothing is posted for it
            await http.post(
                f"/api/hr/interviews/{iv}/report/decision",
                json={"decision": "hold"},
                headers=org.auth("admin"),
            )
            await until(lambda: _async(len(receiver.accepted()) == 3))  # its report.ready
            assert {r["event"] for r in receiver.requests} == {"report.ready"}
    finally:
        receiver.stop()


async def test_a_delivery_waits_in_the_outbox_across_a_hub_restart(
    ats_redis: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The receiver is down while the hub that queued the delivery stops; another hub delivers it once the receiver is back."""
    tmp = tmp_path_factory.mktemp("ats-restart")
    hub = ats_hub(ats_redis, tmp)
    org = await make_org(hub, ats_redis.url)
    receiver = Receiver()
    receiver.stop()  # down: every attempt fails to connect
    try:
        async with httpx.AsyncClient(base_url=hub.http) as http:
            await set_webhook(http, org, receiver.url, events=["report.ready"])
            iv = await completed(hub, http, org)

            async def retrying() -> Any:
                got = (await http.get("/api/hr/org/webhook", headers=org.auth("admin"))).json()
                return [d for d in got["deliveries"] if d["state"] == "retrying"]

            waiting = (await until(retrying))[0]
            assert waiting["last_error"] and "k1" not in waiting["last_error"]
        hub.stop()
        receiver.start()
        hub = ats_hub(ats_redis, tmp)
        got = (await until(lambda: _async(receiver.accepted())))[0]
        assert json.loads(got["raw"])["interview_id"] == iv
        assert got["delivery"] == waiting["id"]
    finally:
        hub.stop()
        receiver.stop()


async def test_unusable_webhooks_are_refused_with_the_reason(hub: Hub, fresh_org: Org) -> None:
    """Only an admin sets it; loopback and private addresses (unless the operator allows them), credentials in the URL, other schemes, plain http outside and unknown events are refused; a public https address is taken and can be removed."""
    org = fresh_org
    async with httpx.AsyncClient(base_url=hub.http) as http:
        denied = await http.put(
            "/api/hr/org/webhook", json={"url": "https://8.8.8.8/"}, headers=org.auth("recruiter")
        )
        assert denied.json()["reason"] == "permission_denied:user.manage"
        for url, why in (
            (f"http://127.0.0.1:{hub.port}/x", "inside the hub's network"),
            ("https://10.1.2.3/x", "inside the hub's network"),
            ("https://[::1]/x", "inside the hub's network"),
            ("https://169.254.169.254/latest", "inside the hub's network"),
            ("https://user:pw@8.8.8.8/x", "credentials"),
            ("ftp://8.8.8.8/x", "http(s)"),
            ("http://8.8.8.8/x", "must use https"),
            ("https://no-such-host.invalid/x", "does not resolve"),
        ):
            r = await http.put("/api/hr/org/webhook", json={"url": url}, headers=org.auth("admin"))
            assert r.status_code == 400, (url, r.text)
            assert r.json()["reason"].startswith("bad_field:") and why in r.json()["reason"], r.text
        odd = await http.put(
            "/api/hr/org/webhook",
            json={"url": "https://8.8.8.8/x", "events": ["report.deleted"]},
            headers=org.auth("admin"),
        )
        assert odd.status_code == 400
        taken = await set_webhook(http, org, "https://8.8.8.8/hook", events=["decision.made"])
        assert taken["url"] == "https://8.8.8.8/hook" and taken["events"] == ["decision.made"]
        assert taken["secret"].startswith("whsec_")
        removed = await http.delete("/api/hr/org/webhook", headers=org.auth("admin"))
        assert removed.status_code == 200, removed.text
        assert removed.json()["url"] == "" and removed.json()["events"] == []
        assert "secret" not in removed.json()
