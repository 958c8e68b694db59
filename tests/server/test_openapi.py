"""The OpenAPI document (server/openapi.py) and the shapes it is made of
(server/http_models.py, server/shapes.py): a valid OpenAPI 3.1 document that describes every
route of the app with its request and answer schemas, and that every real answer of a real
hub, success and refusal, matches."""

from __future__ import annotations

import functools
import json
import re
import time
from typing import Any

import httpx
import jsonschema
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from openapi_spec_validator import validate as validate_openapi
from starlette.routing import Route, WebSocketRoute

from client.candidate import CandidateClient
from server import http_models as m
from server.app import create_app
from server.interviews import InterviewSpec, SpecError
from server.openapi import OPERATIONS, MissingOperation, document
from server.settings import Settings
from server.shapes import (
    Lenient,
    ShapeError,
    conform,
    fields_of,
    read,
    schema,
    strip_python_names,
    write,
)
from server.store import Store, key, media_purpose
from tests.conftest import PHONE, Hub, Org, interview_body

STRONG_PASSWORD = "Vq7#mZp2!xLr9wTe"
OTHER_STRONG_PASSWORD = "Kd4$wN8@pYs3!hQz"


def ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """JSON Schema's regexes are ECMA-262's, where ``$`` is the end of the string (Python's
    also matches before a final newline)."""
    if isinstance(instance, str) and not re.search(re.sub(r"\$$", r"\\Z", pattern), instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


# A JSON number with a zero fraction (30.0) is an "integer" to JSON Schema; the hub reads only
# a JSON integer there (as it always has), which is what its schemas mean by the word.
STRICT_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda checker, value: type(value) is int
)
Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, {"pattern": ecma_pattern}, type_checker=STRICT_TYPES
)


def validator(doc: dict[str, Any], sub: dict[str, Any]) -> Any:
    """A validator for ``sub``, a schema inside ``doc`` (its $refs resolve in the document)."""
    return Validator({**sub, "components": doc["components"]})


class Calls:
    """Calls the hub and checks every answer against the document as it goes."""

    def __init__(self, http: httpx.AsyncClient, doc: dict[str, Any]) -> None:
        self.http = http
        self.doc = doc
        self.answered: dict[tuple[str, str], set[int]] = {}

    async def __call__(
        self,
        method: str,
        template: str,
        expect: int,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        **path: str | int,
    ) -> httpx.Response:
        r = await self.http.request(
            method, template.format(**path), json=json, headers=headers, params=params
        )
        self.http.cookies.clear()  # every call says who it is (the login sets a cookie)
        assert r.status_code == expect, (method, template, r.status_code, r.text[:300])
        op = self.doc["paths"][template][method.lower()]
        described = op["responses"].get(str(r.status_code))
        assert described, f"{method} {template} answered {r.status_code}: not in the document"
        media = r.headers["content-type"].split(";")[0]
        assert media in described["content"], (method, template, media)
        answer_schema = described["content"][media].get("schema")
        if answer_schema is not None:
            errors = list(validator(self.doc, answer_schema).iter_errors(r.json()))
            assert not errors, (method, template, r.status_code, [e.message for e in errors])
        if json is not None and r.status_code < 300:  # what the hub took, the document allows
            body_schema = op["requestBody"]["content"]["application/json"]["schema"]
            validator(self.doc, body_schema).validate(json)
        self.answered.setdefault((method, template), set()).add(r.status_code)
        return r


