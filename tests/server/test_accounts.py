"""HR accounts: disable, enable, delete, password change and reset, logout everywhere, the
password policy, the lock-out a stranger cannot trigger, cross-site logins, demo accounts.

Real hubs and a real Redis; a second hub on the same Redis shows that what one hub does
reaches the monitor sockets of another. Client addresses are simulated with
X-Forwarded-For on hubs that trust 127.0.0.1 as their proxy (HUB_TRUSTED_PROXIES).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from client.monitor import MonitorClient
from protocol.messages import Refused, Watching
from protocol.permissions import Permission
from protocol.reasons import messages
from server.accounts import Accounts
from server.refusals import Refusal
from server.store import Store
from server.store.embedded import EmbeddedRedis
from tests.conftest import MASTER_KEYS, SECRET, Hub, Org, free_port, now_ms, start_hub
from tests.server.test_cli import run_cli

STRONG = "Violet-harbour-7-lanterns"  # passes the policy
OTHER_STRONG = "Quiet-meadow-42-pebbles"


def monitor_url(hub: Hub) -> str:
    return f"ws://127.0.0.1:{hub.port}/ws/monitor"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(http: httpx.AsyncClient, user: str, password: str, **headers: str) -> Any:
    return await http.post(
        "/api/hr/login", json={"username": user, "password": password}, headers=headers
    )


async def closed(m: MonitorClient) -> tuple[int | None, str]:
    """Wait for the monitor socket to close: its close code and the last refusal's reason."""
    with pytest.raises(ConnectionError):
        while True:
            await m.next_message()
    reasons = [msg.reason for msg in m.received if isinstance(msg, Refused)]
    return m.close_code, reasons[-1] if reasons else ""


async def org_log(http: httpx.AsyncClient, org: Org, action: str) -> list[dict[str, Any]]:
    r = await http.get("/api/hr/log", params={"action": action}, headers=org.auth("admin"))
    return list(r.json()["entries"])


@pytest.fixture
def second_hub(redis_server: EmbeddedRedis, tmp_path: Path) -> Iterator[Hub]:
    """Another hub process on the same Redis."""
    other = start_hub(redis_server.url, tmp_path)
    yield other
    other.stop()


async def test_disable_ends_sessions_and_monitors_on_every_hub(
    hub: Hub, second_hub: Hub, fresh_org: Org
) -> None:
    """Disabling a user ends their sessions at once and closes their monitor on another hub
    (4008, account_disabled); they cannot log in until enabled again; both are logged."""
    org = fresh_org
    name = org.users["recruiter"]
    monitor = MonitorClient(monitor_url(second_hub), org.tokens["recruiter"])
    await monitor.connect()  # watching nothing: only the control channel can close it now
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post(
            f"/api/hr/users/{name}/disable",
            headers={**org.auth("admin"), "User-Agent": "admin-browser"},
        )
        assert r.status_code == 200, r.text
        row = next(u for u in r.json()["users"] if u["name"] == name)
        assert row["disabled"] is True and row["disabled_by"] == org.users["admin"]
        assert await closed(monitor) == (4008, "account_disabled")
        gone = await http.get("/api/hr/me", headers=org.auth("recruiter"))
        assert gone.status_code == 401 and gone.json()["reason"] == "not_logged_in"
        refused = await login(http, name, "pw-" + name)
        assert refused.status_code == 403 and refused.json()["reason"] == "account_disabled"
        assert refused.json()["message"] == messages("account_disabled")
        wrong = await login(http, name, "not-the-password")
        assert wrong.json()["reason"] == "login_failed"  # a stranger learns nothing
        enabled = await http.post(f"/api/hr/users/{name}/enable", headers=org.auth("admin"))
        assert enabled.status_code == 200
        assert (await login(http, name, "pw-" + name)).status_code == 200
        entries = await org_log(http, org, f"user_disable:{name}")
        assert [(e["actor"], e["role"], e["ip"], e["device"], e["outcome"]) for e in entries] == [
            (org.users["admin"], "admin", "127.0.0.1", "admin-browser", "ok")
        ]
        assert (await org_log(http, org, f"user_enable:{name}"))[0]["outcome"] == "ok"
        refusals = await org_log(http, org, "login")
        assert ("account_disabled", name) in [(e["outcome"], e["actor"]) for e in refusals]


