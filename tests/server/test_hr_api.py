"""HR's API: the role matrix, organisation isolation, end/reset/re-entry/link, the log."""

from __future__ import annotations

import httpx
import pytest

from client.candidate import CandidateClient, ClientClosed, JoinRefused
from protocol.messages import Ended
from tests.conftest import PHONE, ROLES, Hub, Org, interview_body

# action -> (permission it needs, how to call it)
ACTIONS = {
    "create": "interview.create",
    "list": "interview.view",
    "view": "interview.view",
    "end": "interview.end",
    "reset": "interview.reset",
    "reentry": "interview.reentry.grant",
    "link": "interview.create",
    "log": "log.view",
    "org_log": "log.view",
    "roles": "role.manage",
    "users": "user.manage",
}
HOLDERS = {
    "interview.create": {"admin", "recruiting_manager", "interview_lead"},
    "interview.view": set(ROLES),
    "interview.end": {"admin", "recruiting_manager", "interview_lead"},
    "interview.reset": {"admin", "recruiting_manager"},
    "interview.reentry.grant": {"admin", "recruiting_manager", "interview_lead"},
    "log.view": {"admin", "recruiting_manager", "interview_lead"},
    "role.manage": {"admin"},
    "user.manage": {"admin"},
}


async def call(
    http: httpx.AsyncClient, org: Org, role: str, action: str, iv: str
) -> httpx.Response:
    h = org.auth(role)
    base = f"/api/hr/interviews/{iv}"
    if action == "create":
        return await http.post("/api/hr/interviews", json=interview_body(), headers=h)
    if action == "list":
        return await http.get("/api/hr/interviews", headers=h)
    if action == "view":
        return await http.get(base, headers=h)
    if action == "end":
        return await http.post(base + "/end", json={"confirm": True}, headers=h)
    if action == "reset":
        return await http.post(base + "/reset", json={"confirm": True}, headers=h)
    if action == "reentry":
        return await http.post(base + "/reentry", json={"grant": True, "window_s": 60}, headers=h)
    if action == "link":
        return await http.post(base + "/link", headers=h)
    if action == "log":
        return await http.get(base + "/log", headers=h)
    if action == "org_log":
        return await http.get("/api/hr/log", headers=h)
    if action == "users":
        return await http.get("/api/hr/users", headers=h)
    return await http.get("/api/hr/roles", headers=h)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(ACTIONS))
async def test_role_matrix(hub: Hub, org: Org, role: str, action: str) -> None:
    """Every role × every action: allowed exactly when the role holds the permission; else 403 naming it."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = await http.post(
            "/api/hr/interviews", json=interview_body(), headers=org.auth("admin")
        )
        iv = created.json()["interview_id"]
        if action == "reset":  # reset needs an interview that is over
            await http.post(
                f"/api/hr/interviews/{iv}/end", json={"confirm": True}, headers=org.auth("admin")
            )
        r = await call(http, org, role, action, iv)
        permission = ACTIONS[action]
        if role in HOLDERS[permission]:
            assert r.status_code in (200, 201), (role, action, r.text)
        else:
            assert r.status_code == 403, (role, action, r.text)
            body = r.json()
            assert body["reason"] == f"permission_denied:{permission}"
            assert body["permission"] == permission and body["granted_by"] == "admin"
            assert permission in body["message"]["en"] and permission in body["message"]["zh-CN"]
            log = await http.get(
                "/api/hr/log", params={"action": _logged_action(action)}, headers=org.auth("admin")
            )
            refusals = [
                e
                for e in log.json()["entries"]
                if e["outcome"] == f"permission_denied:{permission}"
            ]
            assert refusals and refusals[-1]["actor"] == org.users[role]  # the 403 is logged too


def _logged_action(action: str) -> str:
    return {
        "link": "link_resend",
        "reentry": "reentry_grant",
        "log": "log_view",
        "org_log": "log_view",
        "roles": "role_view",
        "users": "user_view",
    }.get(action, action)


async def test_organisations_do_not_see_each_other(hub: Hub, org: Org, store) -> None:
    """Another organisation's interview does not exist for this user: 404 for every action, absent from lists."""
    from server.accounts import Accounts
    from tests.conftest import now_ms

    accounts = Accounts(store, 3600)
    await accounts.add_user(
        f"{org.name}-x", "pw", f"{org.name}-other", ["admin"], now_ms(), check_policy=False
    )
    async with httpx.AsyncClient(base_url=hub.http) as http:
        other = (
            await http.post("/api/hr/login", json={"username": f"{org.name}-x", "password": "pw"})
        ).json()["token"]
        theirs = (
            await http.post(
                "/api/hr/interviews",
                json=interview_body(),
                headers={"Authorization": f"Bearer {other}"},
            )
        ).json()
        mine = await http.get("/api/hr/interviews", headers=org.auth("admin"))
        assert theirs["interview_id"] not in {i["interview_id"] for i in mine.json()["interviews"]}
        for action in ("view", "end", "reentry", "link", "log"):
            r = await call(http, org, "admin", action, theirs["interview_id"])
            assert r.status_code == 404 and r.json()["reason"] == "not_found", action
        state = (
            await http.get(
                f"/api/hr/interviews/{theirs['interview_id']}",
                headers={"Authorization": f"Bearer {other}"},
            )
        ).json()["state"]
        assert state == "invited"  # untouched