async def test_the_document_is_openapi_3_1_and_describes_every_route(
    hub: Hub, settings: Settings
) -> None:
    """/openapi.json is a valid OpenAPI 3.1 document; every HTTP route of the app but the web pages is in it, with a request body schema where the route reads one and a schema for each answer (success and refusal); /docs shows every route and schema."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        doc = (await http.get("/openapi.json")).json()
        page = (await http.get("/docs")).text
    validate_openapi(doc)
    assert doc["openapi"].startswith("3.1")
    app = create_app(settings)
    described = 0
    for route in app.routes:
        if isinstance(route, WebSocketRoute) or not isinstance(route, Route):
            continue  # the sockets (SPEC §2, §15) and the static files
        if route.path.startswith("/api/") or route.path in ("/healthz", "/readyz"):
            assert route.include_in_schema, route.path
        if not route.include_in_schema:
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            op = doc["paths"][route.path][method.lower()]
            assert op["summary"], (method, route.path)
            if OPERATIONS[(method, route.path)].body is not None:
                assert "$ref" in op["requestBody"]["content"]["application/json"]["schema"]
            else:
                assert "requestBody" not in op
            success = [s for s in op["responses"] if s.startswith("2")]
            assert success, (method, route.path)
            for status, answer in op["responses"].items():
                content = answer["content"]
                if status.startswith("2") and "application/json" not in content:
                    continue  # a file or a page (recording.webm, report.html)
                refers = json.dumps(content["application/json"]["schema"])
                assert "#/components/schemas/" in refers, (method, route.path, status)
                if status.startswith("4"):
                    assert content["application/json"]["schema"]["$ref"].endswith("/Refused")
            assert f"<code>{route.path}</code>" in page
            described += 1
    assert described == len(OPERATIONS) == sum(len(ops) for ops in doc["paths"].values())
    for name in doc["components"]["schemas"]:
        assert f'id="{name}"' in page


def test_a_route_the_table_does_not_describe_is_an_error() -> None:
    """A route that OPERATIONS lacks makes the document fail loudly (never a document silent about it)."""

    async def undescribed(request: Any) -> Any:
        """
        summary: "New."
        """

    with pytest.raises(MissingOperation, match="POST /api/hr/new"):
        document([Route("/api/hr/new", undescribed, methods=["POST"])])


async def test_every_answer_of_every_route_matches_the_document(
    hub: Hub, fresh_org: Org, store: Store
) -> None:
    """Every route called for real, a success and a typical refusal each: every answer (status, content type, body) is one the document gives for that route, every body the hub took is one its request schema allows, and no route of the document is left uncalled."""
    org = fresh_org
    admin, recruiter = org.auth("admin"), org.auth("recruiter")
    async with httpx.AsyncClient(base_url=hub.http, timeout=30) as http:
        doc = (await http.get("/openapi.json")).json()
        call = Calls(http, doc)

        # health and the candidate's
        await call("GET", "/healthz", 200)
        await call("GET", "/readyz", 200)
        await call("GET", "/api/candidate/media-config", 200)
        created = (
            await call("POST", "/api/hr/interviews", 201, json=interview_body(2), headers=admin)
        ).json()
        iv, token = created["interview_id"], created["token"]
        proof = {"token": token, "identity": PHONE}
        await call("POST", "/api/candidate/centre", 200, json=proof)
        await call(
            "POST", "/api/candidate/centre", 404, json={"token": "no.such", "identity": PHONE}
        )
        await call("POST", "/api/candidate/answer", 409, json=proof)  # not in progress yet
        choices = {**proof, "review": "human_only", "camera": False, "notice_version": "1"}
        await call("POST", "/api/candidate/consent", 200, json=choices)
        await call("POST", "/api/candidate/consent", 409, json={**choices, "review": "ai"})
        await call("POST", "/api/candidate/consent", 400, json={**choices, "camera": "yes"})
        await call("POST", "/api/candidate/help", 200, json={**proof, "kind": "more_time"})
        await call("POST", "/api/candidate/help", 400, json={**proof, "kind": "everything"})
        async with CandidateClient(hub.ws, token, PHONE) as candidate:
            await candidate.join()
            await candidate.send_text("an answer")
            await candidate.wait_acked()
            await call("POST", "/api/candidate/answer", 200, json=proof)
            await call("POST", "/api/candidate/exit", 200, json={**proof, "confirm": False})
            await call("POST", "/api/candidate/exit", 200, json={**proof, "confirm": True})
        await call("POST", "/api/candidate/exit", 400, json={"token": token, "identity": 5})

        # HR: sessions
        user, password = org.users["interview_lead"], "pw-" + org.users["interview_lead"]
        login = {"username": user, "password": password}
        session = (await call("POST", "/api/hr/login", 200, json=login)).json()["token"]
        await call("POST", "/api/hr/login", 401, json={"username": user, "password": "nope"})
        await call("GET", "/api/hr/session", 200)
        await call("GET", "/api/hr/session", 200, headers={"Authorization": f"Bearer {session}"})
        await call("GET", "/api/hr/me", 200, headers=admin)
        await call("GET", "/api/hr/me", 401)
        await call("POST", "/api/hr/logout", 200, headers={"Authorization": f"Bearer {session}"})
        await call("POST", "/api/hr/logout", 401)
        await call("POST", "/api/hr/logout/all", 401)
        change = {"current": "pw-" + org.users["recruiter"], "new": STRONG_PASSWORD}
        await call(
            "POST", "/api/hr/me/password", 403, json={**change, "current": "no"}, headers=recruiter
        )
        await call("POST", "/api/hr/me/password", 200, json=change, headers=recruiter)

        # HR: interviews
        ivp = "/api/hr/interviews/{iv}"
        await call("GET", "/api/hr/interviews", 200, headers=admin, params={"state": "exited"})
        await call("GET", "/api/hr/interviews", 401)
        await call("POST", "/api/hr/interviews", 403, json=interview_body(), headers=recruiter)
        await call("GET", ivp, 200, headers=admin, iv=iv)
        await call("GET", ivp, 404, headers=admin, iv="nosuch")
        await call("POST", ivp + "/reentry", 400, json={"window_s": 0}, headers=admin, iv=iv)
        await call("POST", ivp + "/reentry", 200, json={"window_s": 60}, headers=admin, iv=iv)
        await call("GET", ivp + "/notifications", 200, headers=admin, iv=iv)
        await call("GET", ivp + "/notifications", 404, headers=admin, iv="nosuch")
        await call("POST", ivp + "/link", 403, headers=recruiter, iv=iv)
        await call("POST", ivp + "/link", 200, headers=admin, iv=iv)
        await call("POST", ivp + "/report", 403, headers=recruiter, iv=iv)
        await call("POST", ivp + "/report", 201, headers=admin, iv=iv)
        await call("GET", ivp + "/report", 200, headers=admin, iv=iv)
        await call("GET", ivp + "/report", 404, headers=admin, iv=iv, params={"version": 99})
        await call("GET", ivp + "/report.html", 200, headers=admin, iv=iv)
        await call("GET", ivp + "/report.html", 404, headers=admin, iv=iv, params={"version": 9})
        await call("GET", ivp + "/report.pdf", 200, headers=admin, iv=iv, params={"lang": "en"})
        await call("GET", ivp + "/report.pdf", 404, headers=admin, iv=iv, params={"version": 9})
        override = {"dimension": "logical_thinking", "score": 70, "reason": "Reasoned well"}
        await call("POST", ivp + "/report/override", 201, json=override, headers=admin, iv=iv)
        await call("POST", ivp + "/report/override", 403, json=override, headers=recruiter, iv=iv)
        await call(
            "POST",
            ivp + "/report/override",
            400,
            json={**override, "reason": ""},
            headers=admin,
            iv=iv,
        )
        await call("PUT", ivp + "/report_auto", 200, json={"on": False}, headers=admin, iv=iv)
        await call("PUT", ivp + "/report_auto", 403, json={"on": True}, headers=recruiter, iv=iv)
        decision = {"decision": "hold", "comment": "Later"}
        await call("POST", ivp + "/report/decision", 201, json=decision, headers=admin, iv=iv)
        await call("POST", ivp + "/report/decision", 403, json=decision, headers=recruiter, iv=iv)
        await call("GET", "/api/hr/compare", 200, headers=admin, params={"position": "Analyst"})
        await call("GET", ivp + "/profile", 200, headers=recruiter, iv=iv)
        await call("GET", ivp + "/profile", 401, iv=iv)
        profile_id = (await call("GET", ivp + "/profile", 200, headers=admin, iv=iv)).json()[
            "profile_id"
        ]
        profiles = "/api/hr/profiles/{profile}"
        await call("GET", profiles, 200, headers=admin, profile=profile_id)
        await call("GET", profiles, 404, headers=admin, profile="0123456789abcdef0123456789abcdef")
        await call("GET", "/api/hr/compare", 401, params={"position": "Analyst"})
        for part in ("/log", "/log/verify", "/log/export"):
            await call("GET", ivp + part, 200, headers=admin, iv=iv)
            await call("GET", ivp + part, 403, headers=recruiter, iv=iv)
        await plant_a_second_of_audio(store, iv)
        recording = ivp + "/answers/{q}/recording.webm"
        await call("GET", recording, 200, headers=admin, iv=iv, q=0)
        await call("GET", recording, 404, headers=admin, iv=iv, q=1)
        said = {"text": "planted", "language": "en", "engine": "remote", "model": "m"}
        said |= {"segments": [{"start_ms": 0, "end_ms": 900, "text": "planted", "words": []}]}
        said |= {"audio_ms": 1000, "speech_ms": 800, "pauses": [], "made_ms": 1}
        assert await store.save_transcript(iv, 1, 0, said)
        transcript = ivp + "/answers/{q}/transcript"
        await call("GET", transcript, 200, headers=admin, iv=iv, q=0)
        await call("GET", transcript, 404, headers=admin, iv=iv, q=1)
        await call("GET", "/api/hr/search", 200, headers=admin, params={"q": "planted"})
        await call("GET", "/api/hr/search", 400, headers=admin, params={"q": " "})
        await call("POST", ivp + "/end", 400, json={"confirm": False}, headers=admin, iv=iv)
        await call(
            "POST", ivp + "/end", 200, json={"confirm": True, "note": "n"}, headers=admin, iv=iv
        )
        await call("POST", ivp + "/reset", 403, json={"confirm": True}, headers=recruiter, iv=iv)
        await call("POST", ivp + "/reset", 200, json={"confirm": True}, headers=admin, iv=iv)
        await call("GET", ivp, 200, headers=admin, iv=iv, params={"attempt": 1})
        await call("POST", ivp + "/erase", 409, json={"confirm": True}, headers=admin, iv=iv)
        other = (
            await call("POST", "/api/hr/interviews", 201, json=interview_body(), headers=admin)
        ).json()
        await call(
            "POST",
            ivp + "/end",
            200,
            json={"confirm": True},
            headers=admin,
            iv=other["interview_id"],
        )
        await call(
            "POST",
            ivp + "/erase",
            200,
            json={"confirm": True},
            headers=admin,
            iv=other["interview_id"],
        )
        await call("GET", "/api/hr/retention", 200, headers=admin)
        await call("GET", "/api/hr/retention", 401)
        await call("PUT", "/api/hr/retention", 200, json={"days": 200}, headers=admin)
        await call("PUT", "/api/hr/retention", 400, json={"days": 0}, headers=admin)
        await call("GET", "/api/hr/org", 200, headers=admin)
        await call("GET", "/api/hr/org", 401)
        hook = {"url": "https://8.8.8.8/ats", "events": ["decision.made"]}
        await call("PUT", "/api/hr/org/webhook", 200, json=hook, headers=admin)
        await call("PUT", "/api/hr/org/webhook", 400, json={"url": "ftp://x/"}, headers=admin)
        await call("PUT", "/api/hr/org/webhook", 403, json=hook, headers=recruiter)
        await call("GET", "/api/hr/org/webhook", 200, headers=admin)
        await call("GET", "/api/hr/org/webhook", 403, headers=recruiter)
        await call("DELETE", "/api/hr/org/webhook", 200, headers=admin)
        await call("DELETE", "/api/hr/org/webhook", 403, headers=recruiter)
        await call("PUT", "/api/hr/org", 200, json={"time_zone": "Europe/Paris"}, headers=admin)
        await call("PUT", "/api/hr/org", 400, json={"time_zone": "Mars/Base"}, headers=admin)
        await call(
            "PUT", "/api/hr/org", 403, json={"display_name": "X"}, headers=org.auth("recruiter")
        )
        await call("GET", "/api/hr/log", 200, headers=admin, params={"action": "login"})
        await call("GET", "/api/hr/log", 403, headers=recruiter)

        # HR: roles and users
        roles = (await call("GET", "/api/hr/roles", 200, headers=admin)).json()["roles"]
        await call("GET", "/api/hr/roles", 403, headers=recruiter)
        kept = {"permissions": roles["recruiter"]}
        await call("PUT", "/api/hr/roles/{role}", 200, json=kept, headers=admin, role="recruiter")
        await call("PUT", "/api/hr/roles/{role}", 400, json=kept, headers=admin, role="emperor")
        await call("GET", "/api/hr/users", 200, headers=admin)
        await call("GET", "/api/hr/users", 403, headers=recruiter)
        name = f"{org.name}-spare"
        spare = {"username": name, "password": STRONG_PASSWORD, "roles": ["recruiter"]}
        await call(
            "POST", "/api/hr/users", 400, json={**spare, "username": "Not A Name"}, headers=admin
        )
        await call("POST", "/api/hr/users", 201, json=spare, headers=admin)
        spare_login = {"username": name, "password": STRONG_PASSWORD}
        spare_session = (await call("POST", "/api/hr/login", 200, json=spare_login)).json()
        spare_auth = {"Authorization": f"Bearer {spare_session['token']}"}
        await call("POST", "/api/hr/logout/all", 200, headers=spare_auth)
        users = "/api/hr/users/{name}"
        await call(
            "PUT",
            users + "/roles",
            200,
            json={"roles": ["interview_lead"]},
            headers=admin,
            name=name,
        )
        await call(
            "PUT", users + "/roles", 400, json={"roles": ["emperor"]}, headers=admin, name=name
        )
        await call("POST", users + "/disable", 200, headers=admin, name=name)
        await call("POST", users + "/disable", 409, headers=admin, name=org.users["admin"])
        await call("POST", users + "/enable", 200, headers=admin, name=name)
        await call("POST", users + "/enable", 404, headers=admin, name="nosuch")
        new_password = {"password": OTHER_STRONG_PASSWORD}
        await call(
            "POST", users + "/password", 400, json={"password": "short"}, headers=admin, name=name
        )
        await call("POST", users + "/password", 200, json=new_password, headers=admin, name=name)
        await call("DELETE", users, 400, json={"confirm": False}, headers=admin, name=name)
        await call("DELETE", users, 200, json={"confirm": True}, headers=admin, name=name)

    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            seen = call.answered.get((method.upper(), path), set())
            assert any(200 <= s < 300 for s in seen), f"{method} {path}: no success called"
            if any(s.startswith("4") for s in op["responses"]):
                assert any(400 <= s < 500 for s in seen), f"{method} {path}: no refusal called"
    assert hub.errors() == []


async def plant_a_second_of_audio(store: Store, iv_id: str) -> None:
    """One stored second of silence for question 0, sealed as the media path stores it."""
    dek, attempt = await store.redis.hmget(key(iv_id, "meta"), ["dek", "attempt"])
    number = int(attempt or 1)
    sealed = store.cipher_for(iv_id, dek or "").seal(
        media_purpose(number, 0, "pcm16k", "planted", 0), bytes(32_000)
    )
    fields = {"q": 0, "k": "pcm16k", "s": "planted", "n": 0, "lvl": 0, "d": sealed}
    await store.raw.xadd(key(iv_id, "media"), {**fields, "t": time.time_ns() // 1_000_000})


async def test_roles_of_the_wrong_kind_are_bad_field_not_a_500(hub: Hub, fresh_org: Org) -> None:
    """A user's roles that are not strings ([{}], [1]) are 400 bad_field: the body is read into its shape before anything uses it (it was a 500 for an object)."""
    admin = fresh_org.auth("admin")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        for roles in ([{}], [1], "admin"):
            r = await http.put(
                f"/api/hr/users/{fresh_org.users['recruiter']}/roles",
                json={"roles": roles},
                headers=admin,
            )
            assert r.status_code == 400 and r.json()["reason"] == "bad_field", (roles, r.text)
    assert hub.errors() == []