async def test_delete_needs_a_confirm_and_ends_everything(hub: Hub, fresh_org: Org) -> None:
    """Deleting a user needs confirm=true; then their session and monitor end, the name
    no longer logs in, the list no longer shows them, and the log keeps the deletion."""
    org = fresh_org
    name = org.users["interview_lead"]
    monitor = MonitorClient(monitor_url(hub), org.tokens["interview_lead"])
    await monitor.connect()
    async with httpx.AsyncClient(base_url=hub.http) as http:
        path = f"/api/hr/users/{name}"
        unconfirmed = await http.request("DELETE", path, json={}, headers=org.auth("admin"))
        assert unconfirmed.status_code == 400
        assert unconfirmed.json()["reason"] == "confirm_required"
        assert (await http.get("/api/hr/me", headers=org.auth("interview_lead"))).is_success
        r = await http.request("DELETE", path, json={"confirm": True}, headers=org.auth("admin"))
        assert r.status_code == 200 and name not in [u["name"] for u in r.json()["users"]]
        assert await closed(monitor) == (4008, "not_logged_in")
        assert (await http.get("/api/hr/me", headers=org.auth("interview_lead"))).status_code == 401
        assert (await login(http, name, "pw-" + name)).json()["reason"] == "login_failed"
        again = await http.request(
            "DELETE", path, json={"confirm": True}, headers=org.auth("admin")
        )
        assert again.status_code == 404 and again.json()["reason"] == "unknown_user"
        outcomes = [e["outcome"] for e in await org_log(http, org, f"user_delete:{name}")]
        assert outcomes == ["confirm_required", "ok", "unknown_user"]


async def test_not_oneself_not_the_last_admin(hub: Hub, fresh_org: Org) -> None:
    """An admin cannot disable, delete, reset or change the roles of themselves; nobody
    takes the admin role from the organisation's last active admin; with a second admin
    they can."""
    org = fresh_org
    me = org.users["admin"]
    async with httpx.AsyncClient(base_url=hub.http) as http:
        for method, path, body in (
            ("POST", f"/api/hr/users/{me}/disable", {}),
            ("DELETE", f"/api/hr/users/{me}", {"confirm": True}),
            ("POST", f"/api/hr/users/{me}/password", {"password": STRONG}),
            ("PUT", f"/api/hr/users/{me}/roles", {"roles": ["recruiter"]}),
        ):
            r = await http.request(method, path, json=body, headers=org.auth("admin"))
            assert r.status_code == 409 and r.json()["reason"] == "own_account", path
        # a manager holding every permission may change an admin's roles, but not take the
        # organisation's last admin away
        every = (await http.get("/api/hr/roles", headers=org.auth("admin"))).json()["permissions"]
        given = await http.put(
            "/api/hr/roles/recruiting_manager",
            json={"permissions": every},
            headers=org.auth("admin"),
        )
        assert given.status_code == 200
        manager = org.auth("recruiting_manager")
        demote = await http.put(
            f"/api/hr/users/{me}/roles", json={"roles": ["recruiter"]}, headers=manager
        )
        assert demote.status_code == 409 and demote.json()["reason"] == "last_admin"
        assert demote.json()["message"] == messages("last_admin")
        second = f"{org.name}-boss"
        added = await http.post(
            "/api/hr/users",
            json={"username": second, "password": STRONG, "roles": ["admin"]},
            headers=org.auth("admin"),
        )
        assert added.status_code == 201, added.text
        demote = await http.put(
            f"/api/hr/users/{me}/roles", json={"roles": ["recruiter"]}, headers=manager
        )
        assert demote.status_code == 200
        back = await http.put(
            f"/api/hr/users/{me}/roles", json={"roles": ["admin"]}, headers=manager
        )
        assert back.status_code == 200
        # two admins disabling each other at once: exactly one wins, one admin stays
        token = (await login(http, second, STRONG)).json()["token"]
        results = await asyncio.gather(
            http.post(f"/api/hr/users/{second}/disable", headers=org.auth("admin")),
            http.post(f"/api/hr/users/{me}/disable", headers=bearer(token)),
        )
        assert sorted(r.status_code == 200 for r in results) == [False, True], [
            r.text for r in results
        ]
        assert {r.json().get("reason") for r in results if r.status_code != 200} <= {
            "last_admin",
            "not_logged_in",
        }
        store = Store.from_url(hub.redis_url, secret=SECRET, master_keys=MASTER_KEYS)
        try:
            users = await Accounts(store, 3600).users(org.name)
        finally:
            await store.close()
        admins = [u for u in users if "admin" in u["roles"] and not u["disabled"]]
        assert len(admins) == 1