async def test_end_locks_the_candidate_out_live(hub: Hub, org: Org) -> None:
    """End (with confirm) reaches the candidate at once with HR's note; later joins get interview_ended."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = (
            await http.post(
                "/api/hr/interviews", json=interview_body(), headers=org.auth("interview_lead")
            )
        ).json()
        c = CandidateClient(hub.ws, created["token"], PHONE)
        await c.join()
        await c.send_text("typing...")
        await c.wait_acked()
        unconfirmed = await http.post(
            f"/api/hr/interviews/{created['interview_id']}/end",
            json={},
            headers=org.auth("interview_lead"),
        )
        assert unconfirmed.status_code == 400 and unconfirmed.json()["reason"] == "confirm_required"
        r = await http.post(
            f"/api/hr/interviews/{created['interview_id']}/end",
            json={"confirm": True, "note": "Thank you for your time"},
            headers=org.auth("interview_lead"),
        )
        assert r.status_code == 200 and r.json()["state"] == "ended"
        ended = await c.expect(Ended)
        assert ended.by == org.users["interview_lead"] and ended.note == "Thank you for your time"
        with pytest.raises(ClientClosed):
            await c.next_message()
        assert c.close_code == 4003
        with pytest.raises(JoinRefused) as refused:
            await CandidateClient(hub.ws, created["token"], PHONE).join()
        assert refused.value.reason == "interview_ended"
        again = await http.post(
            f"/api/hr/interviews/{created['interview_id']}/end",
            json={"confirm": True},
            headers=org.auth("admin"),
        )
        assert again.status_code == 409 and again.json()["reason"] == "interview_ended"
        detail = (
            await http.get(
                f"/api/hr/interviews/{created['interview_id']}", headers=org.auth("recruiter")
            )
        ).json()
        assert (
            detail["answers"][0]["text"] == "typing..."
            and detail["answers"][0]["status"] == "partial"
        )


async def test_reset_gives_a_new_attempt_and_keeps_the_old_read_only(hub: Hub, org: Org) -> None:
    """Reset: a new link, a fresh start; the previous attempt's answers stay readable; the old link is dead."""
    h = org.auth("recruiting_manager")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = (await http.post("/api/hr/interviews", json=interview_body(), headers=h)).json()
        iv = created["interview_id"]
        async with CandidateClient(hub.ws, created["token"], PHONE) as c:
            await c.join()
            await c.send_text("first attempt")
            await c.request_exit()
            await c.confirm_exit()
        busy = await http.post(f"/api/hr/interviews/{iv}/reset", json={"confirm": True}, headers=h)
        assert busy.status_code == 200
        new = busy.json()
        assert new["state"] == "invited" and new["token"] != created["token"]
        with pytest.raises(JoinRefused) as old_link:
            await CandidateClient(hub.ws, created["token"], PHONE).join()
        assert old_link.value.reason == "link_invalid"
        async with CandidateClient(hub.ws, new["token"], PHONE) as c2:
            joined = await c2.join()
            assert joined.mode == "start" and c2.question.q == 0 and c2.question.acked_seq == 0
            await c2.send_text("second attempt")
            await c2.wait_acked()
        now = (await http.get(f"/api/hr/interviews/{iv}", headers=h)).json()
        assert now["attempt"] == 2 and now["answers"][0]["text"] == "second attempt"
        old = (await http.get(f"/api/hr/interviews/{iv}", params={"attempt": 1}, headers=h)).json()
        assert old["read_only"] is True and old["state"] == "exited"
        assert (
            old["answers"][0]["text"] == "first attempt"
            and old["answers"][0]["status"] == "partial"
        )