# --- the shapes and their schemas agree ---------------------------------------------------

REQUEST_SHAPES = sorted(
    {op.body for op in OPERATIONS.values() if op.body not in (None, m.InterviewSpecBody)},
    key=lambda shape: shape.__name__,
)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 4000),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "admin", "recruiter", "interview.end", "a-b.c", "Not A Name", "x" * 70]),
    st.text(max_size=8),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


def bodies_for(shape: type) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects with some of the shape's keys (and maybe others), of any value."""
    keys = [f.key for f in fields_of(shape)] + ["unknown"]
    value = st.one_of(JSON_VALUES, st.lists(JSON_SCALARS, max_size=3))
    return st.dictionaries(st.sampled_from(keys), value, max_size=len(keys))


@pytest.mark.parametrize("shape", REQUEST_SHAPES, ids=lambda s: s.__name__)
@hypothesis_settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_a_request_body_is_read_exactly_when_its_schema_allows_it(shape: type, data: Any) -> None:
    """For every request body shape and random JSON objects: a body its schema allows is read; a body it refuses is bad_field (but for the documented lenient fields, e.g. confirm, which read any value)."""
    check = validator_of(shape)
    body = data.draw(bodies_for(shape))
    allowed = check.is_valid(body)
    try:
        read(shape, body)
        was_read = True
    except ShapeError:
        was_read = False
    if allowed:
        assert was_read, (shape.__name__, body)
    lenient = any(f.extra(Lenient) is not None for f in fields_of(shape))
    if was_read and not lenient:
        assert allowed, (shape.__name__, body, [e.message for e in check.iter_errors(body)])