async def test_nobody_manages_a_stronger_account(hub: Hub, fresh_org: Org) -> None:
    """A manager given user.manage may manage a recruiter, but not an admin (who holds
    permissions the manager does not), nor add a user with more than the manager holds."""
    org = fresh_org
    admin = org.auth("admin")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        roles = (await http.get("/api/hr/roles", headers=admin)).json()["roles"]
        denied = await http.post(
            f"/api/hr/users/{org.users['recruiter']}/disable",
            headers=org.auth("recruiting_manager"),
        )
        assert denied.status_code == 403
        assert denied.json()["reason"] == "permission_denied:user.manage"
        await http.put(
            "/api/hr/roles/recruiting_manager",
            json={"permissions": [*roles["recruiting_manager"], "user.manage"]},
            headers=admin,
        )
        manager = org.auth("recruiting_manager")
        ok = await http.post(f"/api/hr/users/{org.users['recruiter']}/disable", headers=manager)
        assert ok.status_code == 200
        stronger = await http.post(
            f"/api/hr/users/{org.users['admin']}/password",
            json={"password": STRONG},
            headers=manager,
        )
        assert stronger.status_code == 403
        assert stronger.json()["reason"] == "permission_denied:data.erase"
        new_admin = await http.post(
            "/api/hr/users",
            json={"username": f"{org.name}-sneaky", "password": STRONG, "roles": ["admin"]},
            headers=manager,
        )
        assert new_admin.status_code == 403
        listed = (await http.get("/api/hr/users", headers=manager)).json()["users"]
        assert f"{org.name}-sneaky" not in [u["name"] for u in listed]


async def test_changing_roles_of_a_stronger_user_or_beyond_ones_own_is_refused(
    hub: Hub, fresh_org: Org
) -> None:
    """A user who may change roles (role.manage) but holds less than an admin can neither
    make someone an admin, nor change an admin's roles: permission_denied, logged."""
    org = fresh_org
    async with httpx.AsyncClient(base_url=hub.http) as http:
        roles = (await http.get("/api/hr/roles", headers=org.auth("admin"))).json()["roles"]
        r = await http.put(
            "/api/hr/roles/recruiting_manager",
            json={"permissions": [*roles["recruiting_manager"], "role.manage"]},
            headers=org.auth("admin"),
        )
        assert r.status_code == 200
        manager = org.auth("recruiting_manager")
        recruiter, admin = org.users["recruiter"], org.users["admin"]
        raise_up = await http.put(
            f"/api/hr/users/{recruiter}/roles", json={"roles": ["admin"]}, headers=manager
        )
        assert raise_up.status_code == 403
        assert raise_up.json()["reason"] == "permission_denied:data.erase"
        pull_down = await http.put(
            f"/api/hr/users/{admin}/roles", json={"roles": ["recruiter"]}, headers=manager
        )
        assert pull_down.status_code == 403
        assert pull_down.json()["reason"] == "permission_denied:data.erase"
        bad = await http.put(
            f"/api/hr/users/{recruiter}/roles", json={"roles": [{}]}, headers=manager
        )
        assert bad.status_code == 400 and bad.json()["reason"] == "bad_field"
        users = {
            u["name"]: u["roles"]
            for u in (await http.get("/api/hr/users", headers=manager)).json()["users"]
        }
        assert users[recruiter] == ["recruiter"] and users[admin] == ["admin"]
        within = await http.put(
            f"/api/hr/users/{recruiter}/roles", json={"roles": ["interview_lead"]}, headers=manager
        )
        assert within.status_code == 200  # nothing beyond the manager's own
        outcomes = [e["outcome"] for e in await org_log(http, org, f"user_roles:{recruiter}")]
        assert outcomes == ["permission_denied:data.erase", "ok"]


