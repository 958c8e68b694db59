"""The ``interview-hub`` command line: serve, demo, create, list, show, take."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from protocol.answers import Answer, assemble
from server import anchors, logs
from server.crypto import Keyring, new_master_key_line
from server.interviews import InterviewSpec, SpecError, create_interview
from server.keys import KeySetupError, load_keys
from server.settings import Settings
from server.store import Store
from server.store.embedded import EmbeddedRedis

if TYPE_CHECKING:
    from server.accounts import Accounts

DEMO_SPEC: dict[str, Any] = {
    "candidate": {
        "name": "张三 Zhang San",
        "id_number": "110101199003071234",
        "phone": "13800138000",
    },
    "position": "Backend engineer 后端工程师",
    "org": "demo",
    "questions": [
        {
            "text": "Tell us about a system you built and what you would change today. "
            "请介绍一个你构建过的系统，以及今天你会如何改进它。",
            "expected_points": ["trade-offs 取舍", "measurable result 量化结果"],
        },
        {
            "text": "Tell us about a time a plan failed and you were criticised. "
            "请讲一次计划失败并受到批评的经历。",
            "pressure": True,
        },
        {
            "text": "How would you make sure no answer is lost when a connection drops? "
            "连接中断时，你如何保证回答不丢失？",
            "time_limit_s": 300,
        },
        {"text": "What questions do you have for us? 你有什么想问我们的？"},
    ],
    "policy": {"second_entry": True, "reentry_window_s": 86400, "resume_grace_s": 300},
}


UNREADABLE_MARK = "[unreadable / 无法读取]"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@contextlib.contextmanager
def redis_for(settings: Settings) -> Iterator[str]:
    """A Redis URL: REDIS_URL, a running embedded server's socket, or a temporary one."""
    if settings.redis_url:
        yield settings.redis_url
        return
    embedded = EmbeddedRedis(settings.data_dir)
    if embedded.answers():
        yield embedded.url  # the hub's embedded server is running: share it
        return
    with embedded:
        yield embedded.url


@contextlib.asynccontextmanager
async def open_store(url: str, settings: Settings | None = None) -> AsyncIterator[Store]:
    store = Store.from_url(
        url,
        secret=settings.secret if settings else "",
        master_keys=settings.master_keys if settings else "",
        key_dir=settings.key_dir if settings else None,
    )
    try:
        yield store
    finally:
        await store.close()
        if settings is not None:  # what the command appended to the logs is anchored too
            await anchors.anchor_now(settings, store.take_unanchored, store.give_back_unanchored)


def fmt_ms(ms: int) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- commands -------------------------------------------------------------------------------