@functools.cache
def validator_of(shape: type) -> Any:
    """A validator of the shape's own schema."""
    defs: dict[str, Any] = {}
    shape_schema = schema(shape, defs)
    return validator({"components": {"schemas": strip_python_names(defs)}}, shape_schema)


def spec_body(**changes: Any) -> dict[str, Any]:
    body = {
        "candidate": {"name": "张三", "id_number": "110101199003071234", "phone": "13800138000"},
        "position": "Backend engineer",
        "questions": [{"text": "Tell us about yourself.", "time_limit_s": 120}, "How do you test?"],
        "policy": {"second_entry": True, "reentry_window_s": 86400},
    }
    return {**body, **changes}


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        (spec_body(), True),
        (spec_body(policy=None), True),
        (spec_body(questions=["Only one"]), True),
        (spec_body(candidate={"name": "A", "phone": "13800138000", "lang": "en"}), True),
        (spec_body(candidate={"phone": "13800138000"}), False),
        (spec_body(candidate={"name": 5, "phone": "13800138000"}), False),
        (spec_body(candidate={"name": "x" * 201, "phone": "13800138000"}), False),
        (spec_body(position=""), False),
        (spec_body(position=None), False),
        (spec_body(questions=[]), False),
        (spec_body(questions=[""]), False),
        (spec_body(questions=[{"text": "q", "time_limit_s": -1}]), False),
        (spec_body(questions=[{"text": "q", "time_limit_s": True}]), False),
        (spec_body(questions=["q"] * 201), False),
        (spec_body(questions=["x" * 4001]), False),
        (spec_body(policy={"link_ttl_s": -5}), False),
        (spec_body(policy={"resume_grace_s": "300"}), False),
        (spec_body(policy=[1]), False),
    ],
)
def test_the_spec_schema_agrees_with_the_spec_reader(body: dict[str, Any], valid: bool) -> None:
    """The create body's schema (InterviewSpecBody) and InterviewSpec.from_dict, which reads it, accept and refuse the same specs."""
    check = validator_of(m.InterviewSpecBody)
    assert check.is_valid(body) is valid, [e.message for e in check.iter_errors(body)]
    if valid:
        InterviewSpec.from_dict(json.loads(json.dumps(body)))
    else:
        with pytest.raises(SpecError):
            InterviewSpec.from_dict(body)