async def test_the_organisation_keeps_someone_who_can_manage_it(hub: Hub, fresh_org: Org) -> None:
    """Saving the admin role without role.manage or user.manage is refused (409
    no_manager_left, logged) while admins are the only ones holding both; once another
    active user holds both it is taken, and then that user cannot be disabled, deleted or
    changed away, nor their own role emptied."""
    org = fresh_org
    admin = org.auth("admin")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        listed = (await http.get("/api/hr/roles", headers=admin)).json()
        every = listed["permissions"]
        for dropped in ("role.manage", "user.manage"):
            r = await http.put(
                "/api/hr/roles/admin",
                json={"permissions": [p for p in every if p != dropped]},
                headers=admin,
            )
            assert r.status_code == 409 and r.json()["reason"] == "no_manager_left", r.text
            assert r.json()["message"] == messages("no_manager_left")
        roles = (await http.get("/api/hr/roles", headers=admin)).json()["roles"]
        assert roles["admin"] == listed["roles"]["admin"]  # unchanged
        outcomes = [e["outcome"] for e in await org_log(http, org, "role_change:admin")]
        assert outcomes == ["no_manager_left", "no_manager_left"]

        given = await http.put(
            "/api/hr/roles/recruiting_manager", json={"permissions": every}, headers=admin
        )
        assert given.status_code == 200
        taken = await http.put(
            "/api/hr/roles/admin",
            json={"permissions": [p for p in every if p != "role.manage"]},
            headers=admin,
        )
        assert taken.status_code == 200, taken.text  # the manager holds both now
        manager = org.auth("recruiting_manager")
        emptied = await http.put(
            "/api/hr/roles/recruiting_manager",
            json={"permissions": [p for p in every if p != "user.manage"]},
            headers=manager,
        )
        assert emptied.status_code == 409 and emptied.json()["reason"] == "no_manager_left"

    # the rule is the accounts' own, whoever calls: a disable, a delete, a role change
    store = Store.from_url(hub.redis_url, secret=SECRET, master_keys=MASTER_KEYS)
    try:
        accounts = Accounts(store, 3600)
        last = org.users["recruiting_manager"]
        for change in (
            accounts.set_disabled(org.name, last, True, "test", now_ms()),
            accounts.delete_user(org.name, last),
            accounts.set_user_roles(org.name, last, ["recruiter"]),
        ):
            with pytest.raises(Refusal) as refused:
                await change
            assert refused.value.reason == "no_manager_left"
        assert await accounts.managers(org.name) == 1
        assert (await accounts.user(last)).get("roles") == '["recruiting_manager"]'
    finally:
        await store.close()


async def test_changes_at_once_cannot_leave_nobody_to_manage(hub: Hub, fresh_org: Org) -> None:
    """Two changes at once, each fine alone, that together would leave nobody holding
    role.manage and user.manage: exactly one wins, every time (role tables changed by two
    managers at once; two managers disabling each other)."""
    org = fresh_org
    admin, manager = org.auth("admin"), org.auth("recruiting_manager")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        every = (await http.get("/api/hr/roles", headers=admin)).json()["permissions"]

        async def put_role(role: str, without: str, auth: dict[str, str]) -> httpx.Response:
            permissions = [p for p in every if p != without]
            return await http.put(
                f"/api/hr/roles/{role}", json={"permissions": permissions}, headers=auth
            )

        assert (await put_role("recruiting_manager", "", admin)).status_code == 200
        for _ in range(5):
            results = await asyncio.gather(
                put_role("admin", "role.manage", admin),
                put_role("recruiting_manager", "user.manage", manager),
            )
            assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
            assert [r.json()["reason"] for r in results if r.status_code == 409] == [
                "no_manager_left"
            ]
            # the winner's role lost one; the other role still manages: give it back
            if results[0].status_code == 200:
                assert (await put_role("admin", "", manager)).status_code == 200
            else:
                assert (await put_role("recruiting_manager", "", admin)).status_code == 200

        # now the admins manage nothing: two managers are the only ones, and disable each other
        assert (await put_role("admin", "role.manage", manager)).status_code == 200
        other = f"{org.name}-m2"
        added = await http.post(
            "/api/hr/users",
            json={"username": other, "password": STRONG, "roles": ["recruiting_manager"]},
            headers=manager,
        )
        assert added.status_code == 201, added.text
        token = (await login(http, other, STRONG)).json()["token"]
        results = await asyncio.gather(
            http.post(f"/api/hr/users/{other}/disable", headers=manager),
            http.post(
                f"/api/hr/users/{org.users['recruiting_manager']}/disable", headers=bearer(token)
            ),
        )
        assert sorted(r.status_code == 200 for r in results) == [False, True], [
            r.text for r in results
        ]
        assert {r.json().get("reason") for r in results if r.status_code != 200} <= {
            "no_manager_left",
            "not_logged_in",
        }
    store = Store.from_url(hub.redis_url, secret=SECRET, master_keys=MASTER_KEYS)
    try:
        assert await Accounts(store, 3600).managers(org.name) == 1
    finally:
        await store.close()


