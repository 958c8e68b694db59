"""One sealed record that does not open (corrupted or tampered with in Redis) is shown as
unreadable where it belongs; the rest of the page, the interview list, the report, the
candidate's endpoints and the notifications keep working (no 500)."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from client.candidate import CandidateClient
from server.store import Store, key
from tests.conftest import PHONE, Hub, Org, interview_body
from tests.server.test_cli import run_cli


def spoiled(sealed: str) -> str:
    """The sealed record with its last byte changed: it no longer opens (tag mismatch)."""
    raw = bytearray(base64.b64decode(sealed + "=" * (-len(sealed) % 4), altchars=b"-_"))
    raw[-1] ^= 0xFF
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


async def create(http: httpx.AsyncClient, org: Org, name: str, **candidate: Any) -> dict[str, Any]:
    body = interview_body()
    body["candidate"] = {**body["candidate"], "name": name, **candidate}
    r = await http.post("/api/hr/interviews", json=body, headers=org.auth("admin"))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_an_unreadable_name_is_marked_and_the_rest_reads(
    hub: Hub, fresh_org: Org, store: Store
) -> None:
    """A candidate name that does not open (tampered, or not a sealed record at all) is "" with unreadable: ["candidate"] in the list and the detail; the other interviews keep their names; the report is made and says so; the CLI prints a marker."""
    auth = fresh_org.auth("admin")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        good = await create(http, fresh_org, "Readable Person")
        tampered = await create(http, fresh_org, "Tampered Person")
        garbage = await create(http, fresh_org, "Garbage Person")
        meta_key = key(tampered["interview_id"], "meta")
        await store.redis.hset(
            meta_key, "candidate", spoiled(await store.redis.hget(meta_key, "candidate"))
        )
        await store.redis.hset(key(garbage["interview_id"], "meta"), "candidate", "%%% not base64")

        listed = await http.get("/api/hr/interviews", headers=auth)
        assert listed.status_code == 200
        by_id = {i["interview_id"]: i for i in listed.json()["interviews"]}
        assert by_id[good["interview_id"]]["candidate"] == "Readable Person"
        assert "unreadable" not in by_id[good["interview_id"]]
        for bad in (tampered, garbage):
            item = by_id[bad["interview_id"]]
            assert item["candidate"] == "" and item["unreadable"] == ["candidate"]
            assert item["position"] == "Analyst" and item["state"] == "invited"

        iv = f"/api/hr/interviews/{tampered['interview_id']}"
        detail = await http.get(iv, headers=auth)
        assert detail.status_code == 200 and detail.json()["unreadable"] == ["candidate"]
        assert len(detail.json()["answers"]) == 2
        report = await http.post(f"{iv}/report", headers=auth)
        assert report.status_code == 201 and report.json()["unreadable"] == ["candidate"]
        page = await http.get(f"{iv}/report.html", headers=auth)
        assert page.status_code == 200 and "[无法读取]" in page.text  # the interview's zh-CN
        page = await http.get(f"{iv}/report.html?lang=en", headers=auth)
        assert page.status_code == 200 and "[unreadable]" in page.text
        centre = await http.post(
            "/api/candidate/centre", json={"token": tampered["token"], "identity": PHONE}
        )
        assert centre.status_code == 200
    shown = run_cli("show", tampered["interview_id"], redis_url=hub.redis_url)
    assert "[unreadable / 无法读取]" in shown.stdout
    listed_cli = run_cli("list", redis_url=hub.redis_url)
    assert "Readable Person" in listed_cli.stdout
    assert hub.errors() == []


async def spoil_chunk(store: Store, iv_id: str, index: int) -> None:
    """Rewrite the chunk stream with its ``index``-th entry's sealed data damaged (stream
    entries cannot be changed in place; ids and the other entries stay as they were)."""
    stream = key(iv_id, "chunks")
    rows = await store.raw.xrange(stream)
    await store.raw.delete(stream)
    for n, (rid, fields) in enumerate(rows):
        if n == index:
            data = bytearray(fields[b"d"])
            data[-1] ^= 0xFF
            fields = {**fields, b"d": bytes(data)}
        await store.raw.xadd(stream, fields, id=rid)


async def test_an_unreadable_chunk_is_marked_and_the_answer_reads(
    hub: Hub, org: Org, store: Store
) -> None:
    """One answer chunk that does not open leaves the detail, the report and the candidate's saved answer working: the answer is marked unreadable ["text"] with unreadable_chunks 1, and its text is what the other chunks say."""
    auth = org.auth("admin")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = await create(http, org, "Chunk Person")
        iv_id = created["interview_id"]
        async with CandidateClient(hub.ws, created["token"], PHONE) as c:
            await c.join()
            for part in ("one ", "two ", "three"):
                await c.send_text(part)
            await c.wait_acked()
        await spoil_chunk(store, iv_id, 1)

        detail = await http.get(f"/api/hr/interviews/{iv_id}", headers=auth)
        assert detail.status_code == 200
        first = detail.json()["answers"][0]
        assert first["unreadable"] == ["text"] and first["unreadable_chunks"] == 1
        assert first["text"] == "one three" and first["chunks"] == 3
        assert "unreadable" not in detail.json()["answers"][1]

        report = await http.post(f"/api/hr/interviews/{iv_id}/report", headers=auth)
        assert report.status_code == 201
        assert report.json()["answers"][0]["unreadable"] == ["text"]
        page = await http.get(f"/api/hr/interviews/{iv_id}/report.html", headers=auth)
        assert "此回答有 1 段无法读取" in page.text  # the interview's language, zh-CN
        page = await http.get(f"/api/hr/interviews/{iv_id}/report.html?lang=en", headers=auth)
        assert "1 part(s) of this answer cannot be read" in page.text

        saved = await http.post(
            "/api/candidate/answer", json={"token": created["token"], "identity": PHONE}
        )
        assert saved.status_code == 200 and saved.json()["text"] == "one three"
    assert hub.errors() == []


