"""The Redis schema: every key the hub uses is built here, and every Redis client made here.

Every key of one interview carries the hash tag ``{iv:<id>}`` and every key of one
organisation's operation log ``{org:<org>}``, so the scripts (scripts/*.lua), which touch
several keys of one interview or log, work unchanged on Redis Cluster. The other keys are
global: one organisation's users or interviews may live on any shard.

Key (type): what it holds; who writes it (server/store/<module>); how long it lives.

One interview, ``{iv:<id>}:<part>`` (``key``; all kept until erased, unless a TTL is given):

    meta           hash    the state-machine snapshot plus the interview's static facts
                           (interviews: create, apply_decision.lua; erasure; epochs)
    seqs           hash    question -> last stored chunk seq; <q>:bytes its size, <q>:full once
                           a chunk did not fit (chunks: append_chunks.lua)
    chunks         stream  answer chunks: q, seq, k (s text | b binary), d (sealed data), t
                           (chunks: append_chunks.lua)
    contact        hash    how to reach the candidate: lang, and phone/email sealed
                           (interviews)
    answers        hash    question -> JSON record of how it closed (apply_decision.lua)
    transcripts    hash    question -> sealed JSON transcript of a spoken answer
                           (transcripts: save_transcript.lua)
    asr            hash    question -> JSON state of its transcription: pending (tries, reason
                           of the last failure), none (no audio), done, failed (transcripts)
    review         hash    dimension | "decision" -> sealed JSON: HR's override / decision
                           (reports)
    reports        list    sealed report versions, oldest first (reports)
    media          stream  sealed JPEG frames and PCM seconds: q, k, s, n, lvl, d, t (media)
    mediacount     hash    <q>:frames, <q>:audio_ms as written (media)
    notifications  list    ids of the notifications sent about it (outbox)
    events         stream  live events for monitors: e (JSON fact), t (ms), capped
                           (interviews, apply_decision.lua, reports)
    log            stream  operation log: e (JSON entry), t (ms), n (position), m (MAC)
                           (oplog: append_log.lua, apply_decision.lua)
    loghead        string  the log's last entry: "<n> <id> <mac>" (server/audit.py)
    logcall        string  the token of the call that last moved the head; TTL 60 s
    attempts       string  failed identity checks; TTL the identity lock-out (lockouts)
    refusalbrake   string  held while a lock-out refusal was logged; TTL the log interval
    refusals       hash    lock-out refusals not logged one by one: n:<reason> counts,
                           first_ms, last_ms; summed up, then gone; TTL 7 days (lockouts)
    refusaladdrs   zset    their newest few addresses -> last time (ms); TTL 7 days
    a<n>:<part>    as above  attempt <n> kept read-only by an HR reset: meta and the
                           ATTEMPT_PARTS (``attempt_key``; apply_decision.lua renames them)

An erased interview's meta keeps ``erased_ms``, ``erasing`` (the erasure's log entry and
what is left to forget outside its keys) until the steps after its script are done, and
``files`` / ``files_ms``: what became of Redis' files since ("pending", "rewritten"...).

Organisations (``org:<org>:...``; kept):

    org:<org>:interviews         zset    the organisation's interview ids by creation time
                                         (interviews)
    org:<org>:events             stream  copies of its interviews' events: iv, src, e, t,
                                         capped (base: org_event)
    org:<org>:settings           hash    retention_days, display_name, time_zone, report_auto,
                                         webhook_url, webhook_events, webhook_gen,
                                         webhook_secret_ms (orgs)
    org:<org>:profile:<id>       set     the interview ids of one candidate profile
                                         (server/identity.py profile_id; interviews, reports)
    org:<org>:webhookdeliveries  list    the newest ATS webhook deliveries' ids (orgs)
    org:<org>:users              set     user names (accounts)
    org:<org>:roles              hash    role -> JSON list of permissions; absent: the
                                         defaults (accounts)
    {org:<org>}:log, :loghead, :logcall  the organisation's operation log, as an
                                         interview's (oplog)

HR accounts (accounts; see server/accounts.py for the lock-out they implement):

    user:<name>            hash    name, org, pw (argon2 hash), roles (JSON list),
                                   created_ms, stamp (a session made under another stamp is
                                   void), disabled_ms, disabled_by, demo ("1": a published
                                   password), last_login_ms; kept until deleted
    hrsession:<sha256>     hash    user, org, stamp, created_ms; TTL the session's
    usersessions:<name>    set     session hashes, to end them all at once; TTL the newest
                                   session's
    demousers              set     the demo accounts' names (``serve --demo``)
    loginfail:<name>:<ip>  string  failed password checks of one user from one address;
                                   TTL the login lock-out
    loginfail:<name>       string  the same from every address; TTL the login lock-out
    loginbrake:<name>      string  held while the brake makes the next unfamiliar check
                                   wait; TTL the brake interval
    loginips:<name>        zset    addresses the user logged in from -> last time (ms);
                                   TTL the known-address window

Everything else (global):

    interviews             zset    every interview id by creation time (interviews)
    person:<hash>          set     interview ids of one person (keyed hash of ID or phone)
                                   (interviews; erasure)
    timers                 zset    interview id by when settle() next changes it
                                   (interviews; erasure)
    refusalsums            zset    interview id by when its unlogged refusals are summed up
                                   (lockouts)
    ipfail:<kind>:<ip>     string  failed checks of kind "identity" or "login" from one
                                   address; TTL the window (lockouts)
    kek:<epoch>:interviews set     interviews whose data key is wrapped under the month's
                                   KEK (epochs; interviews: create; erasure)
    kek:<epoch>:destroyed  string  when retention destroyed that KEK (ms) (epochs)
    claim:<job>            string  one process's claim on a job (``erasing:<id>``); TTL the
                                   claim's (hubs)
    hubs                   set     ids of the hubs that hold or held sockets (hubs)
    hub:<id>:alive         string  the hub's lease; TTL the lease (hubs)
    hub:<id>:sockets       set     "<interview id> <session>" of each socket it holds (hubs)
    hub:control            pub/sub channel: control messages to every hub (base)
    transcribe:jobs        stream  transcription jobs (job: JSON {iv, attempt, q, tries}),
                                   read by the consumer group ``transcribers``
                                   (transcripts; server/transcribe.py)
    transcribe:later       zset    jobs not due yet (a question just closed, a retry's
                                   back-off)
    transcribe:dead        stream  jobs given up (job, reason, t), capped
    notify:outbox          stream  sealed notifications and ATS webhook deliveries, read by
                                   the consumer group ``senders`` (outbox; server/notify.py)
    notify:retry           zset    sealed deliveries waiting out their back-off -> due (ms)
    notify:status:<id>     string  a delivery's state (JSON), listed in
                                   {iv:<id>}:notifications; TTL 90 days
    notify:done:<id>       string  set once its provider accepted it: never sent again;
                                   TTL 90 days

The KEKs themselves are files in the key directory (server/keys.py), never in Redis.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import redis
import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

# --- one interview -----------------------------------------------------------------------

IvPart = Literal[
    "meta",
    "seqs",
    "chunks",
    "contact",
    "answers",
    "transcripts",
    "asr",
    "review",
    "reports",
    "media",
    "mediacount",
    "notifications",
    "events",
    "log",
    "loghead",
    "logcall",
    "attempts",
    "refusalbrake",
    "refusals",
    "refusaladdrs",
]
# what belongs to one attempt (a reset moves these aside, read-only)
ATTEMPT_PARTS: tuple[IvPart, ...] = (
    "answers",
    "chunks",
    "seqs",
    "reports",
    "media",
    "mediacount",
    "transcripts",
    "review",  # HR's overrides and decision (server/reports.py)
    "asr",
)
# an interview's meta, or an archived attempt's: {iv:<id>}:meta, {iv:<id>}:a<n>:meta
META_KEY = re.compile(r"\{iv:([^}]+)\}:(?:a[0-9]+:)?meta")
META_PATTERN = "{iv:*}*meta"  # SCAN match for them (META_KEY tells the real ones)


def key(iv_id: str, part: IvPart) -> str:
    """``{iv:<id>}:<part>``: one key of the interview's current attempt (or of the whole
    interview: its meta, contact, log...)."""
    return f"{{iv:{iv_id}}}:{part}"


def attempt_key(iv_id: str, attempt: int, part: IvPart) -> str:
    """``{iv:<id>}:a<n>:<part>``: attempt ``n`` as a reset kept it (0: the current one)."""
    return f"{{iv:{iv_id}}}:a{attempt}:{part}" if attempt else key(iv_id, part)


def iv_meta(iv_id: str) -> str:
    return key(iv_id, "meta")


def iv_events(iv_id: str) -> str:
    return key(iv_id, "events")


def iv_chunks(iv_id: str) -> str:
    return key(iv_id, "chunks")


def iv_media(iv_id: str) -> str:
    return key(iv_id, "media")


def stream_part(stream: str) -> str:
    """What kind of stream a key names: "chunks", "media", "events" (an interview's or an
    organisation's)."""
    return stream.rsplit(":", 1)[-1]


# --- organisations -------------------------------------------------------------------------


def org_interviews(org: str) -> str:
    return f"org:{org}:interviews"


def org_events(org: str) -> str:
    return f"org:{org}:events"


def org_settings(org: str) -> str:
    return f"org:{org}:settings"


def profile_key(org: str, profile: str) -> str:
    return f"org:{org}:profile:{profile}"


def org_webhook_deliveries(org: str) -> str:
    return f"org:{org}:webhookdeliveries"


def org_users(org: str) -> str:
    return f"org:{org}:users"


def org_roles(org: str) -> str:
    return f"org:{org}:roles"


# --- operation logs: an interview's or an organisation's, named by their scope ------------


def log_scope(iv_id: str = "", org: str = "") -> str:
    """The name a log's MACs and checkpoints bind it to: ``iv:<id>`` or ``org:<org>``."""
    return f"iv:{iv_id}" if iv_id else f"org:{org}"


def org_log_keys(org: str) -> list[str]:
    """The organisation's log and its head: one hash tag, so one script may touch both."""
    return [f"{{org:{org}}}:log", f"{{org:{org}}}:loghead"]


def log_keys(scope: str) -> list[str]:
    """A log's stream and head keys, from its scope."""
    kind, _, name = scope.partition(":")
    if kind == "iv":
        return [key(name, "log"), key(name, "loghead")]
    return org_log_keys(name)


def log_call_key(scope: str) -> str:
    """Beside a log's head: the token of the call that last moved it (append_log.lua)."""
    kind, _, name = scope.partition(":")
    return key(name, "logcall") if kind == "iv" else f"{{org:{name}}}:logcall"


LOG_PATTERNS = (("{iv:*}:log", "iv"), ("{org:*}:log", "org"))  # SCAN for every log, by kind


def scope_of_log(name: str, kind: str) -> str | None:
    """The scope of a log stream found by a LOG_PATTERNS scan (None: another key that
    happens to end in ":log")."""
    inner = name[len(kind) + 2 : -len("}:log")]
    return None if "}" in inner else f"{kind}:{inner}"


# --- HR accounts -------------------------------------------------------------------------------

DEMO_USERS = "demousers"


def user_key(name: str) -> str:
    return f"user:{name}"


def hr_session_key(sha: str) -> str:
    return f"hrsession:{sha}"


def user_sessions_key(name: str) -> str:
    return f"usersessions:{name}"


def login_failures_key(name: str, ip: str | None = None) -> str:
    """Failed password checks of ``name`` from ``ip``, or from every address (None)."""
    return f"loginfail:{name}" if ip is None else f"loginfail:{name}:{ip}"


def login_brake_key(name: str) -> str:
    return f"loginbrake:{name}"


def login_addresses_key(name: str) -> str:
    return f"loginips:{name}"


# --- global ----------------------------------------------------------------------------------

INTERVIEWS = "interviews"
TIMERS = "timers"
REFUSAL_SUMS = "refusalsums"
HUBS = "hubs"
CONTROL_CHANNEL = "hub:control"
TRANSCRIBE_JOBS = "transcribe:jobs"
TRANSCRIBE_LATER = "transcribe:later"
TRANSCRIBE_DEAD = "transcribe:dead"
TRANSCRIBERS = "transcribers"  # the consumer group
NOTIFY_OUTBOX = "notify:outbox"  # stream of sealed notifications, group NOTIFY_SENDERS
NOTIFY_SENDERS = "senders"
NOTIFY_RETRY = "notify:retry"  # zset: sealed notification -> when its retry is due (ms)


def person_key(person_hash: str) -> str:
    return f"person:{person_hash}"


def ip_failures_key(kind: str, ip: str) -> str:
    return f"ipfail:{kind}:{ip}"


def epoch_members_key(epoch: str) -> str:
    return f"kek:{epoch}:interviews"


def epoch_destroyed_key(epoch: str) -> str:
    return f"kek:{epoch}:destroyed"


def claim_key(name: str) -> str:
    return f"claim:{name}"


def hub_alive_key(hub_id: str) -> str:
    return f"hub:{hub_id}:alive"


def hub_sockets_key(hub_id: str) -> str:
    return f"hub:{hub_id}:sockets"


def notify_status(msg_id: str) -> str:
    return f"notify:status:{msg_id}"


def notify_done(msg_id: str) -> str:
    return f"notify:done:{msg_id}"


# --- clients ---------------------------------------------------------------------------------

# What the other modules catch (they never import redis: the store is the one that talks
# to it): any failure of Redis; Redis away (no connection, no answer in time); a command
# Redis refused (a script error, an unknown command)
StoreError = redis.exceptions.RedisError
STORE_AWAY = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
StoreRefused = redis.exceptions.ResponseError

POOL_SIZE = 64  # connections per hub process and client kind; Redis serves them one by one
POOL_WAIT_S = 20.0
# Errors that mean "this connection is gone, try another": the command is retried on a fresh
# connection a few times before the caller sees it (a Redis restart, a reset link). Not a
# timeout: Redis may be busy with the command, and running it twice is not always harmless;
# the scripts that change state recognise a resend after a lost reply (apply_decision.lua,
# append_log.lua, append_chunks.lua), so a reset connection is safe to retry.
RETRY_ON = (redis.exceptions.ConnectionError,)
RETRIES = 3
# A pooled connection idle this long is pinged before use: one left over from before a
# Redis restart is found out there, not by the command it would have carried.
HEALTH_CHECK_S = 5


class _LostOnWrite(aioredis.connection.AbstractConnection):
    """A write on a connection whose peer went away is a connection error.

    uvloop raises RuntimeError ("unable to perform operation on <TCPTransport closed=True>")
    where asyncio's own loop raises OSError; redis-py only treats the latter as a lost
    connection, so without this one reset link killed whatever task was writing.
    """

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        try:
            await super().send_packed_command(command, check_health)
        except RuntimeError as exc:  # redis-py has already dropped the connection
            raise redis.exceptions.ConnectionError(f"connection lost on write: {exc}") from exc


class TCPConnection(_LostOnWrite, aioredis.Connection):
    pass


class UnixConnection(_LostOnWrite, aioredis.UnixDomainSocketConnection):
    pass


def blocking_client(url: str, timeout_s: float) -> redis.Redis:
    """A plain synchronous client, for a command that runs before or after the hub (the
    embedded redis-server's start and stop): no pool to share, no retries."""
    return redis.Redis.from_url(url, socket_timeout=timeout_s)


def redis_client(
    url: str,
    *,
    decode: bool = True,
    max_connections: int | None = None,
    blocking: bool = False,
    socket_timeout: float | None = 5.0,
    health_check: bool = True,
) -> aioredis.Redis:
    """A Redis client that survives the link being reset or Redis restarting: lost
    connections are replaced and the command retried with back-off (``RETRIES`` times).

    Every client the hub uses is made here. ``blocking``: a pool that waits for a free
    connection (``POOL_WAIT_S``) instead of failing when all ``max_connections`` are busy.
    """
    options: dict[str, Any] = {
        "decode_responses": decode,
        "connection_class": UnixConnection if url.startswith("unix:") else TCPConnection,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), RETRIES, RETRY_ON),
        "socket_timeout": socket_timeout,
        "health_check_interval": HEALTH_CHECK_S if health_check else 0,
    }
    if max_connections is not None:
        options["max_connections"] = max_connections
    if blocking:
        pool: aioredis.ConnectionPool = aioredis.BlockingConnectionPool.from_url(
            url, timeout=POOL_WAIT_S, **options
        )
    else:
        pool = aioredis.ConnectionPool.from_url(url, **options)
    return aioredis.Redis.from_pool(pool)  # closing the client closes its pool