async def test_command_line_resets_the_role_table(hub: Hub, fresh_org: Org, store: Store) -> None:
    """An organisation whose role table nobody can change any more (an older version let
    the admin role lose role.manage) gets the defaults back from `role reset ORG`, at once,
    written to its log; with no active admin left it says how to add one."""
    org = fresh_org
    everything_else = [
        p.value for p in Permission if p not in (Permission.ROLE_MANAGE, Permission.USER_MANAGE)
    ]
    await store.redis.hset(f"org:{org.name}:roles", "admin", json.dumps(everything_else))
    async with httpx.AsyncClient(base_url=hub.http) as http:
        stuck = await http.get("/api/hr/roles", headers=org.auth("admin"))
        assert (
            stuck.status_code == 403 and stuck.json()["reason"] == "permission_denied:role.manage"
        )
        done = run_cli("role", "reset", org.name, redis_url=hub.redis_url)
        assert f"organisation {org.name}: every role is back" in done.stdout
        assert "note:" not in done.stdout
        back = await http.get("/api/hr/roles", headers=org.auth("admin"))
        assert back.status_code == 200
        assert sorted(back.json()["roles"]["admin"]) == sorted(p.value for p in Permission)
        entries = await org_log(http, org, "role_reset")
        assert [(e["role"], e["outcome"]) for e in entries] == [("operator", "ok")]
        assert entries[0]["actor"].startswith("cli:")
    run_cli("user", "disable", org.users["admin"], redis_url=hub.redis_url)
    alone = run_cli("role", "reset", org.name, redis_url=hub.redis_url)
    assert "note: no active user" in alone.stdout and "--role admin" in alone.stdout
    bad = run_cli("role", "reset", "Not An Org", redis_url=hub.redis_url, check=False)
    assert bad.returncode == 2


async def test_password_policy_on_add_reset_and_change(hub: Hub, fresh_org: Org) -> None:
    """Too short, common or guessable, or the user name: refused with a reason naming the
    rule (zh-CN and en), when adding, resetting and changing; a strong password is taken."""
    org = fresh_org
    name = f"{org.name}-newcomer"
    async with httpx.AsyncClient(base_url=hub.http) as http:

        async def add(password: str) -> httpx.Response:
            return await http.post(
                "/api/hr/users",
                json={"username": name, "password": password, "roles": ["recruiter"]},
                headers=org.auth("admin"),
            )

        for password, reason in (
            ("x", "password_too_short:12"),
            ("Short-1", "password_too_short:12"),
            ("password1234", "password_too_common"),
            ("qwertyuiop123", "password_too_common"),
            ("aaaaaaaaaaaaaaaa", "password_too_common"),
            (name.upper(), "password_is_user_name"),
        ):
            r = await add(password)
            assert r.status_code == 400 and r.json()["reason"] == reason, (password, r.text)
        short = (await add("x")).json()["message"]
        assert "12" in short["en"] and "12" in short["zh-CN"] and "at least" in short["en"]
        assert (await add(STRONG)).status_code == 201
        weak_reset = await http.post(
            f"/api/hr/users/{name}/password", json={"password": "1234"}, headers=org.auth("admin")
        )
        assert weak_reset.json()["reason"] == "password_too_short:12"
        token = (await login(http, name, STRONG)).json()["token"]
        weak_change = await http.post(
            "/api/hr/me/password",
            json={"current": STRONG, "new": "iloveyou1234"},
            headers=bearer(token),
        )
        assert weak_change.status_code == 400
        assert weak_change.json()["reason"] == "password_too_common"
        assert (await login(http, name, STRONG)).status_code == 200  # unchanged
        outcomes = [e["outcome"] for e in await org_log(http, org, f"user_add:{name}")]
        assert outcomes[-1] == "ok" and "password_too_common" in outcomes


def test_command_line_applies_the_policy_and_manages_users(redis_server: EmbeddedRedis) -> None:
    """`user add` refuses a weak password with the rule; `user disable`, `enable` and
    `password` work from the terminal (the operator's way back in)."""
    name = f"cli{uuid.uuid4().hex[:8]}"
    weak = run_cli(
        "user",
        "add",
        name,
        "--role",
        "admin",
        "--password",
        "short",
        redis_url=redis_server.url,
        check=False,
    )
    assert weak.returncode == 2 and "password_too_short:12" in weak.stderr
    assert "at least" in weak.stderr
    run_cli(
        "user",
        "add",
        name,
        "--org",
        name,
        "--role",
        "admin",
        "--password",
        STRONG,
        redis_url=redis_server.url,
    )

    async def state() -> dict[str, str]:
        store = Store.from_url(redis_server.url, secret=SECRET, master_keys=MASTER_KEYS)
        try:
            return await Accounts(store, 3600).user(name)
        finally:
            await store.close()

    run_cli("user", "disable", name, redis_url=redis_server.url)
    assert asyncio.run(state()).get("disabled_ms")
    run_cli("user", "enable", name, redis_url=redis_server.url)
    assert not asyncio.run(state()).get("disabled_ms")
    before = asyncio.run(state())["pw"]
    run_cli("user", "password", name, "--password", OTHER_STRONG, redis_url=redis_server.url)
    assert asyncio.run(state())["pw"] != before
    missing = run_cli("user", "disable", "nobody-here", redis_url=redis_server.url, check=False)
    assert missing.returncode == 2 and "unknown_user" in missing.stderr