async def test_grant_and_revoke_second_entry(hub: Hub, org: Org) -> None:
    """Without a second entry, re-entry is refused until HR grants it; a revoke closes it again."""
    h = org.auth("interview_lead")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = (await http.post("/api/hr/interviews", json=interview_body(3), headers=h)).json()
        iv, token = created["interview_id"], created["token"]
        async with CandidateClient(hub.ws, token, PHONE) as c:
            await c.join()
            await c.request_exit()
            await c.confirm_exit()
        with pytest.raises(JoinRefused):
            await CandidateClient(hub.ws, token, PHONE).join()
        granted = await http.post(
            f"/api/hr/interviews/{iv}/reentry", json={"grant": True, "window_s": 600}, headers=h
        )
        assert granted.status_code == 200 and granted.json()["second_entry"] is True
        assert granted.json()["reentry_until_ms"] > 0
        async with CandidateClient(hub.ws, token, PHONE) as back:
            assert (await back.join()).mode == "reenter"
            await back.request_exit()
            await back.confirm_exit()
        revoke = await http.post(
            f"/api/hr/interviews/{iv}/reentry", json={"grant": False}, headers=h
        )
        assert revoke.json()["second_entry"] is False
        with pytest.raises(JoinRefused) as refused:
            await CandidateClient(hub.ws, token, PHONE).join()
        assert refused.value.reason == "reentry_not_permitted"