def _server(config: Any) -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn re-raises SIGTERM/SIGINT after a graceful stop, which would kill us before
        the embedded redis-server is shut down; we exit by ourselves instead."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                self._captured_signals.clear()

    return Server(config)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from server import listener
    from server.app import create_app
    from server.asr import ModelError
    from server.wsprotocol import HubWebSocketProtocol

    embedded: EmbeddedRedis | None = None
    if not settings.redis_url:
        embedded = EmbeddedRedis(settings.data_dir, fsync_always=settings.durability == "fsync")
        embedded.start()
        settings = settings.with_(redis_url=embedded.url)
        print(f"embedded redis-server: {embedded.url} (data in {embedded.data_dir})")
    try:
        if args.demo:
            spec = InterviewSpec.from_dict(DEMO_SPEC)
            created = asyncio.run(_create(settings, spec))
            users = asyncio.run(_demo_users(settings.redis_url or "", settings))
            print_demo(settings, created.interview_id, created.link, users)
        else:
            disabled = asyncio.run(_disable_demo_users(settings.redis_url or "", settings))
            if disabled:
                print(
                    f"warning: disabled the demo accounts {', '.join(disabled)}: their "
                    "passwords are published. `serve --demo` enables them again",
                    file=sys.stderr,
                )
        try:
            app = create_app(settings)
        except ModelError as exc:  # HUB_ASR names a model that cannot run here
            print(f"error: {exc}", file=sys.stderr)
            return 2
        # JSON logs: uvicorn's own loggers go through ours instead of its text handlers
        log_config: dict[str, Any] = {"log_config": None} if settings.log_format == "json" else {}
        files_before, files = listener.raise_fd_limit()
        print(listener.describe_limits(settings, files_before, files))
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            # time limits and caps on connections still sending a request (listener.py)
            http=listener.http_protocol(settings, files),
            backlog=listener.listen_backlog(files),
            ws=HubWebSocketProtocol,  # uvicorn's websockets-sansio, closing as SPEC §13 says
            ws_max_size=settings.max_message_bytes,
            ws_ping_interval=settings.ws_ping_interval_s,
            ws_ping_timeout=settings.ws_ping_timeout_s,
            ws_per_message_deflate=False,
            proxy_headers=False,  # X-Forwarded-For only from HUB_TRUSTED_PROXIES (peer_ip)
            log_level=args.log_level,
            access_log=False,
            lifespan="on",
            **log_config,
        )
        logging.getLogger("uvicorn.error").addFilter(listener.OutsiderNoise())
        print(
            f"interview-hub listening on {settings.base_url}  (health: {settings.base_url}/healthz)"
        )
        sys.stdout.flush()
        _server(config).run()
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def print_demo(
    settings: Settings, iv_id: str, link: str, users: list[tuple[str, str, str]]
) -> None:
    cand = DEMO_SPEC["candidate"]
    print(
        "\n".join(
            [
                "",
                "Demo interview ready / 演示面试已创建",
                f"  interview id : {iv_id}",
                f"  candidate    : {cand['name']}",
                f"  candidate app: {link}   (open it in a browser)",
                f"  identity     : ID {cand['id_number']}  or phone {cand['phone']}",
                f"  practice     : {settings.base_url}/practice",
                f"  HR console   : {settings.base_url}/hr   (log in with one of the HR logins)",
                f"  terminal     : uv run interview-hub take '{link}' --identity {cand['phone']}",
                f"  watch it     : uv run interview-hub show {iv_id}",
                f"  HR API       : {settings.base_url}/docs  (POST /api/hr/login, then Bearer)",
                "  HR logins    : " + "; ".join(f"{n} / {p} ({r})" for n, p, r in users),
                "",
            ]
        )
    )