ENTRY = {
    "id": "1-0",
    "t": 1,
    "action": "login",
    "outcome": "ok",
    "actor": "a",
    "role": "admin",
    "ip": "127.0.0.1",
    "device": "httpx",
}


def test_an_answer_that_drifts_from_its_shape_is_sent_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An answer built with a key its shape does not name, or a field of the wrong type, is our bug: conform() refuses it (ShapeError), and answer() logs it as an error, once, and still sends what was built (a person is not failed for a documentation drift; the route tests above catch it); an open record (a log entry) keeps the keys a later version may add; both ways of writing an answer give the same JSON."""
    health = {
        "status": "ok",
        "redis": "ok",
        "sockets": 0,
        "tasks": {"sweeper": "running"},
        "restarts": {},
        "log_anchors": "ok",
        "reasons": [],
    }
    assert json.loads(m.answer(m.Health, health).body) == health
    with pytest.raises(ShapeError, match="unknown keys"):
        conform(m.Health, {**health, "secret": "x"})
    with pytest.raises(ShapeError, match="sockets: expected integer"):
        conform(m.Health, {**health, "sockets": "0"})
    with pytest.raises(ShapeError, match=r"entries\[1\]\.t: expected integer"):
        conform(m.LogEntries, {"entries": [ENTRY, {**ENTRY, "t": "1"}]})
    drifted = {**health, "secret": "x"}
    with caplog.at_level("ERROR", logger="interview_hub.http"):
        assert json.loads(m.answer(m.Health, drifted).body) == drifted
        m.answer(m.Health, drifted)
    assert [r.message for r in caplog.records].count(
        "answer does not fit its documented shape Health: unknown keys ['secret'] (Health)"
    ) == 1
    later = {**ENTRY, "detail": {"why": "retention"}, "added_later": [1]}
    assert json.loads(m.answer(m.LogEntries, {"entries": [later]}).body) == {"entries": [later]}
    for kind, value in [
        (m.LogEntries, {"entries": [later]}),
        (m.Health, {**health, "lease": "held"}),
        (m.Refused, json.loads(m.answer(m.Refused, m.Refused.of("permission_denied:x")).body)),
    ]:
        assert json.loads(m.answer(kind, value).body) == write(read(kind, value)) == value
