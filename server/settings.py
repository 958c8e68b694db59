"""One frozen Settings object, read from the environment once and passed in.

Every limit the hub enforces is a named setting here, with its default; docs/settings.md
lists them. Nothing else in server/ reads the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

DURABILITIES = ("write", "fsync")
SCORERS = ("default", "none", "llm")
LOG_FORMATS = ("text", "json")
ASR_ENGINES = ("off", "whisper-base", "whisper-small", "remote")


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    # None: start an embedded redis-server with its data in data_dir
    redis_url: str | None = None
    data_dir: Path = Path("data")
    # The web pages' directory (candidate/, hr/, shared/ and npm's node_modules/).
    # Default: client/web beside the code
    web_root: Path | None = None
    # Where people reach the hub; used for printed links. Default: http://host:port
    public_url: str = ""
    # Where the keys live, apart from the data (server/keys.py): the generated secret and
    # master key, and the monthly KEKs. Default: "<data_dir>-keys", beside data_dir
    key_dir: Path | None = None
    # Keys the identity hashes, tokens and the log chain (32+ random characters); or a file
    # holding it. Default: a random one kept in key_dir/secret
    secret: str = ""
    secret_file: str = ""
    # Encryption at rest (server/crypto.py): the master keyring, "<kid>:<base64>" items
    # separated by commas or lines, the last one current; or a file holding it. Default:
    # key_dir/master.key, made on first use
    master_keys: str = ""
    master_key_file: str = ""
    # "write": ack once Redis has the chunk (AOF fsync every second);
    # "fsync": ack once it is on disk (WAITAOF, or appendfsync always on the embedded Redis)
    durability: str = "write"
    # Origins a browser may open a socket from, besides public_url's own
    allowed_origins: tuple[str, ...] = ()
    # Reverse proxies whose X-Forwarded-For is believed for the client address (the log)
    trusted_proxies: tuple[str, ...] = ()
    # Limits on what a candidate may send
    max_message_bytes: int = 64 * 1024
    max_chunk_bytes: int = 16 * 1024
    max_chunks_per_answer: int = 20_000
    # bytes one answer may take (UTF-8 of its text chunks, or its binary chunks); 0: no cap
    max_answer_bytes: int = 4 * 1024 * 1024
    max_bad_messages: int = 10
    # Per client address: open sockets in one hub process (0: no limit), and failed
    # identity checks / HR logins within identity_lockout_s across the hubs
    max_connections_per_ip: int = 200
    max_identity_failures_per_ip: int = 30
    max_login_failures_per_ip: int = 30
    # commands other than chunks (join, finish, exit, ping...) per second and in a burst;
    # past it a command is refused with rate_limited, which counts as a bad message
    commands_per_s: float = 5.0
    command_burst: int = 20
    # chunks one interview may send through one hub, per second and in a burst, in number and
    # in bytes; past it the hub stops reading that socket until the budget allows (nothing
    # is refused or lost: the sender is slowed). 0 per second: no limit
    chunks_per_s: float = 100.0
    chunk_burst: int = 500
    chunk_bytes_per_s: float = 512 * 1024
    chunk_bytes_burst: int = 4 * 1024 * 1024
    # chunks that cannot add anything (resends of chunks acked on this socket, chunks for a
    # question neither open nor just closed) answered as usual per socket; each one past
    # this is a bad message
    max_useless_chunks: int = 200
    # keep-alive: the hub pings every socket this often and drops one whose pong does not
    # come within the timeout (a dead network path: no FIN, no RST). At most their sum
    # (9 s) passes before HR sees the candidate's connection lost
    ws_ping_interval_s: float = 3.0
    ws_ping_timeout_s: float = 6.0
    join_timeout_s: float = 15.0
    # a joined candidate socket that sends nothing this long is closed (4010; 0: never):
    # an abandoned tab does not hold a socket (a lost connection, not an exit)
    idle_timeout_s: float = 1800.0
    max_outbox_messages: int = 256
    # a candidate socket whose replies pile up unread (half the outbox) this long does not
    # read: closed with 1008 at once (shorter than the keep-alive, which would say 1011)
    client_stall_s: float = 5.0
    # The HTTP listener (server/listener.py): a new connection's first byte, a request's
    # head (the websocket handshake's too) and its body must arrive within these, and an
    # idle connection between requests is closed after the keep-alive; 0: no limit
    http_first_byte_timeout_s: float = 10.0
    http_header_timeout_s: float = 15.0
    http_body_timeout_s: float = 30.0
    http_keep_alive_s: float = 5.0
    # connections that have not sent a whole request, per process and per client address
    # (0: no cap; proxies in trusted_proxies have none): over a cap the oldest one closes
    max_waiting_connections: int = 1000
    max_waiting_connections_per_ip: int = 100
    # Identity checks: failures per interview before a lock-out, and its length
    max_identity_attempts: int = 5
    identity_lockout_s: int = 900
    # refusals during a lock-out (anyone with the link can cause any number): the first of
    # each interval is logged per interview, the rest summed up when it is over; 0: each
    refusal_log_interval_s: float = 60.0
    # Interview policy defaults (an interview's own policy overrides them)
    link_ttl_s: int = 24 * 3600
    reentry_window_s: int = 24 * 3600
    resume_grace_s: int = 300
    # HR side
    session_ttl_s: int = 8 * 3600
    # HR logins (docs/hr.md "Lock-out"): failed logins for one user from one address before
    # that address is locked out for that user, for login_lockout_s; past login_brake_after
    # failures for one user from every address (0: never), addresses the user has not logged
    # in from within login_known_address_days get one password check per
    # login_brake_interval_s between them; addresses they have are not held back
    max_login_failures_per_user_ip: int = 10
    login_lockout_s: int = 900
    login_brake_after: int = 50
    login_brake_interval_s: float = 5.0
    login_known_address_days: int = 30
    # HR passwords: at least this many characters (and not common, not the user name)
    password_min_length: int = 12
    monitor_max_queue: int = 2_000
    monitor_stall_s: float = 10.0
    # Notifications: "log" writes to the server log; "webhook" (SMS gateway) and "smtp" send
    notify_sms: str = "log"
    notify_email: str = "log"
    sms_webhook_url: str = ""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "interview-hub@localhost"
    notify_max_attempts: int = 5
    notify_retry_base_s: float = 2.0
    # The organisations' ATS webhooks (server/webhooks.py, docs/assessment.md): a delivery
    # is tried this many times, its back-off doubling from the base (8 × 10 s: 42 minutes in
    # all); 1 lets a webhook point at a loopback or private address (then http:// too),
    # which is refused otherwise: an organisation's admin must not reach the hub's network
    webhook_max_attempts: int = 8
    webhook_retry_base_s: float = 10.0
    webhook_private: int = 0
    # Media (v2, server/media.py): video frames kept per second, their largest width, and
    # how many frames and audio seconds one interview may store
    media_fps: float = 2.0
    media_width: int = 640
    max_media_entries: int = 20_000
    # a peer connection not connected this long after the answer is given up (ice_timeout)
    media_connect_timeout_s: float = 15.0
    # STUN/TURN servers for the media, used by the hub and given to the candidate page:
    # "stun:host:port" or "turn:host:port?transport=udp|user|password", comma-separated.
    # Empty: host candidates only (the hub must be reachable by UDP from the candidates)
    ice_servers: tuple[str, ...] = ()
    # Retention: an interview that is over is erased this many days later (an organisation
    # may set its own), checked every purge_interval_s by each hub (0: only `purge` runs it)
    retention_days: int = 180
    purge_interval_s: float = 3600.0
    # an erasure waits this long for Redis to rewrite its files without the erased data
    rewrite_timeout_s: float = 300.0
    # an erase request is answered after at most this long ("files": "pending"); the
    # rewrite goes on, and the interview's detail says how it ended
    erase_wait_s: float = 10.0
    # The operation log's signed checkpoints (server/anchors.py): the Ed25519 signing key's
    # file (default key_dir/log-signing.key, made on first use), the directory of the
    # anchor files (default key_dir/log-anchors), an optional webhook that receives every
    # checkpoint, and how often each hub anchors the logs it appended to
    log_signing_key_file: str = ""
    log_anchor_dir: str = ""
    log_anchor_url: str = ""
    log_checkpoint_s: float = 1.0
    # Reports' scores (server/scoring.py, docs/assessment.md): "default" (the rubric), "none"
    # (no scores) or "llm" (an OpenAI-compatible chat service at llm_url, API base such as
    # https://host/v1; any failure or a reply after llm_timeout_s falls back to the rubric)
    scorer: str = "default"
    llm_url: str = ""
    llm_model: str = ""
    llm_key: str = ""
    llm_timeout_s: float = 60.0
    # Transcription of spoken answers (server/asr.py, server/transcribe.py; docs/assessment.md):
    # the engine ("whisper-base", "whisper-small" with its wheels installed, "remote" for
    # an OpenAI-compatible service at asr_url, "off"); whether the serve process runs the
    # worker too (0: only `interview-hub transcribe` processes do); the CPU threads of the
    # model; where the joined model is kept (default <data_dir>/asr-models)
    asr: str = "whisper-base"
    asr_in_hub: int = 1
    asr_threads: int = 1
    # the model's process runs at this niceness (0-19): below the hub and Redis on a shared CPU
    asr_nice: int = 10
    asr_cache: str = ""
    asr_url: str = ""
    asr_key: str = ""
    asr_model: str = "whisper-1"
    asr_timeout_s: float = 300.0
    # a silence this long between stretches of speech is a pause in the transcript
    asr_pause_ms: int = 700
    # a job waits this long after its question closed (the last second of audio lands);
    # one held this long by a worker that stopped renewing it (dead) goes to another;
    # a failing one is tried this many times, its back-off doubling from the base
    asr_settle_ms: int = 2000
    asr_lease_s: float = 60.0
    asr_max_tries: int = 4
    asr_retry_base_s: float = 10.0
    # The operator's view (server/metrics.py, docs/operations.md): a bearer token that
    # GET /metrics demands; empty: /metrics answers only loopback clients that came through
    # no proxy. The log: "text" lines, or "json" (one JSON object a line)
    metrics_token: str = ""
    log_format: str = "text"
    # Background work
    sweep_interval_s: float = 1.0
    # a hub that has not renewed its lease this long is taken as dead: its sockets are lost
    hub_lease_s: float = 15.0
    events_maxlen: int = 10_000

    def __post_init__(self) -> None:
        if self.durability not in DURABILITIES:
            raise ValueError(f"HUB_DURABILITY must be one of {DURABILITIES}")
        if self.scorer not in SCORERS:
            raise ValueError(f"HUB_SCORER must be one of {SCORERS}")
        if self.scorer == "llm" and not (self.llm_url and self.llm_model):
            raise ValueError("HUB_SCORER=llm needs HUB_LLM_URL and HUB_LLM_MODEL")
        if self.asr not in ASR_ENGINES:
            raise ValueError(f"HUB_ASR must be one of {ASR_ENGINES}")
        if self.log_format not in LOG_FORMATS:
            raise ValueError(f"HUB_LOG_FORMAT must be one of {LOG_FORMATS}")

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Read HUB_<FIELD> (and REDIS_URL) from the environment; overrides win."""
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"HUB_{f.name.upper()}")
            if f.name == "redis_url":
                raw = env.get("REDIS_URL", raw)
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _parse(kind: Any, raw: str) -> Any:
    kind = str(kind)
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind in ("Path", "Path | None"):
        return Path(raw)
    if kind.startswith("tuple"):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


__all__ = ["Settings"]
