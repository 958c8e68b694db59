"""Request bodies (server/bodies.py): a JSON body nested past MAX_JSON_DEPTH is refused as
``malformed`` on every JSON endpoint, candidate and HR, before the recursive decoder sees
it; nothing is logged for it and the hub goes on serving."""

from __future__ import annotations

import httpx
import pytest

from server.bodies import MAX_JSON_DEPTH
from tests.conftest import ID_NUMBER, Hub, Org, interview_body

DEEP = 30_000


def deep_array(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def deep_object(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def deep_mixed(depth: int) -> bytes:
    """Arrays and objects in turn, with brackets inside strings that must not count."""
    return b'[{"s":"]]}}[[{{","a":' * (depth // 2) + b"0" + b"}]" * (depth // 2)


CANDIDATE_POSTS = ["/api/candidate/exit", "/api/candidate/centre", "/api/candidate/answer"]
HR_BODIES = [
    ("POST", "/api/hr/login"),
    ("POST", "/api/hr/interviews"),
    ("POST", "/api/hr/interviews/{iv}/end"),
    ("POST", "/api/hr/interviews/{iv}/reset"),
    ("POST", "/api/hr/interviews/{iv}/reentry"),
    ("POST", "/api/hr/interviews/{iv}/erase"),
    ("PUT", "/api/hr/retention"),
    ("PUT", "/api/hr/roles/recruiter"),
    ("POST", "/api/hr/users"),
    ("PUT", "/api/hr/users/{user}/roles"),
]


async def test_every_json_endpoint_refuses_deep_nesting_as_malformed(hub: Hub, org: Org) -> None:
    """30,000-deep arrays, 10,000-deep objects and a 5,000-deep mix (deeper would be over the 64 KiB size limit) sent to every endpoint that reads a JSON body, get 400 malformed (never a 500), and the hub logs nothing for them."""
    bodies = [deep_array(DEEP), deep_object(10_000), deep_mixed(5_000)]
    async with httpx.AsyncClient(base_url=hub.http, timeout=30) as http:
        created = await http.post(
            "/api/hr/interviews", json=interview_body(), headers=org.auth("admin")
        )
        iv_id = created.json()["interview_id"]
        targets = [("POST", path, {}) for path in CANDIDATE_POSTS]
        targets += [
            (method, path.format(iv=iv_id, user=org.users["recruiter"]), org.auth("admin"))
            for method, path in HR_BODIES
        ]
        for method, path, auth in targets:
            for body in bodies:
                assert len(body) <= 64 * 1024
                r = await http.request(
                    method,
                    path,
                    content=body,
                    headers={**auth, "content-type": "application/json"},
                )
                assert r.status_code == 400, (path, r.status_code, r.text[:200])
                assert r.json()["reason"] == "malformed", path
                assert set(r.json()["message"]) == {"en", "zh-CN"}
        assert (await http.get("/healthz")).status_code == 200
        # the interview is untouched by all that
        detail = await http.get(f"/api/hr/interviews/{iv_id}", headers=org.auth("admin"))
        assert detail.json()["state"] == "invited"
    assert hub.errors() == []


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1])
async def test_nesting_up_to_the_limit_is_read_and_one_more_is_not(hub: Hub, depth: int) -> None:
    """A body nesting exactly MAX_JSON_DEPTH deep (counting the body itself) is read as usual; one level more is malformed."""
    inner = b"[" * (depth - 1) + b"]" * (depth - 1)
    body = b'{"token": "nosuch.token", "identity": "%s", "extra": %s}' % (
        ID_NUMBER.encode(),
        inner,
    )
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post(
            "/api/candidate/centre", content=body, headers={"content-type": "application/json"}
        )
    expected = "link_invalid" if depth <= MAX_JSON_DEPTH else "malformed"
    assert r.json()["reason"] == expected


async def test_brackets_inside_strings_do_not_count(hub: Hub) -> None:
    """A string full of brackets (a candidate may type "[[[[") is not nesting: the body is read as usual."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post(
            "/api/candidate/centre",
            json={"token": "nosuch.token", "identity": "[" * 1000 + '\\"{' * 500},
        )
    assert r.json()["reason"] == "link_invalid"