async def test_an_unreadable_report_version_is_marked_and_the_others_read(
    hub: Hub, org: Org, store: Store
) -> None:
    """A report version that does not open is answered 200 with unreadable ["report"] (JSON) or a page saying so in the interview's language or ?lang= (HTML); the next version reads as usual."""
    auth = org.auth("admin")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = await create(http, org, "Report Person")
        iv = f"/api/hr/interviews/{created['interview_id']}"
        for _ in range(2):
            assert (await http.post(f"{iv}/report", headers=auth)).status_code == 201
        reports = key(created["interview_id"], "reports")
        await store.redis.lset(reports, 0, spoiled(await store.redis.lindex(reports, 0)))

        first = await http.get(f"{iv}/report?version=1", headers=auth)
        assert first.status_code == 200
        assert first.json() == {
            "interview_id": created["interview_id"],
            "version": 1,
            "unreadable": ["report"],
        }
        page = await http.get(f"{iv}/report.html?version=1", headers=auth)
        assert page.status_code == 200
        assert "此版本报告无法读取" in page.text  # the interview's language (zh-CN)
        page = await http.get(f"{iv}/report.html?version=1&lang=en", headers=auth)
        assert "This version cannot be read" in page.text
        second = await http.get(f"{iv}/report?version=2", headers=auth)
        assert second.status_code == 200 and second.json()["candidate"] == "Report Person"
        assert (await http.get(iv, headers=auth)).status_code == 200
    assert hub.errors() == []


async def test_an_unreadable_contact_is_not_sent_and_hr_sees_why(
    hub: Hub, org: Org, store: Store
) -> None:
    """An e-mail address that does not open does not stop HR from sending a new link: the SMS goes, and the e-mail is listed as failed, saying the stored address is unreadable."""
    auth = org.auth("admin")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = await create(http, org, "Contact Person", email="contact@example.test")
        iv_id = created["interview_id"]
        contact = key(iv_id, "contact")
        await store.redis.hset(contact, "email", spoiled(await store.redis.hget(contact, "email")))

        renewed = await http.post(f"/api/hr/interviews/{iv_id}/link", headers=auth)
        assert renewed.status_code == 200
        statuses = (
            await http.get(f"/api/hr/interviews/{iv_id}/notifications", headers=auth)
        ).json()["notifications"]
    failed = [s for s in statuses if s["channel"] == "email" and s["state"] == "failed"]
    assert len(failed) == 1 and "unreadable" in failed[0]["last_error"]
    sms = [s for s in statuses if s["channel"] == "sms" and s["kind"] == "invitation"]
    assert len(sms) == 2  # the first invitation, and the new link's
    assert hub.errors() == []
