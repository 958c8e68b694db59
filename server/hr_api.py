"""HR's HTTP API (JSON). Thin: authenticate, call HRService, map refusals to status codes.

A session token comes as ``Authorization: Bearer <token>`` or as the ``ih_session`` cookie
(HttpOnly, SameSite=Strict) set at login. A state-changing request authenticated by the
cookie must also carry the header ``X-CSRF: 1``, which a page of another site cannot add.
The login itself takes only a JSON body (``Content-Type: application/json``, which a form
of another site cannot send) and refuses a request that says it comes from another site
(an ``Origin`` not allowed, ``Sec-Fetch-Site: cross-site``).
Bodies and answers are shapes from server/http_models.py, which the OpenAPI description at
``/openapi.json`` is made of (server/openapi.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from protocol.permissions import Permission, Role
from protocol.reasons import Reason
from server import http_models as m
from server.accounts import USER_NAME, Accounts, Principal
from server.audit import Caller
from server.bodies import json_body, read_body
from server.candidates import Refusal
from server.headers import REPORT_CSP
from server.hr import HRService
from server.hr import Request as HRRequest
from server.hub import peer_ip
from server.report_view import view

log = logging.getLogger("interview_hub.hr_api")

COOKIE = "ih_session"
T = TypeVar("T")


def _device(request: Request) -> str:
    return request.headers.get("user-agent", "")[:256]


Handler = Callable[[Request, HRRequest], Awaitable[Response]]


class HRApi:
    def __init__(self, hr: HRService, accounts: Accounts) -> None:
        self.hr = hr
        self.accounts = accounts
        self.store = hr.store
        settings = hr.settings
        # the pages that may log in: the hub's own, and those the sockets accept
        self.allowed_origins = {
            o.rstrip("/") for o in (settings.base_url, *settings.allowed_origins)
        }

    # --- plumbing -------------------------------------------------------------------------

    def token_of(self, request: Request) -> tuple[str, bool]:
        """The session token and whether it came from the cookie."""
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), False
        return request.cookies.get(COOKIE, ""), True

    async def principal(self, request: Request) -> tuple[Principal, bool]:
        token, from_cookie = self.token_of(request)
        principal = await self.accounts.principal(token)
        if principal is None:
            raise Refusal(Reason.NOT_LOGGED_IN)
        return principal, from_cookie

    def guarded(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                principal, from_cookie = await self.principal(request)
                if (
                    from_cookie
                    and request.method not in ("GET", "HEAD")
                    and request.headers.get("x-csrf") != "1"
                ):
                    raise Refusal(f"{Reason.PERMISSION_DENIED}:csrf")
                req = HRRequest(principal, ip=self.ip(request), device=_device(request))
                return await handler(request, req)
            except Refusal as exc:
                return m.refused(exc.reason)

        endpoint.__doc__ = handler.__doc__
        endpoint.__name__ = handler.__name__
        return endpoint

    def ip(self, request: Request) -> str:
        return peer_ip(request.scope, frozenset(self.hr.settings.trusted_proxies))

    @staticmethod
    async def body(request: Request, shape: type[T]) -> T:
        return await read_body(request, shape)

    # --- sessions -------------------------------------------------------------------------

    def cross_site(self, request: Request) -> str | None:
        """Why a login request is refused as coming from another site (or not JSON)."""
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/") not in self.allowed_origins:
            return Reason.ORIGIN_NOT_ALLOWED
        if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
            return Reason.ORIGIN_NOT_ALLOWED
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != "application/json":
            return Reason.MALFORMED  # 415: a form post (the only kind another site can send)
        return None

    async def login(self, request: Request) -> Response:
        """
        summary: "Log in (JSON, same site only): a session token, and the ih_session cookie."
        """
        ip = self.ip(request)
        device = _device(request)
        settings = self.hr.settings
        limit = settings.max_login_failures_per_ip
        refused = self.cross_site(request)
        if refused is not None:
            log.warning("refused a login from another site or not JSON (%s, %s)", ip, refused)
            return m.refused(refused, status=415 if refused == Reason.MALFORMED else None)
        name = ""
        try:
            if limit and await self.store.ip_failures("login", ip) >= limit:
                log.warning("logins from %s are locked out (%d failures)", ip, limit)
                raise Refusal(Reason.ADDRESS_LOCKED_OUT)  # one address guessing many users
            body = await self.body(request, m.LoginBody)
            name = body.username
            token, p = await self.accounts.login(name, body.password, self.hr.clock(), ip)
        except Refusal as exc:
            if exc.reason == Reason.LOGIN_FAILED and limit:
                await self.store.count_ip_failure("login", ip, settings.identity_lockout_s)
            if exc.reason in (Reason.LOGIN_FAILED, Reason.ACCOUNT_DISABLED):
                user = await self.accounts.user(name)
                if user:
                    await self._log(user["org"], name, "", ip, "login", exc.reason, device)
            return m.refused(exc.reason)
        await self._log(p.org, p.user, p.role, ip, "login", "ok", device)
        response = m.answer(
            m.LoggedIn,
            m.LoggedIn(
                token=token,
                user=p.user,
                org=p.org,
                roles=list(p.roles),
                permissions=sorted(p.permissions),
            ),
        )
        response.set_cookie(
            COOKIE,
            token,
            max_age=self.accounts.session_ttl_s,
            httponly=True,
            samesite="strict",
            # behind a TLS proxy the request itself is http: trust the configured public URL
            secure=self.hr.settings.base_url.startswith("https://")
            or request.url.scheme == "https",
        )
        return response

    async def _log(
        self,
        org: str,
        user: str,
        role: str,
        ip: str,
        action: str,
        outcome: str,
        device: str = "",
    ) -> None:
        entry = Caller(ip=ip, device=device, actor=user, role=role).entry(action, outcome)
        await self.store.log_org(org, {**entry, "interview_id": ""}, self.hr.clock())

    async def _log_req(self, req: HRRequest, action: str, outcome: str) -> None:
        p = req.principal
        await self._log(p.org, p.user, p.role, req.ip, action, outcome, req.device)

    async def _sessions_ended(self, user: str, reason: str, keep: str = "") -> None:
        """Close the user's live monitor sockets on every hub (but the session ``keep``'s)."""
        await self.store.publish_control(
            {"kind": "logout", "user": user, "keep": keep, "reason": reason}
        )

    async def logout(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "End this session; its live monitor sockets close at once."
        """
        p = req.principal
        await self.accounts.logout(p.session)
        await self.store.publish_control({"hr_session": p.session, "kind": "logout"})
        await self._log_req(req, "logout", "ok")
        response = m.answer(m.Ok, m.OK)
        response.delete_cookie(COOKIE)
        return response

    async def logout_everywhere(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "End every session of mine, on every device; their monitor sockets close at once."
        """
        p = req.principal
        await self.accounts.revoke_sessions(p.user)
        await self._sessions_ended(p.user, Reason.NOT_LOGGED_IN)
        await self._log_req(req, "logout_all", "ok")
        response = m.answer(m.Ok, m.OK)
        response.delete_cookie(COOKIE)
        return response

    async def change_password(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Change my password (current and new); my other sessions end, this one goes on."
        """
        body = await self.body(request, m.PasswordChange)
        p = req.principal
        try:
            await self.accounts.change_password(p, body.current, body.new, req.ip, self.hr.clock())
        except Refusal as exc:
            await self._log_req(req, "password_change", exc.reason)
            raise
        await self._sessions_ended(p.user, Reason.NOT_LOGGED_IN, keep=p.session)
        await self._log_req(req, "password_change", "ok")
        return m.answer(m.Ok, m.OK)

    async def me(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "The logged-in user, their roles and permissions, the password length rule."
        """
        return m.answer(m.Me, await self._me_body(req.principal))

    async def _me_body(self, p: Principal) -> dict[str, Any]:
        table = await self.accounts.role_table(p.org)
        return {
            "user": p.user,
            "org": p.org,
            "roles": list(p.roles),
            "permissions": sorted(p.permissions),
            "password_min_length": self.hr.settings.password_min_length,
            # the console says who to ask before a form is filled, not after a refusal
            "roles_by_permission": {
                perm.value: [role for role, perms in table.items() if perm.value in perms]
                for perm in Permission
            },
        }

    async def session(self, request: Request) -> Response:
        """
        summary: "Whether this browser is logged in (200 either way), and as whom."
        """
        token, _ = self.token_of(request)
        p = await self.accounts.principal(token)
        if p is None:
            return m.answer(m.SessionNone, m.SessionNone(logged_in=False))
        return m.answer(m.SessionHeld, {"logged_in": True, **(await self._me_body(p))})

    # --- interviews -----------------------------------------------------------------------

    async def list_interviews(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Interviews of my organisation with live state, progress, device, interruptions."
        """
        items = await self.hr.list_interviews(req, request.query_params.get("state", ""))
        return m.answer(m.InterviewList, {"interviews": items})

    async def create_interview(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Create an interview (candidate, position, questions, policy); returns the link."
        """
        # InterviewSpec.from_dict reads the spec (as the command line's files), naming the field
        created = await self.hr.create(req, await json_body(request))
        return m.answer(m.Created, created, 201)

    async def get_interview(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "One interview with its answers; ?attempt=N reads an attempt kept by a reset."
        """
        attempt = _int(request.query_params.get("attempt"), 0)
        detail = await self.hr.get_interview(req, request.path_params["iv"], attempt)
        return m.answer(m.InterviewDetail, detail)

    async def end(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "End the interview now (interview.end, confirm=true): the candidate is locked out."
        """
        body = await self.body(request, m.EndBody)
        decision = await self.hr.end(req, request.path_params["iv"], body.confirm, body.note)
        snap = decision.snapshot
        return m.answer(m.EndDone, {"state": snap.state, "progress": snap.progress.to_wire()})

    async def reset(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Reset to a new attempt with a new link; the old attempt stays, read-only."
        """
        body = await self.body(request, m.ConfirmBody)
        return m.answer(
            m.ResetDone, await self.hr.reset(req, request.path_params["iv"], body.confirm)
        )

    async def transcript(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "One spoken answer's transcript: segments and words with their times."
        """
        try:
            q = int(request.path_params["q"])
        except ValueError:
            raise Refusal(Reason.BAD_FIELD) from None
        record = await self.hr.transcript(req, request.path_params["iv"], q)
        return m.answer(m.Transcript, record)

    async def search(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Answers (typed or transcribed) in the organisation containing a phrase."
        """
        phrase = request.query_params.get("q", "")[:200]
        return m.answer(m.SearchResult, await self.hr.search(req, phrase))

    async def recording(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "One answer's camera and microphone recording (WebM: VP8 video, Opus audio)."
        """
        try:
            q = int(request.path_params["q"])
        except ValueError:
            raise Refusal(Reason.BAD_FIELD) from None
        data = await self.hr.recording(req, request.path_params["iv"], q)
        iv_id = request.path_params["iv"]
        return Response(
            data,
            media_type="video/webm",
            headers={"content-disposition": f'inline; filename="{iv_id}-q{q + 1}.webm"'},
        )

    async def erase(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Erase an interview that is over (data.erase, confirm=true): its data key first."
        """
        body = await self.body(request, m.ConfirmBody)
        return m.answer(m.Erased, await self.hr.erase(req, request.path_params["iv"], body.confirm))

    async def get_retention(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "The organisation's retention: days after an interview is over until erasure."
        """
        return m.answer(m.Retention, await self.hr.retention(req))

    async def set_retention(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Set the organisation's retention in days (data.erase), 1 to 3650."
        """
        body = await self.body(request, m.RetentionBody)
        return m.answer(m.Retention, await self.hr.retention(req, body.days))

    async def reentry(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Grant (grant=true, optional window_s) or revoke (grant=false) a second entry."
        """
        body = await self.body(request, m.ReentryBody)
        iv_id = request.path_params["iv"]
        decision = await self.hr.grant_reentry(req, iv_id, body.grant, body.window_s)
        snap = decision.snapshot
        return m.answer(
            m.ReentryDone,
            m.ReentryDone(
                state=snap.state,
                second_entry=snap.may_reenter,
                reentry_until_ms=snap.reentry_until_ms,
            ),
        )

    async def resend_link(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Issue a new link (the old one stops working) and send it again."
        """
        return m.answer(m.NewLink, await self.hr.renew_link(req, request.path_params["iv"]))

    async def generate_report(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Generate a new version of the interview's report (report.generate)."
        """
        report = await self.hr.generate_report(req, request.path_params["iv"])
        return m.answer(m.AnyReport, report, 201)

    async def report(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "The latest report, or ?version=N, as JSON."
        """
        version = _int(request.query_params.get("version"), 0)
        report = await self.hr.read_report(req, request.path_params["iv"], version)
        return m.answer(m.AnyReport, report)

    async def report_html(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "The report as a printable HTML page in one language (?lang=; the interview's)."
        """
        version = _int(request.query_params.get("version"), 0)
        report = await self.hr.read_report(req, request.path_params["iv"], version)
        shown = await self.hr.report_presentation(req, report, request.query_params.get("lang", ""))
        return HTMLResponse(
            self.hr.reports.html(report, shown), headers={"content-security-policy": REPORT_CSP}
        )

    async def report_pdf(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "The report as a PDF in one language (?lang=; the interview's)."
        """
        iv_id = request.path_params["iv"]
        version = _int(request.query_params.get("version"), 0)
        report = await self.hr.read_report(req, iv_id, version)
        base = f"{self.hr.settings.base_url}/api/hr/interviews/{iv_id}/"
        shown = await self.hr.report_presentation(
            req, report, request.query_params.get("lang", ""), base
        )
        from server import report_pdf  # reportlab: loaded by the first PDF, not at start

        pdf = await asyncio.to_thread(report_pdf.render, view(report, shown))
        name = f"report-{iv_id}-v{report.get('version', 0)}.pdf"
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )

    async def override_score(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "A person's score for a dimension, with a reason (report.generate): a new version"
        """
        body = await self.body(request, m.OverrideBody)
        report = await self.hr.override_score(
            req, request.path_params["iv"], body.dimension, body.score, body.reason
        )
        return m.answer(m.AnyReport, report, 201)

    async def decide(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "A person's decision (advance, hold, reject) and comment (report.generate)."
        """
        body = await self.body(request, m.DecisionBody)
        report = await self.hr.decide(req, request.path_params["iv"], body.decision, body.comment)
        return m.answer(m.AnyReport, report, 201)

    async def compare(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "A position's candidates side by side: state, scores, overrides, decision."
        """
        q = request.query_params
        return m.answer(
            m.Comparison,
            await self.hr.compare(
                req,
                q.get("position", ""),
                q.get("sort", ""),
                q.get("state", ""),
                q.get("decision", ""),
            ),
        )

    async def get_org_profile(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "How reports show the organisation (name, time zone) and its HR contact."
        """
        return m.answer(m.OrgProfile, await self.hr.org_profile(req))

    async def set_org_profile(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Set the organisation's name, time zone, report default, HR contact (user.manage)."
        """
        body = await self.body(request, m.OrgProfileBody)
        contact = {
            k: v
            for k, v in (
                ("name", body.hr_contact_name),
                ("phone", body.hr_contact_phone),
                ("email", body.hr_contact_email),
            )
            if v is not None
        }
        profile = await self.hr.org_profile(
            req, body.display_name, body.time_zone, body.report_auto, contact
        )
        return m.answer(m.OrgProfile, profile)

    async def interview_profile(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "The candidate's file: every interview of theirs here, attempts, reports."
        """
        profile = await self.hr.profile(req, iv_id=request.path_params["iv"])
        return m.answer(m.CandidateProfile, profile)

    async def profile(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "The candidate's file by its profile_id (as a webhook names it)."
        """
        profile = await self.hr.profile(req, profile_id=request.path_params["profile"])
        return m.answer(m.CandidateProfile, profile)

    async def get_webhook(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "The organisation's ATS webhook and its newest deliveries (user.manage)."
        """
        return m.answer(m.WebhookSetting, await self.hr.webhook(req))

    async def set_webhook(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Set the ATS webhook (user.manage); a new secret is shown once."
        """
        body = await self.body(request, m.WebhookBody)
        done = await self.hr.set_webhook(req, body.url, list(body.events), body.rotate_secret)
        return m.answer(m.WebhookSetting, done)

    async def remove_webhook(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Remove the ATS webhook (user.manage); waiting deliveries fail."
        """
        return m.answer(m.WebhookSetting, await self.hr.remove_webhook(req))

    async def set_report_auto(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Switch the interview's automatic report on or off (report.generate)."
        """
        body = await self.body(request, m.ReportAutoBody)
        done = await self.hr.set_report_auto(req, request.path_params["iv"], body.on)
        return m.answer(m.ReportAuto, done)

    async def notifications(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Notifications of the interview with their delivery state and last error."
        """
        items = await self.hr.notifications(req, request.path_params["iv"])
        return m.answer(m.NotificationList, {"notifications": items})

    async def interview_log(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "The interview's operation log; filter by action, since_ms, until_ms."
        """
        q = request.query_params
        entries = await self.hr.interview_log(
            req,
            request.path_params["iv"],
            q.get("action", ""),
            _int(q.get("since_ms"), 0),
            _int(q.get("until_ms"), 0),
        )
        return m.answer(m.LogEntries, {"entries": entries})

    async def verify_log(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Check the interview's hash-chained log; ok, or the first entry that fails."
        """
        return m.answer(m.LogVerdict, await self.hr.verify_log(req, request.path_params["iv"]))

    async def export_log(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "The interview's log with its chain links and head, and the check's verdict."
        """
        proof = await self.hr.verify_log(req, request.path_params["iv"], export=True)
        return m.answer(m.LogExport, proof)

    async def org_log(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "The organisation's operation log; filter by action, since_ms, until_ms."
        """
        q = request.query_params
        entries = await self.hr.org_log(
            req, q.get("action", ""), _int(q.get("since_ms"), 0), _int(q.get("until_ms"), 0)
        )
        return m.answer(m.LogEntries, {"entries": entries})

    # --- roles and users ------------------------------------------------------------------

    async def roles(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Every role of my organisation with its permissions; every permission there is."
        """
        await self.hr.require(req, Permission.ROLE_MANAGE, "role_view")
        return m.answer(m.RoleTable, await self._roles_body(req.principal.org))

    async def _roles_body(self, org: str) -> dict[str, Any]:
        # the editor shows every permission from here: a list copied by hand drops new ones
        return {
            "roles": await self.accounts.role_table(org),
            "permissions": [p.value for p in Permission],
            "role_names": [r.value for r in Role],
        }

    async def set_role(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Set a role's permissions (role management → role → permission settings)."
        """
        await self.hr.require(req, Permission.ROLE_MANAGE, "role_change")
        body = await self.body(request, m.RolePermissions)
        role = request.path_params["role"]
        try:
            await self.accounts.set_role_permissions(req.principal.org, role, body.permissions)
        except Refusal as exc:
            if role in Role._value2member_map_:
                await self._log_req(req, f"role_change:{role}", exc.reason)
            raise
        await self.store.publish_control({"org": req.principal.org, "kind": "roles"})
        await self._log_req(req, f"role_change:{role}", "ok")
        return m.answer(m.RoleTable, await self._roles_body(req.principal.org))

    async def users(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Users of my organisation: roles, disabled or not, demo account, last login."
        """
        held = req.principal.permissions
        # the user screen (user.manage) and the role editor (role.manage) both list them
        needed = (
            Permission.ROLE_MANAGE
            if Permission.ROLE_MANAGE in held and Permission.USER_MANAGE not in held
            else Permission.USER_MANAGE
        )
        await self.hr.require(req, needed, "user_view")
        return m.answer(m.UserList, {"users": await self.accounts.users(req.principal.org)})

    async def add_user(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Add a user to my organisation (user.manage; the password policy applies)."
        """
        await self.hr.require(req, Permission.USER_MANAGE, "user_add")
        body = await self.body(request, m.NewUser)
        name, roles = body.username, body.roles
        p = req.principal
        action = f"user_add:{name}"
        try:
            await self.accounts.may_give_roles(p, roles)
            await self.accounts.add_user(name, body.password, p.org, roles, self.hr.clock())
        except Refusal as exc:
            await self._log_req(req, action, exc.reason)
            raise
        await self._log_req(req, action, "ok")
        return m.answer(m.Ok, m.OK, 201)

    async def set_user_roles(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Change a user's roles; takes effect on their next request and socket message."
        """
        await self.hr.require(req, Permission.ROLE_MANAGE, "role_change")
        roles = (await self.body(request, m.UserRoles)).roles
        name = request.path_params["name"]
        p = req.principal
        try:
            # nobody manages an account, or gives roles, stronger than their own
            await self.accounts.manageable(p, name)
            await self.accounts.may_give_roles(p, roles)
            await self.accounts.set_user_roles(p.org, name, roles)
        except Refusal as exc:
            if USER_NAME.fullmatch(name):
                await self._log_req(req, f"user_roles:{name}", exc.reason)
            raise
        await self.store.publish_control({"user": name, "kind": "roles"})
        await self._log_req(req, f"user_roles:{name}", "ok")
        return m.answer(m.Ok, m.OK)

    async def _manage_user(
        self,
        request: Request,
        req: HRRequest,
        action: str,
        perform: Callable[[str], Awaitable[object]],
    ) -> Response:
        """One user.manage action on the user in the path: checked (same organisation, not
        oneself, nobody holding more than the actor), done, logged, refusals included."""
        name = request.path_params["name"]
        if not USER_NAME.fullmatch(name):
            raise Refusal(Reason.UNKNOWN_USER)
        await self.hr.require(req, Permission.USER_MANAGE, f"{action}:{name}")
        try:
            await self.accounts.manageable(req.principal, name)
            await perform(name)
        except Refusal as exc:
            await self._log_req(req, f"{action}:{name}", exc.reason)
            raise
        await self._log_req(req, f"{action}:{name}", "ok")
        return m.answer(m.UserList, {"users": await self.accounts.users(req.principal.org)})

    async def disable_user(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Disable a user (user.manage): their sessions and monitors end at once."
        """
        p = req.principal

        async def disable(name: str) -> None:
            await self.accounts.set_disabled(p.org, name, True, p.user, self.hr.clock())
            await self._sessions_ended(name, Reason.ACCOUNT_DISABLED)

        return await self._manage_user(request, req, "user_disable", disable)

    async def enable_user(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Enable a disabled user again (user.manage)."
        """
        p = req.principal

        async def enable(name: str) -> None:
            await self.accounts.set_disabled(p.org, name, False, p.user, self.hr.clock())

        return await self._manage_user(request, req, "user_enable", enable)

    async def delete_user(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Delete a user (user.manage, confirm=true): sessions end at once."
        """
        body = await self.body(request, m.ConfirmBody)

        async def delete(name: str) -> None:
            if not body.confirm:
                raise Refusal(Reason.CONFIRM_REQUIRED)
            await self.accounts.delete_user(req.principal.org, name)
            await self._sessions_ended(name, Reason.NOT_LOGGED_IN)

        return await self._manage_user(request, req, "user_delete", delete)

    async def reset_password(self, request: Request, req: HRRequest) -> Response:
        """
        summary: "Set a user's new password (user.manage; the policy applies): their sessions end."
        """
        password = (await self.body(request, m.NewPassword)).password

        async def reset(name: str) -> None:
            await self.accounts.reset_password(name, password, req.principal.org)
            await self._sessions_ended(name, Reason.NOT_LOGGED_IN)

        return await self._manage_user(request, req, "password_reset", reset)

    # --- routes -----------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        g = self.guarded
        iv = "/api/hr/interviews/{iv}"
        return [
            Route("/api/hr/login", self.login, methods=["POST"]),
            Route("/api/hr/logout", g(self.logout), methods=["POST"]),
            Route("/api/hr/logout/all", g(self.logout_everywhere), methods=["POST"]),
            Route("/api/hr/me", g(self.me), methods=["GET"]),
            Route("/api/hr/me/password", g(self.change_password), methods=["POST"]),
            Route("/api/hr/session", self.session, methods=["GET"]),
            Route("/api/hr/interviews", g(self.list_interviews), methods=["GET"]),
            Route("/api/hr/interviews", g(self.create_interview), methods=["POST"]),
            Route(iv, g(self.get_interview), methods=["GET"]),
            Route(iv + "/end", g(self.end), methods=["POST"]),
            Route(iv + "/reset", g(self.reset), methods=["POST"]),
            Route(iv + "/reentry", g(self.reentry), methods=["POST"]),
            Route(iv + "/erase", g(self.erase), methods=["POST"]),
            Route(iv + "/answers/{q}/recording.webm", g(self.recording), methods=["GET"]),
            Route(iv + "/answers/{q}/transcript", g(self.transcript), methods=["GET"]),
            Route("/api/hr/search", g(self.search), methods=["GET"]),
            Route("/api/hr/retention", g(self.get_retention), methods=["GET"]),
            Route("/api/hr/retention", g(self.set_retention), methods=["PUT"]),
            Route(iv + "/link", g(self.resend_link), methods=["POST"]),
            Route(iv + "/log", g(self.interview_log), methods=["GET"]),
            Route(iv + "/log/verify", g(self.verify_log), methods=["GET"]),
            Route(iv + "/log/export", g(self.export_log), methods=["GET"]),
            Route(iv + "/notifications", g(self.notifications), methods=["GET"]),
            Route(iv + "/report", g(self.generate_report), methods=["POST"]),
            Route(iv + "/report", g(self.report), methods=["GET"]),
            Route(iv + "/report.html", g(self.report_html), methods=["GET"]),
            Route(iv + "/report.pdf", g(self.report_pdf), methods=["GET"]),
            Route(iv + "/report_auto", g(self.set_report_auto), methods=["PUT"]),
            Route(iv + "/report/override", g(self.override_score), methods=["POST"]),
            Route(iv + "/report/decision", g(self.decide), methods=["POST"]),
            Route("/api/hr/compare", g(self.compare), methods=["GET"]),
            Route("/api/hr/org", g(self.get_org_profile), methods=["GET"]),
            Route("/api/hr/org", g(self.set_org_profile), methods=["PUT"]),
            Route("/api/hr/org/webhook", g(self.get_webhook), methods=["GET"]),
            Route("/api/hr/org/webhook", g(self.set_webhook), methods=["PUT"]),
            Route("/api/hr/org/webhook", g(self.remove_webhook), methods=["DELETE"]),
            Route(iv + "/profile", g(self.interview_profile), methods=["GET"]),
            Route("/api/hr/profiles/{profile}", g(self.profile), methods=["GET"]),
            Route("/api/hr/log", g(self.org_log), methods=["GET"]),
            Route("/api/hr/roles", g(self.roles), methods=["GET"]),
            Route("/api/hr/roles/{role}", g(self.set_role), methods=["PUT"]),
            Route("/api/hr/users", g(self.users), methods=["GET"]),
            Route("/api/hr/users", g(self.add_user), methods=["POST"]),
            Route("/api/hr/users/{name}/roles", g(self.set_user_roles), methods=["PUT"]),
            Route("/api/hr/users/{name}/disable", g(self.disable_user), methods=["POST"]),
            Route("/api/hr/users/{name}/enable", g(self.enable_user), methods=["POST"]),
            Route("/api/hr/users/{name}/password", g(self.reset_password), methods=["POST"]),
            Route("/api/hr/users/{name}", g(self.delete_user), methods=["DELETE"]),
        ]


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default