async def _create(settings: Settings, spec: InterviewSpec) -> Any:
    assert settings.redis_url
    async with open_store(settings.redis_url, settings) as store:
        return await create_interview(store, settings, spec, now_ms())


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    try:
        spec = InterviewSpec.from_file(Path(args.file))
    except (SpecError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with redis_for(settings) as url:
        created = asyncio.run(_create(settings.with_(redis_url=url), spec))
    if args.json:
        print(
            json.dumps(
                {"interview_id": created.interview_id, "token": created.token, "link": created.link}
            )
        )
    else:
        print(f"interview {created.interview_id}\nlink {created.link}")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    async def run(url: str) -> list[dict[str, str]]:
        async with open_store(url, settings) as store:
            metas = [await store.meta(i) for i in await store.interview_ids()]
            return [{**m, "candidate": shown_name(store, m["id"], m)} for m in metas]

    with redis_for(settings) as url:
        metas = asyncio.run(run(url))
    for m in metas:
        print(
            f"{m['id']}  {m['state']:<12} {m['answered']}/{len(json.loads(m['questions']))}  "
            f"{m['candidate']}  ·  {m['position']}"
        )
    return 0


def shown_name(store: Store, iv_id: str, meta: dict[str, str]) -> str:
    """The candidate's name, or a marker when its sealed record does not open."""
    name = store.read_candidate_name(iv_id, meta)
    return UNREADABLE_MARK if name is None else name


async def interview_report(store: Store, iv_id: str) -> dict[str, Any] | None:
    """State, answers (joined from their chunks) and the operation log of one interview."""
    loaded = await store.snapshot(iv_id)
    if loaded is None:
        return None
    snap, meta = loaded
    questions = json.loads(meta["questions"])
    typed = assemble(await store.chunks(iv_id))
    closed = await store.answers(iv_id)
    answers = []
    for q, text in enumerate(questions):
        answer = typed.get(q, Answer())
        answers.append(
            {
                "q": q,
                "question": text,
                "status": closed.get(q, {}).get("status", "open" if q == snap.current_q else ""),
                "chunks": answer.chunks,
                "text": answer.text,
            }
        )
    return {
        "interview_id": iv_id,
        "candidate": shown_name(store, iv_id, meta),
        "position": meta.get("position"),
        "state": str(snap.state),
        "progress": snap.progress.to_wire(),
        "current_q": snap.current_q,
        "connected": bool(snap.session),
        "reentry_until_ms": snap.reentry_until_ms,
        "link_expires_ms": snap.link_expires_ms,
        "interruptions": {
            "disconnects": int(meta.get("disconnects", 0)),
            "exits": int(meta.get("exits", 0)),
        },
        "answers": answers,
        "log": await store.oplog(iv_id),
    }


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    async def run(url: str) -> dict[str, Any] | None:
        async with open_store(url, settings) as store:
            return await interview_report(store, args.interview_id)

    with redis_for(settings) as url:
        report = asyncio.run(run(url))
    if report is None:
        print(f"error: no interview {args.interview_id}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0
    p = report["progress"]
    print(f"{report['interview_id']}  {report['candidate']}  ·  {report['position']}")
    print(
        f"state {report['state']}  progress {p['answered']}/{p['total']} ({p['percent']}%)"
        f"  partial {p['partial']}  connected {report['connected']}"
    )
    breaks = report["interruptions"]
    print(
        f"interruptions: {breaks['disconnects']} disconnects, {breaks['exits']} exits; "
        f"re-entry until {fmt_ms(report['reentry_until_ms'])}"
    )
    for a in report["answers"]:
        print(f"\nQ{a['q'] + 1} [{a['status'] or 'not reached'}] {a['question']}")
        if a["text"]:
            print(f"  {a['text']}")
    print("\noperation log:")
    for e in report["log"]:
        who = f"{e['actor']} {e['ip']} {e['device'][:40]}"
        print(f"  {fmt_ms(e['t'])}  {e['action']:<14} {e['outcome']:<22} {who}")
    return 0


DEMO_USERS = (
    ("admin", "admin"),
    ("manager", "recruiting_manager"),
    ("lead", "interview_lead"),
    ("recruiter", "recruiter"),
)


@contextlib.asynccontextmanager
async def open_accounts(url: str, settings: Settings) -> AsyncIterator[Accounts]:
    from server.accounts import Accounts

    async with open_store(url, settings) as store:
        yield Accounts(store, settings.session_ttl_s, settings)


async def _log_operator(accounts: Accounts, org: str, action: str, actor: str) -> None:
    """An account change made from the command line, in the organisation's log."""
    from server.audit import Caller

    entry = Caller(actor=actor, role="operator").entry(action, "ok")
    await accounts.store.log_org(org, {**entry, "interview_id": ""}, now_ms())


async def _add_user(
    url: str, settings: Settings, name: str, password: str, org: str, roles: list[str]
) -> None:
    async with open_accounts(url, settings) as accounts:
        await accounts.add_user(name, password, org, roles, now_ms())


async def _demo_users(url: str, settings: Settings) -> list[tuple[str, str, str]]:
    """One user per role in the demo organisation (kept across restarts), marked as demo
    accounts: their passwords are published, so a start without --demo disables them."""
    from server.refusals import Refusal

    made = []
    async with open_accounts(url, settings) as accounts:
        for name, role in DEMO_USERS:
            password = f"demo-{name}"
            try:
                await accounts.add_user(
                    name, password, "demo", [role], now_ms(), demo=True, check_policy=False
                )
            except Refusal:  # made by an earlier demo start: enabled again
                if not await accounts.restore_demo_user(name, password):
                    print(f"note: {name} is not a demo account; left as it is", file=sys.stderr)
                    continue
                await _log_operator(accounts, "demo", f"user_enable:{name}", "cli:serve --demo")
            made.append((name, password, role))
    return made


async def _disable_demo_users(url: str, settings: Settings) -> list[str]:
    async with open_accounts(url, settings) as accounts:
        names = await accounts.disable_demo_users("cli:serve", now_ms())
        for name in names:  # their live monitors close on every running hub
            await accounts.store.publish_control(
                {"kind": "logout", "user": name, "reason": "account_disabled"}
            )
            await _log_operator(accounts, "demo", f"user_disable:{name}", "cli:serve")
        return names


def _account_error(exc: Any) -> int:
    from protocol.reasons import messages

    print(f"error: {exc.reason}: {messages(exc.reason)['en']}", file=sys.stderr)
    return 2


def cmd_user_add(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    from server.refusals import Refusal

    password = args.password or getpass.getpass(f"password for {args.name}: ")
    with redis_for(settings) as url:
        try:
            asyncio.run(_add_user(url, settings, args.name, password, args.org, args.role))
        except Refusal as exc:
            return _account_error(exc)
    print(f"user {args.name} ({', '.join(args.role)}) added to organisation {args.org}")
    return 0


def cmd_user_change(args: argparse.Namespace, settings: Settings) -> int:
    """The operator's way back in: set a password, disable or enable a user (every session
    of a disabled or reset user ends at once, their monitors too). In the organisation's log."""
    import getpass

    from protocol.reasons import Reason
    from server.refusals import Refusal

    password = ""
    if args.user_command == "password":
        password = args.password or getpass.getpass(f"new password for {args.name}: ")

    async def run(url: str) -> None:
        async with open_accounts(url, settings) as accounts:
            user = await accounts.user(args.name)
            if not user:
                raise Refusal(Reason.UNKNOWN_USER)
            actor = f"cli:{os.environ.get('USER', 'operator')}"
            if args.user_command == "password":
                await accounts.reset_password(args.name, password, user["org"])
            else:  # the command line may disable the last admin: it is the way back in
                disable = args.user_command == "disable"
                await accounts.set_disabled(
                    user["org"], args.name, disable, actor, now_ms(), keep_an_admin=False
                )
            if args.user_command != "enable":
                reason = "account_disabled" if args.user_command == "disable" else "not_logged_in"
                await accounts.store.publish_control(
                    {"kind": "logout", "user": args.name, "reason": reason}
                )
            action = {"password": "password_reset", "disable": "user_disable"}.get(
                args.user_command, "user_enable"
            )
            await _log_operator(accounts, user["org"], f"{action}:{args.name}", actor)

    with redis_for(settings) as url:
        try:
            asyncio.run(run(url))
        except Refusal as exc:
            return _account_error(exc)
    print(f"user {args.name}: {args.user_command} done")
    return 0


def cmd_role_reset(args: argparse.Namespace, settings: Settings) -> int:
    """The operator's way back when nobody can manage an organisation's roles any more:
    every role of ORG back to the defaults (admin holds every permission), at once on every
    hub. In the organisation's log."""
    from server.accounts import USER_NAME

    if not USER_NAME.fullmatch(args.org):
        print(f"error: {args.org!r} is not an organisation name", file=sys.stderr)
        return 2

    async def run(url: str) -> int:
        async with open_accounts(url, settings) as accounts:
            await accounts.reset_roles(args.org)
            await accounts.store.publish_control({"org": args.org, "kind": "roles"})
            actor = f"cli:{os.environ.get('USER', 'operator')}"
            await _log_operator(accounts, args.org, "role_reset", actor)
            return await accounts.managers(args.org)

    with redis_for(settings) as url:
        managers = asyncio.run(run(url))
    print(f"organisation {args.org}: every role is back to its default permissions")
    if not managers:
        print(
            f"note: no active user of {args.org} holds role.manage and user.manage: enable an "
            f"admin (`user enable NAME`) or add one (`user add NAME --org {args.org} "
            "--role admin`)"
        )
    return 0


def cmd_log_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Check logs (MACs, positions, ids, heads) against the signed checkpoints; exit 0 only
    when every one holds."""
    from server.audit import verify
    from server.store import log_scope

    try:
        public = _log_public_key(args, settings)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    place = Path(args.anchors) if args.anchors else anchors.anchor_dir(settings)
    if args.interview_id:
        wanted = [log_scope(args.interview_id)]
    elif args.org:
        wanted = [log_scope(org=args.org)]
    else:
        wanted = []  # every log in Redis, and every log the checkpoints know
    book = anchors.AnchorBook(place, public, wanted[0] if len(wanted) == 1 else "").refresh()

    async def run(url: str) -> list[tuple[str, Any]]:
        async with open_store(url, settings) as store:
            scopes = wanted or sorted(
                {*await store.log_scopes(), *book.scopes()}
                | {log_scope(i) for i in await store.interview_ids()}
            )
            out = []
            for scope in scopes:
                entries, head = await store.log_chain(scope)
                checkpoints, bad = book.of(scope)
                out.append((scope, verify(store.log_key, scope, entries, head, checkpoints, bad)))
            return out

    with redis_for(settings) as url:
        results = asyncio.run(run(url))
    failed = 0
    for scope, v in results:
        if v.ok:
            newer = (
                f", {v.entries - v.anchored} after the last checkpoint"
                if v.anchored < v.entries
                else ""
            )
            print(f"{scope}: ok ({v.entries} entries, {v.anchored} anchored{newer})")
            continue
        failed += 1
        where = (
            f"index {v.first_bad} (id {v.first_bad_id or '-'})" if v.first_bad >= 0 else "anchors"
        )
        print(f"{scope}: BROKEN at {where}: {v.reason}")
    for problem in book.problems:
        print(f"anchors: {problem}")
    if public is None and not book.empty:
        print("anchors: no signing key to check them with (see --public-key)")
    # a log named on the command line counts even when empty: it may have been deleted
    unanchored = book.empty and (bool(wanted) or any(v.entries for _, v in results))
    if unanchored:
        print(
            f"anchors: no signed checkpoint in {place}: a cut or deleted log cannot be "
            "detected without them (HUB_LOG_ANCHOR_DIR, --anchors)"
        )
    return 1 if failed or book.problems or unanchored else 0


def _log_public_key(args: argparse.Namespace, settings: Settings) -> Any:
    if getattr(args, "public_key", None):
        return anchors.load_public_key(Path(args.public_key).read_bytes())
    private = anchors.load_signing_key(anchors.signing_key_file(settings), create=False)
    return private.public_key() if private is not None else None


def cmd_log_public_key(args: argparse.Namespace, settings: Settings) -> int:
    path = anchors.signing_key_file(settings)
    private = anchors.load_signing_key(path, create=False)
    if private is None:
        print(
            f"error: no log signing key in {path} (a hub makes it on first start)", file=sys.stderr
        )
        return 1
    public = private.public_key()
    print(f"# interview-hub log checkpoint key, kid {anchors.key_id(public)}")
    print(anchors.public_key_pem(public), end="")
    return 0


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    from server import retention
    from server.candidates import CandidateService

    async def run(url: str) -> dict[str, Any]:
        async with open_store(url, settings) as store:
            service = CandidateService(store, settings.with_(redis_url=url))
            return await retention.purge(service, settings, dry_run=args.dry_run)

    with redis_for(settings) as url:
        result = asyncio.run(run(url))
    verb = "would erase" if args.dry_run else "erased"
    ids = result["due"] if args.dry_run else result["erased"]
    print(f"{verb} {len(ids)}: {' '.join(ids) or '-'}")
    print(f"kept (retention not over): {result['kept']}; no end time: {result['no_end_time']}")
    if result["unfinished"]:
        done = result["unfinished"] if args.dry_run else result["finished"]
        verb = "would finish" if args.dry_run else "finished"
        print(f"{verb} {len(done)} erasures cut short before: {' '.join(done) or '-'}")
    keks = " ".join(result["keks_destroyed"]) or "-"
    print(f"month keys (KEKs) {'to destroy' if args.dry_run else 'destroyed'}: {keks}")
    if result["files_retried"]:
        retried = " ".join(result["files_retried"])
        print(f"erased before, files not rewritten since: {retried}")
    if result["files"]:
        print(f"redis files: {result['files']}")
    complete = (
        len(result["erased"]) == len(result["due"])
        and len(result["finished"]) == len(result["unfinished"])
        and result["files"] in ("rewritten", "not_persisted", None)
    )
    return 0 if args.dry_run or complete else 1


def cmd_erase(args: argparse.Namespace, settings: Settings) -> int:
    from server import retention
    from server.candidates import Caller, CandidateService

    if not args.yes:
        print("erasing cannot be undone: add --yes", file=sys.stderr)
        return 2

    async def run(url: str) -> retention.Erased:
        async with open_store(url, settings) as store:
            service = CandidateService(store, settings.with_(redis_url=url))
            caller = Caller(actor=f"cli:{os.environ.get('USER', 'operator')}", role="operator")
            return await retention.erase(service, args.interview_id, caller, "request")

    with redis_for(settings) as url:
        erased = asyncio.run(run(url))
    if erased.refusal:
        print(f"refused: {erased.refusal}", file=sys.stderr)
        return 1
    print(f"erased {args.interview_id} at {erased.erased_ms}; redis files: {erased.files}")
    return 0 if erased.files in ("rewritten", "not_persisted") else 1


def cmd_keys_new(args: argparse.Namespace, settings: Settings) -> int:
    print(new_master_key_line(args.id))
    return 0


def cmd_keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    async def run(url: str) -> dict[str, int]:
        async with open_store(url, settings) as store:
            return await store.rotate_data_keys(now_ms())

    with redis_for(settings) as url:
        counts = asyncio.run(run(url))
    current = Keyring.parse(settings.master_keys).current
    print(f"month keys (KEKs) now sealed under master key {current!r}: " + json.dumps(counts))
    return 1 if counts["changed_meanwhile"] or counts["cannot_open"] else 0


def cmd_transcribe(args: argparse.Namespace, settings: Settings) -> int:
    from server.asr import ModelError
    from server.transcribe import Transcriber, check_engine

    if settings.asr == "off":
        print("error: HUB_ASR is off: nothing to transcribe with", file=sys.stderr)
        return 2
    try:
        check_engine(settings)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def run(url: str) -> None:
        async with open_store(url, settings) as store:
            from server.notify import Notifier
            from server.reports import Reports
            from server.scoring import scorer_for
            from server.webhooks import Webhooks

            # a version made here after the last transcript reaches the ATS too (the hubs'
            # notification workers deliver it)
            webhooks = Webhooks(store, settings, Notifier(store, settings, {}))
            reports = Reports(store, scorer_for(settings), on_ready=[webhooks.report_ready])
            worker = Transcriber(store, settings, reports=reports)
            loop = asyncio.get_running_loop()
            task = asyncio.current_task()
            assert task is not None
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, task.cancel)
            with contextlib.suppress(asyncio.CancelledError):
                await worker.run()

    with redis_for(settings) as url:
        asyncio.run(run(url))
    return 0


def cmd_take(args: argparse.Namespace, settings: Settings) -> int:
    from client.terminal import take_interview

    return asyncio.run(take_interview(args.link, args.identity))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="interview-hub", description="Real-time interview server (candidate side)."
    )
    parser.add_argument(
        "--data-dir",
        help="embedded Redis data (default ./data); keys go beside it, in <data-dir>-keys",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the hub (embedded Redis unless REDIS_URL is set)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--demo", action="store_true", help="also create a demo interview and print its link"
    )
    serve.add_argument("--log-level", default="warning")
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="same as serve --demo")
    demo.add_argument("--host")
    demo.add_argument("--port", type=int)
    demo.add_argument("--log-level", default="warning")
    demo.set_defaults(func=cmd_serve, demo=True)

    create = sub.add_parser("create", help="create an interview from a YAML or JSON spec")
    create.add_argument("file", help="see docs/interview-spec.md")
    create.add_argument("--json", action="store_true", help="print id, token and link as JSON")
    create.set_defaults(func=cmd_create)

    lst = sub.add_parser("list", help="every interview with its state")
    lst.set_defaults(func=cmd_list)

    show = sub.add_parser("show", help="an interview's state, answers and operation log")
    show.add_argument("interview_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)

    user = sub.add_parser("user", help="HR users")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="add an HR user (the first admin, for example)")
    add.add_argument("name")
    add.add_argument("--org", default="default", help="organisation (default: default)")
    add.add_argument(
        "--role",
        action="append",
        required=True,
        choices=["admin", "recruiting_manager", "interview_lead", "recruiter"],
        help="a role; repeat for several",
    )
    add.add_argument("--password", help="default: asked for on the terminal")
    add.set_defaults(func=cmd_user_add)
    reset = user_sub.add_parser(
        "password", help="set a user's new password (their sessions end): the way back in"
    )
    reset.add_argument("name")
    reset.add_argument("--password", help="default: asked for on the terminal")
    reset.set_defaults(func=cmd_user_change)
    for verb, text in (
        ("disable", "disable a user: every session and live monitor ends at once"),
        ("enable", "enable a disabled user again"),
    ):
        change = user_sub.add_parser(verb, help=text)
        change.add_argument("name")
        change.set_defaults(func=cmd_user_change)

    role = sub.add_parser("role", help="an organisation's roles")
    role_sub = role.add_subparsers(dest="role_command", required=True)
    role_reset = role_sub.add_parser(
        "reset",
        help="every role of an organisation back to its default permissions: the way back "
        "when nobody can manage roles any more",
    )
    role_reset.add_argument("org")
    role_reset.set_defaults(func=cmd_role_reset)

    logs = sub.add_parser("log", help="the operation log")
    log_sub = logs.add_subparsers(dest="log_command", required=True)
    check = log_sub.add_parser(
        "verify",
        help="check an interview's log (or an org's, or all) against the signed checkpoints",
    )
    check.add_argument("interview_id", nargs="?")
    check.add_argument("--org", help="check this organisation's log instead")
    check.add_argument(
        "--all",
        action="store_true",
        help="every log in Redis and every log the checkpoints know (the default)",
    )
    check.add_argument(
        "--anchors",
        help="checkpoints: a directory of JSONL files or one file (default: HUB_LOG_ANCHOR_DIR)",
    )
    check.add_argument(
        "--public-key", help="PEM file of the key to check them with (default: the signing key's)"
    )
    check.set_defaults(func=cmd_log_verify)
    public_key = log_sub.add_parser(
        "public-key", help="print the key that checks the log checkpoints (PEM)"
    )
    public_key.set_defaults(func=cmd_log_public_key)

    purge = sub.add_parser("purge", help="erase every interview whose retention ran out")
    purge.add_argument("--dry-run", action="store_true", help="list them, erase nothing")
    purge.set_defaults(func=cmd_purge)

    erase = sub.add_parser("erase", help="erase one interview that is over (data key first)")
    erase.add_argument("interview_id")
    erase.add_argument("--yes", action="store_true", help="really erase it")
    erase.set_defaults(func=cmd_erase)

    keys = sub.add_parser("keys", help="master keys: encryption at rest")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    new = keys_sub.add_parser("new", help="print a new master key line for the keyring")
    new.add_argument("--id", help="its key id (letters and digits; default random)")
    new.set_defaults(func=cmd_keys_new, needs_keys=False)
    rotate = keys_sub.add_parser(
        "rotate",
        help="seal every month key (KEK) under the current (last) master key, and move older "
        "data keys under their month's KEK",
    )
    rotate.set_defaults(func=cmd_keys_rotate)

    transcribe = sub.add_parser(
        "transcribe", help="run a transcription worker (HUB_ASR; docs/assessment.md)"
    )
    transcribe.set_defaults(func=cmd_transcribe)

    take = sub.add_parser("take", help="take an interview from this terminal (Python client)")
    take.add_argument("link", help="the invitation link (or just its token)")
    take.add_argument("--identity", required=True, help="your ID-card number or phone number")
    take.set_defaults(func=cmd_take, needs_keys=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides: dict[str, Any] = {
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "data_dir": Path(args.data_dir) if args.data_dir else None,
    }
    settings = Settings.from_env(**overrides)
    logs.configure(settings.log_format)  # HUB_LOG_FORMAT: text, or one JSON object a line
    if getattr(args, "needs_keys", True):  # every command that opens data loads them alike
        try:
            settings = load_keys(settings)
        except KeySetupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    result: int = args.func(args, settings)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