async def test_resend_link_replaces_the_old_one(hub: Hub, org: Org) -> None:
    """A resent link works and the previous one stops working."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = (
            await http.post("/api/hr/interviews", json=interview_body(), headers=org.auth("admin"))
        ).json()
        new = (
            await http.post(
                f"/api/hr/interviews/{created['interview_id']}/link", headers=org.auth("admin")
            )
        ).json()
    with pytest.raises(JoinRefused):
        await CandidateClient(hub.ws, created["token"], PHONE).join()
    async with CandidateClient(hub.ws, new["token"], PHONE) as c:
        assert (await c.join()).mode == "start"


async def test_list_filters_and_shows_live_state(hub: Hub, fresh_org: Org) -> None:
    """The list shows state, progress, device and interruptions, and filters by state."""
    org = fresh_org
    h = org.auth("recruiter")
    admin = org.auth("admin")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        a = (await http.post("/api/hr/interviews", json=interview_body(), headers=admin)).json()
        b = (await http.post("/api/hr/interviews", json=interview_body(), headers=admin)).json()
        c = CandidateClient(hub.ws, a["token"], PHONE, device="Pixel 8")
        await c.join()
        ongoing = (
            await http.get("/api/hr/interviews", params={"state": "ongoing"}, headers=h)
        ).json()["interviews"]
        assert [i["interview_id"] for i in ongoing] == [a["interview_id"]]
        assert ongoing[0]["device"] == "Pixel 8" and ongoing[0]["connected"] is True
        invited = (
            await http.get("/api/hr/interviews", params={"state": "invited"}, headers=h)
        ).json()["interviews"]
        assert [i["interview_id"] for i in invited] == [b["interview_id"]]
        assert invited[0]["phone"] == "138****8000"  # masked, never in clear
        await c.close()


async def test_every_operation_is_in_the_log(hub: Hub, org: Org) -> None:
    """Join, exit request, exit, end, grant and refusals are logged with actor, role, IP, device, outcome."""
    h = org.auth("admin")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = (await http.post("/api/hr/interviews", json=interview_body(), headers=h)).json()
        iv = created["interview_id"]
        async with CandidateClient(hub.ws, created["token"], PHONE, device="test-device") as c:
            await c.join()
            await c.request_exit()
            await c.confirm_exit()
        await http.post(f"/api/hr/interviews/{iv}/reentry", json={"grant": True}, headers=h)
        await http.post(
            f"/api/hr/interviews/{iv}/end", json={"confirm": True}, headers=org.auth("recruiter")
        )
        await http.post(f"/api/hr/interviews/{iv}/end", json={"confirm": True}, headers=h)
        entries = (await http.get(f"/api/hr/interviews/{iv}/log", headers=h)).json()["entries"]
        seen = [(e["action"], e["outcome"]) for e in entries]
        for expected in [
            ("create", "ok"),
            ("join", "ok"),
            ("exit_request", "ok"),
            ("exit", "ok"),
            ("reentry_grant", "ok"),
            ("end", "permission_denied:interview.end"),
            ("end", "ok"),
        ]:
            assert expected in seen, expected
        join = next(e for e in entries if e["action"] == "join")
        assert (
            join["device"] == "test-device"
            and join["ip"] == "127.0.0.1"
            and join["role"] == "candidate"
        )
        end = [e for e in entries if e["action"] == "end"][-1]
        assert end["actor"] == org.users["admin"] and end["role"] == "admin"
        only_end = (
            await http.get(f"/api/hr/interviews/{iv}/log", params={"action": "end"}, headers=h)
        ).json()["entries"]
        assert {e["action"] for e in only_end} == {"end"}


async def test_login_logout_and_csrf(hub: Hub, fresh_org: Org) -> None:
    """Bad passwords are refused (and logged); cookie sessions need X-CSRF to change state; logout ends the session."""
    org = fresh_org
    async with httpx.AsyncClient(base_url=hub.http) as http:
        bad = await http.post(
            "/api/hr/login", json={"username": org.users["admin"], "password": "nope"}
        )
        assert bad.status_code == 401 and bad.json()["reason"] == "login_failed"
        ok = await http.post(
            "/api/hr/login",
            json={"username": org.users["admin"], "password": "pw-" + org.users["admin"]},
        )
        assert (
            "httponly" in ok.headers["set-cookie"].lower()
            and "samesite=strict" in ok.headers["set-cookie"].lower()
        )
        # the client now holds the cookie
        no_csrf = await http.post("/api/hr/interviews", json=interview_body())
        assert no_csrf.status_code == 403 and no_csrf.json()["reason"] == "permission_denied:csrf"
        with_csrf = await http.post(
            "/api/hr/interviews", json=interview_body(), headers={"X-CSRF": "1"}
        )
        assert with_csrf.status_code == 201
        assert (await http.get("/api/hr/me")).json()["user"] == org.users["admin"]
        out = await http.post("/api/hr/logout", headers={"X-CSRF": "1"})
        assert out.status_code == 200
        http.cookies.set("ih_session", ok.json()["token"])
        after = await http.get("/api/hr/me")
        assert after.status_code == 401 and after.json()["reason"] == "not_logged_in"
        log = (
            await http.get("/api/hr/log", params={"action": "login"}, headers=org.auth("admin"))
        ).json()["entries"]
        assert ("login_failed", org.users["admin"]) in [(e["outcome"], e["actor"]) for e in log]


async def test_admin_changes_a_roles_permissions(hub: Hub, fresh_org: Org) -> None:
    """An admin can take interview.end from interview_lead (permission settings) and give it back."""
    org = fresh_org
    admin = org.auth("admin")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        roles = (await http.get("/api/hr/roles", headers=admin)).json()["roles"]
        without = [p for p in roles["interview_lead"] if p != "interview.end"]
        r = await http.put(
            "/api/hr/roles/interview_lead", json={"permissions": without}, headers=admin
        )
        assert r.status_code == 200
        created = (
            await http.post("/api/hr/interviews", json=interview_body(), headers=admin)
        ).json()
        denied = await http.post(
            f"/api/hr/interviews/{created['interview_id']}/end",
            json={"confirm": True},
            headers=org.auth("interview_lead"),
        )
        assert denied.status_code == 403
        await http.put(
            "/api/hr/roles/interview_lead",
            json={"permissions": [*without, "interview.end"]},
            headers=admin,
        )
        allowed = await http.post(
            f"/api/hr/interviews/{created['interview_id']}/end",
            json={"confirm": True},
            headers=org.auth("interview_lead"),
        )
        assert allowed.status_code == 200
        # and a user's roles: make the recruiter a manager
        r = await http.put(
            f"/api/hr/users/{org.users['recruiter']}/roles",
            json={"roles": ["recruiting_manager"]},
            headers=admin,
        )
        assert r.status_code == 200
        me = (await http.get("/api/hr/me", headers=org.auth("recruiter"))).json()
        assert "interview.reset" in me["permissions"]
        bad = await http.put("/api/hr/roles/emperor", json={"permissions": []}, headers=admin)
        assert bad.status_code == 400 and bad.json()["reason"] == "unknown_role"


async def test_openapi_describes_the_hr_api(hub: Hub) -> None:
    """/openapi.json lists the HR endpoints with summaries; /docs renders them."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        spec = (await http.get("/openapi.json")).json()
        assert "/api/hr/interviews/{iv}/end" in spec["paths"]
        assert "summary" in spec["paths"]["/api/hr/interviews/{iv}/end"]["post"]
        assert "interview-hub HTTP API" in (await http.get("/docs")).text


async def test_session_endpoint_answers_200_logged_in_or_not(hub: Hub, org: Org) -> None:
    """/api/hr/session tells a page whether it is logged in without a 401: false without a session, the user with one."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        anonymous = await http.get("/api/hr/session")
        assert anonymous.status_code == 200 and anonymous.json() == {"logged_in": False}
        bogus = await http.get("/api/hr/session", headers={"Authorization": "Bearer nope"})
        assert bogus.json() == {"logged_in": False}
        me = (await http.get("/api/hr/session", headers=org.auth("recruiter"))).json()
    assert me["logged_in"] is True and me["user"] == org.users["recruiter"]
    assert "interview.view" in me["permissions"] and "interview.end" not in me["permissions"]