async def test_change_own_password_ends_the_other_sessions(hub: Hub, fresh_org: Org) -> None:
    """Changing one's password needs the current one; afterwards the other sessions (and
    their monitors) end while this one goes on; the old password no longer works."""
    org = fresh_org
    name = org.users["recruiter"]
    async with httpx.AsyncClient(base_url=hub.http) as http:
        other = (await login(http, name, "pw-" + name)).json()["token"]
        this = org.tokens["recruiter"]
        other_monitor = MonitorClient(monitor_url(hub), other)
        this_monitor = MonitorClient(monitor_url(hub), this)
        await other_monitor.connect()
        await this_monitor.connect()
        wrong = await http.post(
            "/api/hr/me/password", json={"current": "guess", "new": STRONG}, headers=bearer(this)
        )
        assert wrong.status_code == 403 and wrong.json()["reason"] == "wrong_password"
        r = await http.post(
            "/api/hr/me/password",
            json={"current": "pw-" + name, "new": STRONG},
            headers={**bearer(this), "User-Agent": "own-laptop"},
        )
        assert r.status_code == 200, r.text
        assert await closed(other_monitor) == (4008, "not_logged_in")
        assert (await this_monitor.watch("")).__class__ is Watching  # still open and allowed
        assert (await http.get("/api/hr/me", headers=bearer(other))).status_code == 401
        assert (await http.get("/api/hr/me", headers=bearer(this))).status_code == 200
        assert (await login(http, name, "pw-" + name)).json()["reason"] == "login_failed"
        assert (await login(http, name, STRONG)).status_code == 200
        entries = await org_log(http, org, "password_change")
        assert [(e["actor"], e["outcome"]) for e in entries] == [
            (name, "wrong_password"),
            (name, "ok"),
        ]
        assert entries[-1]["device"] == "own-laptop" and entries[-1]["role"] == "recruiter"
        await this_monitor.close()


async def test_admin_reset_ends_the_users_sessions(hub: Hub, fresh_org: Org) -> None:
    """An admin's reset sets a new password and ends every session and monitor of the user."""
    org = fresh_org
    name = org.users["interview_lead"]
    monitor = MonitorClient(monitor_url(hub), org.tokens["interview_lead"])
    await monitor.connect()
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post(
            f"/api/hr/users/{name}/password", json={"password": STRONG}, headers=org.auth("admin")
        )
        assert r.status_code == 200, r.text
        assert await closed(monitor) == (4008, "not_logged_in")
        assert (await http.get("/api/hr/me", headers=org.auth("interview_lead"))).status_code == 401
        assert (await login(http, name, STRONG)).status_code == 200
        entry = (await org_log(http, org, f"password_reset:{name}"))[-1]
        assert entry["actor"] == org.users["admin"] and entry["outcome"] == "ok"


async def test_logout_everywhere(hub: Hub, fresh_org: Org) -> None:
    """Logging out everywhere ends every session of the user, and their monitors, at once."""
    org = fresh_org
    name = org.users["recruiting_manager"]
    async with httpx.AsyncClient(base_url=hub.http) as http:
        phone = (await login(http, name, "pw-" + name)).json()["token"]
        monitor = MonitorClient(monitor_url(hub), phone)
        await monitor.connect()
        r = await http.post("/api/hr/logout/all", headers=org.auth("recruiting_manager"))
        assert r.status_code == 200
        assert await closed(monitor) == (4008, "not_logged_in")
        for token in (phone, org.tokens["recruiting_manager"]):
            assert (await http.get("/api/hr/me", headers=bearer(token))).status_code == 401
        assert (await org_log(http, org, "logout_all"))[-1]["actor"] == name


