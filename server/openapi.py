"""The OpenAPI 3.1 document of the hub's HTTP API, made from its routes and their shapes.

A route's summary is the YAML ``summary:`` of its handler's docstring; what it reads and
answers, its query parameters and the refusals it may give beyond the common ones are in
``OPERATIONS`` below, by method and path; the shapes themselves are in
server/http_models.py, the same classes the handlers read and answer with. ``/openapi.json``
serves the document, ``/docs`` a page a person reads. A route the app has and OPERATIONS
lacks (or the reverse) is an error, so the document is never served half true;
tests/server/test_openapi.py calls every route and checks each answer against it.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.schemas import BaseSchemaGenerator

from protocol.reasons import Reason, http_status
from server import http_models as m
from server.shapes import REF_PREFIX, schema, strip_python_names

TITLE = "interview-hub HTTP API"
VERSION = "1"


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    kind: Any  # its type, as a shape's field would have it
    doc: str


@dataclass(frozen=True, slots=True)
class Operation:
    """What one route reads and answers."""

    answer: Any  # the success answer's shape, or a media type (a str) for a file or page
    body: Any = None  # the request body's shape; None: the route reads no body
    status: int = 200  # of the success answer
    session: bool = False  # needs an HR session: Bearer token, or the cookie and X-CSRF: 1
    refusals: tuple[str | tuple[str, int], ...] = ()  # beyond the common ones; (reason, status)
    query: tuple[Query, ...] = ()
    also: Mapping[int, Any] = field(default_factory=dict)  # other answers, not refusals

    def status_of(self, reason: str) -> int:
        return http_status(reason)  # one map for every endpoint (protocol/reasons.py)

    def all_refusals(self, path: str, method: str) -> list[tuple[str, int]]:
        """Every reason it may refuse with, and the status of each: the common ones (of
        a body, a session, an interview or user in the path), then its own."""
        reasons: list[str | tuple[str, int]] = []
        if self.body is not None:
            reasons += [Reason.MALFORMED, Reason.TOO_LARGE, Reason.BAD_FIELD]
        if isinstance(self.body, type) and issubclass(self.body, m.CandidateProof):
            reasons += [
                Reason.LINK_INVALID,
                Reason.IDENTITY_MISMATCH,
                Reason.TOO_MANY_ATTEMPTS,
                Reason.ADDRESS_LOCKED_OUT,
            ]
        if self.session:
            reasons.append(Reason.NOT_LOGGED_IN)
            if method != "GET":
                reasons.append(f"{Reason.PERMISSION_DENIED}:csrf")
        if "{iv}" in path:
            reasons.append(Reason.NOT_FOUND)
        if "{name}" in path:
            reasons.append(Reason.UNKNOWN_USER)
        reasons += self.refusals
        out: list[tuple[str, int]] = []
        for r in reasons:
            pair = r if isinstance(r, tuple) else (str(r), self.status_of(str(r)))
            if pair not in out:
                out.append(pair)
        return out


def candidate(answer: Any, body: Any = None, *refusals: str, **kw: Any) -> Operation:
    return Operation(answer, body, refusals=refusals, **kw)


def hr(answer: Any, body: Any = None, *refusals: str | tuple[str, int], **kw: Any) -> Operation:
    return Operation(answer, body, session=True, refusals=refusals, **kw)


R = Reason
DENIED = f"{R.PERMISSION_DENIED}:<permission>"
CHANGE_REFUSED = (R.INTERVIEW_ENDED, R.ALREADY_COMPLETED, R.LINK_EXPIRED)  # by the state machine
PASSWORD_RULES = (R.PASSWORD_TOO_SHORT, R.PASSWORD_TOO_COMMON, R.PASSWORD_IS_USER_NAME)
IV = "/api/hr/interviews/{iv}"
VERSION_QUERY = Query("version", int, "A report version (1, 2, ...); absent: the latest.")
LANG_QUERY = Query("lang", str, '"zh-CN" or "en"; absent or other: the interview\'s language.')
COMPARE_QUERIES = (
    Query("position", str, "The position, exactly as the interviews name it."),
    Query("sort", str, "language_expression, logical_thinking, emotional_stability or overall."),
    Query("state", str, "Only interviews in this state."),
    Query("decision", str, "Only candidates with this decision: advance, hold, reject, none."),
)
LOG_QUERIES = (
    Query("action", str, "Only entries of this action."),
    Query("since_ms", int, "Only entries at or after this time (Unix ms)."),
    Query("until_ms", int, "Only entries at or before this time (Unix ms)."),
)
STATE_QUERY = Query(
    "state",
    str,
    "Only interviews in this state: ongoing (in_progress), invited, exited, ended, "
    "completed, expired.",
)
HEALTH = Operation(m.Health, also={503: m.Health})

OPERATIONS: dict[tuple[str, str], Operation] = {
    # the candidate's (SPEC §10)
    ("POST", "/api/candidate/exit"): candidate(
        m.ExitPreview | m.ExitDone,
        m.ExitBody,
        R.NOT_IN_PROGRESS,
        R.INTERVIEW_ENDED,
        R.NO_EXIT_REQUESTED,
    ),
    ("POST", "/api/candidate/centre"): candidate(m.Centre, m.CandidateProof),
    ("POST", "/api/candidate/help"): candidate(m.HelpAsked, m.HelpBody),
    ("POST", "/api/candidate/consent"): candidate(
        m.ConsentRecord, m.ConsentBody, R.HUMAN_REVIEW_KEPT
    ),
    ("POST", "/api/candidate/answer"): candidate(
        m.SavedAnswer, m.CandidateProof, R.NOT_IN_PROGRESS
    ),
    ("GET", "/api/candidate/media-config"): candidate(m.MediaConfig),
    ("GET", "/healthz"): HEALTH,
    ("GET", "/readyz"): HEALTH,
    # HR: sessions
    ("POST", "/api/hr/login"): Operation(
        m.LoggedIn,
        m.LoginBody,
        refusals=(
            (R.MALFORMED, 415),
            R.ORIGIN_NOT_ALLOWED,
            R.LOGIN_FAILED,
            R.ACCOUNT_DISABLED,
            R.TOO_MANY_ATTEMPTS,
            R.ADDRESS_LOCKED_OUT,
            R.RATE_LIMITED,
        ),
    ),
    ("POST", "/api/hr/logout"): hr(m.Ok),
    ("POST", "/api/hr/logout/all"): hr(m.Ok),
    ("GET", "/api/hr/me"): hr(m.Me),
    ("POST", "/api/hr/me/password"): hr(
        m.Ok, m.PasswordChange, R.WRONG_PASSWORD, R.TOO_MANY_ATTEMPTS, *PASSWORD_RULES
    ),
    ("GET", "/api/hr/session"): Operation(m.SessionNone | m.SessionHeld),
    # HR: interviews
    ("GET", "/api/hr/interviews"): hr(m.InterviewList, None, DENIED, query=(STATE_QUERY,)),
    ("POST", "/api/hr/interviews"): hr(m.Created, m.InterviewSpecBody, DENIED, status=201),
    ("GET", IV): hr(
        m.InterviewDetail,
        None,
        DENIED,
        query=(Query("attempt", int, "An attempt kept by a reset (1, 2, ...)."),),
    ),
    ("POST", IV + "/end"): hr(
        m.EndDone, m.EndBody, DENIED, R.CONFIRM_REQUIRED, R.NOT_ENDABLE, *CHANGE_REFUSED
    ),
    ("POST", IV + "/reset"): hr(
        m.ResetDone, m.ConfirmBody, DENIED, R.CONFIRM_REQUIRED, R.RESET_NOT_ALLOWED
    ),
    ("POST", IV + "/reentry"): hr(m.ReentryDone, m.ReentryBody, DENIED, *CHANGE_REFUSED),
    ("POST", IV + "/erase"): hr(
        m.Erased, m.ConfirmBody, DENIED, R.CONFIRM_REQUIRED, R.ERASE_NOT_ALLOWED
    ),
    ("GET", IV + "/answers/{q}/recording.webm"): hr(
        "video/webm", None, DENIED, R.NO_RECORDING, R.BAD_FIELD
    ),
    ("GET", IV + "/answers/{q}/transcript"): hr(
        m.Transcript, None, DENIED, R.NO_TRANSCRIPT, R.BAD_FIELD
    ),
    ("GET", "/api/hr/search"): hr(
        m.SearchResult,
        None,
        DENIED,
        R.BAD_FIELD,
        query=(Query("q", str, "The phrase (case-folded; up to 200 characters)."),),
    ),
    ("GET", "/api/hr/retention"): hr(m.Retention, None, DENIED),
    ("PUT", "/api/hr/retention"): hr(m.Retention, m.RetentionBody, DENIED),
    ("POST", IV + "/link"): hr(m.NewLink, None, DENIED, *CHANGE_REFUSED),
    ("GET", IV + "/log"): hr(m.LogEntries, None, DENIED, query=LOG_QUERIES),
    ("GET", IV + "/log/verify"): hr(m.LogVerdict, None, DENIED),
    ("GET", IV + "/log/export"): hr(m.LogExport, None, DENIED),
    ("GET", IV + "/notifications"): hr(m.NotificationList, None, DENIED),
    ("POST", IV + "/report"): hr(m.AnyReport, None, DENIED, status=201),
    ("GET", IV + "/report"): hr(m.AnyReport, None, DENIED, query=(VERSION_QUERY,)),
    ("GET", IV + "/report.html"): hr("text/html", None, DENIED, query=(VERSION_QUERY, LANG_QUERY)),
    ("GET", IV + "/report.pdf"): hr(
        "application/pdf", None, DENIED, query=(VERSION_QUERY, LANG_QUERY)
    ),
    ("PUT", IV + "/report_auto"): hr(m.ReportAuto, m.ReportAutoBody, DENIED),
    ("POST", IV + "/report/override"): hr(m.AnyReport, m.OverrideBody, DENIED, status=201),
    ("POST", IV + "/report/decision"): hr(m.AnyReport, m.DecisionBody, DENIED, status=201),
    ("GET", "/api/hr/compare"): hr(m.Comparison, None, DENIED, query=COMPARE_QUERIES),
    ("GET", "/api/hr/org"): hr(m.OrgProfile, None, DENIED),
    ("PUT", "/api/hr/org"): hr(m.OrgProfile, m.OrgProfileBody, DENIED),
    ("GET", "/api/hr/org/webhook"): hr(m.WebhookSetting, None, DENIED),
    ("PUT", "/api/hr/org/webhook"): hr(m.WebhookSetting, m.WebhookBody, DENIED, R.BAD_FIELD),
    ("DELETE", "/api/hr/org/webhook"): hr(m.WebhookSetting, None, DENIED),
    ("GET", IV + "/profile"): hr(m.CandidateProfile, None, DENIED),
    ("GET", "/api/hr/profiles/{profile}"): hr(m.CandidateProfile, None, DENIED, R.NOT_FOUND),
    ("GET", "/api/hr/log"): hr(m.LogEntries, None, DENIED, query=LOG_QUERIES),
    # HR: roles and users
    ("GET", "/api/hr/roles"): hr(m.RoleTable, None, DENIED),
    ("PUT", "/api/hr/roles/{role}"): hr(m.RoleTable, m.RolePermissions, DENIED, R.UNKNOWN_ROLE),
    ("GET", "/api/hr/users"): hr(m.UserList, None, DENIED),
    ("POST", "/api/hr/users"): hr(
        m.Ok, m.NewUser, DENIED, R.USER_EXISTS, R.UNKNOWN_ROLE, *PASSWORD_RULES, status=201
    ),
    ("PUT", "/api/hr/users/{name}/roles"): hr(
        m.Ok, m.UserRoles, DENIED, R.UNKNOWN_ROLE, R.LAST_ADMIN, R.RATE_LIMITED
    ),
    ("POST", "/api/hr/users/{name}/disable"): hr(
        m.UserList, None, DENIED, R.OWN_ACCOUNT, R.LAST_ADMIN, R.RATE_LIMITED
    ),
    ("POST", "/api/hr/users/{name}/enable"): hr(m.UserList, None, DENIED, R.OWN_ACCOUNT),
    ("POST", "/api/hr/users/{name}/password"): hr(
        m.UserList, m.NewPassword, DENIED, R.OWN_ACCOUNT, *PASSWORD_RULES
    ),
    ("DELETE", "/api/hr/users/{name}"): hr(
        m.UserList,
        m.ConfirmBody,
        DENIED,
        R.CONFIRM_REQUIRED,
        R.OWN_ACCOUNT,
        R.LAST_ADMIN,
        R.RATE_LIMITED,
    ),
}

PATH_PARAMETERS = {
    "iv": (str, "The interview's id."),
    "q": (int, "The question's index (0, 1, ...)."),
    "role": (str, "A role name."),
    "name": (str, "A user name."),
    "profile": (str, "A candidate profile's id (profile_id: 32 hex digits)."),
}
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"session_cookie": []}]
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "The token from the login."},
    "session_cookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "ih_session",
        "description": "Set by the login; a state-changing request also sends X-CSRF: 1.",
    },
}
DESCRIPTION = (
    "The hub's HTTP endpoints: the candidate's (protocol/SPEC.md §10) and HR's "
    "(docs/hr.md). Request bodies are JSON objects of at most 64 KiB, nested at most 32 "
    "deep; keys a body's schema does not name are ignored. Every refusal is a Refused "
    "object with a stable reason code (SPEC §12). The shapes are "
    "server/http_models.py, the classes the hub reads and answers with."
)


class MissingOperation(LookupError):
    """A route of the app and OPERATIONS do not match (a route left undescribed)."""


def document(routes: list[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (those in the schema)."""
    generator = BaseSchemaGenerator()
    defs: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    seen: set[tuple[str, str]] = set()
    names: set[str] = set()
    for endpoint in generator.get_endpoints(routes):
        method = endpoint.http_method.upper()
        op = OPERATIONS.get((method, endpoint.path))
        if op is None:
            raise MissingOperation(f"{method} {endpoint.path} is not in openapi.OPERATIONS")
        seen.add((method, endpoint.path))
        summary = generator.parse_docstring(endpoint.func).get("summary", "")
        name = endpoint.func.__name__
        name = f"{name}_{endpoint.http_method}" if name in names else name
        names.add(name)
        paths.setdefault(endpoint.path, {})[endpoint.http_method] = _operation(
            op, method, endpoint.path, name, summary, defs
        )
    stale = sorted(set(OPERATIONS) - seen)
    if stale:
        raise MissingOperation(f"OPERATIONS describes routes the app does not have: {stale}")
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(strip_python_names(defs).items())),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def _operation(
    op: Operation, method: str, path: str, name: str, summary: str, defs: dict[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": name, "summary": summary}
    parameters = [
        {
            "name": p,
            "in": "path",
            "required": True,
            "description": PATH_PARAMETERS[p][1],
            "schema": schema(PATH_PARAMETERS[p][0], defs),
        }
        for p in re.findall(r"{(\w+)}", path)
    ]
    parameters += [
        {"name": q.name, "in": "query", "description": q.doc, "schema": schema(q.kind, defs)}
        for q in op.query
    ]
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": _json(op.body, defs)}
    if op.session:
        out["security"] = SECURITY
    responses: dict[str, Any] = {}
    if isinstance(op.answer, str):  # a file or a page
        content: dict[str, Any] = {op.answer: {}}
    else:
        content = _json(op.answer, defs)
    responses[str(op.status)] = {"description": "Done.", "content": content}
    for status, kind in op.also.items():
        responses[str(status)] = {"description": "Degraded.", "content": _json(kind, defs)}
    by_status: dict[int, list[str]] = {}
    for reason, status in op.all_refusals(path, method):
        by_status.setdefault(status, []).append(reason)
    for status, reasons in sorted(by_status.items()):
        listed = ", ".join(f"`{r}`" for r in reasons)
        text = f"Refused: {listed}" + (" or another reason" if status == 409 else "") + "."
        responses[str(status)] = {"description": text, "content": _json(m.Refused, defs)}
    out["responses"] = responses
    return out


def _json(kind: Any, defs: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema(kind, defs)}}


# --- serving ------------------------------------------------------------------------------


def openapi_routes(all_routes: list[Any]) -> list[Route]:
    """``/openapi.json`` and ``/docs`` for ``all_routes`` (made on the first request)."""
    made: dict[str, Any] = {}

    def spec() -> dict[str, Any]:
        if "doc" not in made:
            made["doc"] = document(all_routes)
        doc: dict[str, Any] = made["doc"]
        return doc

    async def openapi(request: Request) -> Response:
        return JSONResponse(spec())

    async def docs(request: Request) -> Response:
        return HTMLResponse(docs_page(spec()))

    return [
        Route("/openapi.json", openapi, include_in_schema=False),
        Route("/docs", docs, include_in_schema=False),
    ]


def docs_page(spec: dict[str, Any]) -> str:
    """The document as a page: every route with what it reads and answers, then every
    schema (no script: the page's CSP allows none)."""
    e = html.escape
    rows = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            answers = "<br>".join(
                f"{status}: {_schema_link(r)} {e(r['description'].removeprefix('Refused: '))}"
                for status, r in op["responses"].items()
            )
            rows.append(
                f"<tr><td>{method.upper()}</td><td><code>{e(path)}</code></td>"
                f"<td>{e(op.get('summary', ''))}</td>"
                f"<td>{_schema_link(body) if body else ''}</td><td>{answers}</td></tr>"
            )
    schemas = "".join(
        f'<h3 id="{e(name)}">{e(name)}</h3><pre>{e(json.dumps(s, indent=2, ensure_ascii=False))}'
        "</pre>"
        for name, s in spec["components"]["schemas"].items()
    )
    return (
        f"<!doctype html><meta charset=utf-8><title>{e(TITLE)}</title>"
        f"<h1>{e(TITLE)}</h1><p>{e(spec['info']['description'])}</p>"
        "<p>Machine-readable (OpenAPI 3.1): <a href=/openapi.json>/openapi.json</a></p>"
        "<table><tr><th>method</th><th>path</th><th>what it does</th><th>request body</th>"
        "<th>answers</th></tr>" + "".join(rows) + "</table><h2>Schemas</h2>" + schemas
    )


def _schema_link(response_or_media: dict[str, Any]) -> str:
    content = response_or_media.get("content", {"": response_or_media})
    refs = re.findall(re.escape(REF_PREFIX) + r"(\w+)", json.dumps(content))
    if not refs:
        return html.escape(", ".join(k for k in content if k))
    return " | ".join(f'<a href="#{name}">{name}</a>' for name in dict.fromkeys(refs))


__all__ = ["OPERATIONS", "Operation", "document", "openapi_routes"]