async def test_roles_api_lists_every_permission(hub: Hub, org: Org) -> None:
    """GET /api/hr/roles names every permission there is (the role editor shows them all)."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        body = (await http.get("/api/hr/roles", headers=org.auth("admin"))).json()
    assert body["permissions"] == [p.value for p in Permission]
    assert {"data.erase", "user.manage"} <= set(body["roles"]["admin"])
    assert body["role_names"] == ["admin", "recruiting_manager", "interview_lead", "recruiter"]


async def test_login_refuses_other_sites_and_records_the_device(hub: Hub, org: Org) -> None:
    """A form post (the only kind another site can make) is 415; a foreign Origin or
    Sec-Fetch-Site: cross-site is 403 origin_not_allowed; a login records its device."""
    name = org.users["recruiter"]
    good = {"username": name, "password": "pw-" + name}
    async with httpx.AsyncClient(base_url=hub.http) as http:
        form = await http.post("/api/hr/login", data=good)
        assert form.status_code == 415 and form.json()["reason"] == "malformed"
        plain = await http.post(
            "/api/hr/login", content=b'{"username":"x"}', headers={"content-type": "text/plain"}
        )
        assert plain.status_code == 415
        foreign = await login(http, name, "pw-" + name, Origin="https://evil.example")
        assert foreign.status_code == 403 and foreign.json()["reason"] == "origin_not_allowed"
        assert "set-cookie" not in foreign.headers
        cross = await login(http, name, "pw-" + name, **{"Sec-Fetch-Site": "cross-site"})
        assert cross.status_code == 403
        own = await login(
            http, name, "pw-" + name, Origin=hub.http, **{"User-Agent": "HR-Phone/1.0"}
        )
        assert own.status_code == 200
        entries = await org_log(http, org, "login")
    mine = [e for e in entries if e["actor"] == name and e["outcome"] == "ok"]
    assert mine[-1]["device"] == "HR-Phone/1.0" and mine[-1]["role"] == "recruiter"


# --- the lock-out, from several addresses ----------------------------------------------------


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(tmp_path_factory.mktemp("accounts-redis"), port=free_port()) as redis:
        yield redis


@pytest.fixture
async def own_accounts(own_redis: EmbeddedRedis) -> AsyncIterator[Accounts]:
    store = Store.from_url(own_redis.url, secret=SECRET, master_keys=MASTER_KEYS)
    await store.redis.flushall()  # no counters, users or demo accounts from another test
    yield Accounts(store, 3600)
    await store.close()


@pytest.fixture
def proxied_hub(own_redis: EmbeddedRedis, own_accounts: Accounts, tmp_path: Path) -> Iterator[Any]:
    """Start a hub that believes 127.0.0.1's X-Forwarded-For (each test picks its client
    addresses), with the given settings; stopped after the test."""
    hubs: list[Hub] = []

    def start(**env: str) -> Hub:
        hubs.append(start_hub(own_redis.url, tmp_path, HUB_TRUSTED_PROXIES="127.0.0.1", **env))
        return hubs[-1]

    yield start
    for hub in hubs:
        hub.stop()


def at(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_a_stranger_locks_out_only_their_own_address(
    proxied_hub: Any, own_accounts: Accounts
) -> None:
    """Eleven wrong passwords for a user from one address lock that address out for that
    user (even with the right password), while the owner on another address logs in."""
    hub = proxied_hub()
    await own_accounts.add_user("hana", STRONG, "acme", ["admin"], now_ms())
    async with httpx.AsyncClient(base_url=hub.http) as http:
        reasons = [
            (
                await http.post(
                    "/api/hr/login",
                    json={"username": "hana", "password": f"guess{i}"},
                    headers=at("203.0.113.7"),
                )
            ).json()["reason"]
            for i in range(11)
        ]
        assert reasons[:10] == ["login_failed"] * 10 and reasons[10] == "too_many_attempts"
        stranger = await login(http, "hana", STRONG, **at("203.0.113.7"))
        assert stranger.status_code == 429
        owner = await login(http, "hana", STRONG, **at("198.51.100.20"))
        assert owner.status_code == 200, owner.text


async def test_distributed_guessing_is_braked_but_the_owner_gets_in(
    proxied_hub: Any, own_accounts: Accounts
) -> None:
    """After 3 failures from all over, addresses the user has not logged in from get one
    password check per interval (10 minutes here) between them; the owner's known address
    is never held back."""
    hub = proxied_hub(HUB_LOGIN_BRAKE_AFTER="3", HUB_LOGIN_BRAKE_INTERVAL_S="600")
    await own_accounts.add_user("ravi", STRONG, "acme", ["recruiter"], now_ms())
    async with httpx.AsyncClient(base_url=hub.http) as http:
        assert (await login(http, "ravi", STRONG, **at("198.51.100.5"))).status_code == 200
        for i in range(3):  # three addresses, one guess each: under every per-address limit
            r = await login(http, "ravi", "guess", **at(f"203.0.113.{i + 1}"))
            assert r.json()["reason"] == "login_failed"
        first = await login(http, "ravi", "guess", **at("203.0.113.50"))
        assert first.json()["reason"] == "login_failed"  # checked: the interval starts
        held = await login(http, "ravi", STRONG, **at("203.0.113.51"))
        assert held.status_code == 429 and held.json()["reason"] == "too_many_attempts"
        owner = await login(http, "ravi", STRONG, **at("198.51.100.5"))
        assert owner.status_code == 200, owner.text
        others = await login(http, "someone-else", "guess", **at("203.0.113.51"))
        assert others.json()["reason"] == "login_failed"  # the brake is this user's only


# --- demo accounts ---------------------------------------------------------------------------


async def test_plain_serve_disables_demo_accounts(
    own_redis: EmbeddedRedis, own_accounts: Accounts, tmp_path: Path
) -> None:
    """The demo's accounts (published passwords) work under `serve --demo`; a later plain
    `serve` on the same data disables them with a warning; `--demo` enables them again. A
    demo account whose password was reset is no longer one and stays usable."""
    demo = start_hub(own_redis.url, tmp_path, serve_args=("--demo",))
    try:
        async with httpx.AsyncClient(base_url=demo.http) as http:
            r = await login(http, "admin", "demo-admin")
            assert r.status_code == 200, r.text
            admin = bearer(r.json()["token"])
            users = (await http.get("/api/hr/users", headers=admin)).json()["users"]
            assert {u["name"] for u in users if u["demo"]} == {
                "admin",
                "manager",
                "lead",
                "recruiter",
            }
            reset = await http.post(
                "/api/hr/users/lead/password", json={"password": STRONG}, headers=admin
            )
            assert reset.status_code == 200
    finally:
        demo.stop()
    plain = start_hub(own_redis.url, tmp_path)
    try:
        assert "warning: disabled the demo accounts admin, manager, recruiter" in plain.log()
        async with httpx.AsyncClient(base_url=plain.http) as http:
            refused = await login(http, "admin", "demo-admin")
            assert refused.status_code == 403 and refused.json()["reason"] == "account_disabled"
            assert (await login(http, "recruiter", "demo-recruiter")).status_code == 403
            assert (await login(http, "lead", STRONG)).status_code == 200
    finally:
        plain.stop()
    logged = {(e["action"], e["actor"]) for e in await own_accounts.store.org_log("demo")}
    assert ("user_disable:admin", "cli:serve") in logged
    again = start_hub(own_redis.url, tmp_path, serve_args=("--demo",))
    try:
        async with httpx.AsyncClient(base_url=again.http) as http:
            assert (await login(http, "admin", "demo-admin")).status_code == 200
        assert "lead is not a demo account" in again.log()
    finally:
        again.stop()


async def test_an_address_locked_out_for_a_user_cannot_hog_the_brake(store: Store) -> None:
    """Once the brake is on, an address already locked out for that user is refused before the brake, so it never takes the one check a new address is let through: the owner still gets in."""
    from server.settings import Settings

    settings = Settings(
        login_brake_after=3, login_brake_interval_s=2.0, max_login_failures_per_user_ip=2
    )
    accounts = Accounts(store, 3600, settings)
    name, strong = f"ravi{uuid.uuid4().hex[:6]}", "Vq8#tR2!mZ9$kLp4-owner"
    await accounts.add_user(name, strong, "acme", ["recruiter"], now_ms(), check_policy=False)
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):  # failures from all over: the brake is on
        with pytest.raises(Refusal):
            await accounts.login(name, "guess", now_ms(), ip)
    # one attacker address already locked out for this user (its two checks used up)
    await store.redis.set(f"loginfail:{name}:10.9.9.9", 2, ex=900)
    stop = asyncio.Event()

    async def attacker() -> None:
        while not stop.is_set():
            with pytest.raises(Refusal):
                await accounts.login(name, "guess", now_ms(), "10.9.9.9")
            await asyncio.sleep(0.005)

    hammering = [asyncio.create_task(attacker()) for _ in range(5)]
    try:
        await asyncio.sleep(0.3)  # the attackers are at it
        # the owner, trying from a new address, gets the next check the brake lets through
        for _ in range(10):  # (a bound: the brake frees a check every 2 s)
            try:
                token, principal = await accounts.login(name, strong, now_ms(), "192.0.2.77")
                break
            except Refusal as exc:
                assert exc.reason == "too_many_attempts"
                await asyncio.sleep(0.5)
        else:
            raise AssertionError("the owner never got a check")
        assert token and principal.user == name
    finally:
        stop.set()
        await asyncio.gather(*hammering)
