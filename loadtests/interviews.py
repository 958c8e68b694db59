"""Interviews for load tests: create many in Redis, and check what Redis stored.

Used by ``loadtests.bench`` (imported) and by ``loadtests/locustfile.py`` (as a
subprocess, so no asyncio runs inside locust's gevent loop). Both sides use the same
answer chunk payload, so the check can also tell a corrupted chunk from a good one.

    python -m loadtests.interviews create --count 500 --questions 3 --out pool.json
    python -m loadtests.interviews verify --acked acked.json

Redis URL and hub secret come from ``--redis-url``/``--secret`` or the environment
variables ``INTERVIEW_HUB_REDIS_URL`` and ``INTERVIEW_HUB_SECRET`` (falling back to the
hub's own ``REDIS_URL`` and ``HUB_SECRET``). The secret must be the hub's: it keys the
identity hashes the hub compares a candidate's phone number against.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from server.interviews import InterviewSpec, create_interview
from server.settings import Settings
from server.store import Store

PAYLOAD_BYTES = 40


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def phone_for(index: int) -> str:
    """A distinct, well-formed mainland phone number per load-test candidate."""
    return f"139{index % 10**8:08d}"


def payload(iv_id: str, q: int, seq: int, size: int = PAYLOAD_BYTES) -> str:
    """The text of chunk ``seq`` of question ``q``: unique per chunk, ``size`` bytes (ASCII)."""
    head = f"{iv_id}|{q}|{seq}|"
    return head + "x" * (size - len(head)) if len(head) < size else head


def spec_for(
    index: int, questions: int, time_limit_s: int = 0, org: str = "loadtest"
) -> InterviewSpec:
    return InterviewSpec.from_dict(
        {
            "candidate": {"name": f"Load candidate {index}", "phone": phone_for(index)},
            "position": "Load test",
            "org": org,
            "questions": [
                {"text": f"Load question {q + 1}", "time_limit_s": time_limit_s}
                for q in range(questions)
            ],
        }
    )


def env_redis_url() -> str:
    return os.environ.get("INTERVIEW_HUB_REDIS_URL") or os.environ.get("REDIS_URL", "")


def env_secret() -> str:
    return os.environ.get("INTERVIEW_HUB_SECRET") or os.environ.get("HUB_SECRET", "")


def env_master_keys() -> str:
    """The hub's master keyring (answers are sealed with it): needed to create and check."""
    return os.environ.get("INTERVIEW_HUB_MASTER_KEYS") or os.environ.get("HUB_MASTER_KEYS", "")


async def create_interviews(
    redis_url: str,
    secret: str,
    count: int,
    *,
    questions: int = 1,
    first_index: int = 0,
    concurrency: int = 32,
    org: str = "loadtest",
    master_keys: str = "",
) -> list[dict[str, Any]]:
    """Create ``count`` interviews of organisation ``org``.

    Returns [{interview_id, token, identity, index, questions}]. An HR user sees (watches,
    ends) only the interviews of their own organisation.
    """
    if not secret:
        raise ValueError("the hub secret is needed to create interviews the hub accepts")
    master_keys = master_keys or env_master_keys()
    if not master_keys:
        raise ValueError("the hub's master keys are needed to create interviews (data keys)")
    settings = Settings(redis_url=redis_url, secret=secret, master_keys=master_keys)
    store = Store.from_url(redis_url, secret=secret, master_keys=master_keys)
    sem = asyncio.Semaphore(concurrency)

    async def one(index: int) -> dict[str, Any]:
        async with sem:
            created = await create_interview(
                store, settings, spec_for(index, questions, org=org), now_ms()
            )
        return {
            "interview_id": created.interview_id,
            "token": created.token,
            "identity": phone_for(index),
            "index": index,
            "questions": questions,
        }

    try:
        return list(await asyncio.gather(*(one(first_index + i) for i in range(count))))
    finally:
        await store.close()


async def check_chunks(
    redis_url: str,
    acked: dict[str, dict[int, int]],
    *,
    expected: Callable[[str, int, int], str | bytes | None] | None = payload,
    concurrency: int = 32,
    master_keys: str = "",
    list_missing: bool = False,
) -> dict[str, Any]:
    """Compare what clients saw acknowledged with what Redis holds, per interview.

    ``acked`` maps interview id -> {question: highest acknowledged seq}. Counted from
    Redis only: ``lost`` = acknowledged chunks missing from the chunk stream,
    ``duplicated`` = stream entries beyond the first for the same (q, seq),
    ``reordered`` = entries whose seq is below one stored before it for the same question
    (a question's seqs must rise strictly in stream order), ``corrupted`` = stored data
    that differs from ``expected(iv, q, seq)`` (opened with the hub's master keys: chunks
    are sealed at rest). With ``list_missing``, ``missing`` maps interview id -> {question:
    the lost seqs}.
    """
    store = Store.from_url(redis_url, master_keys=master_keys or env_master_keys())
    sem = asyncio.Semaphore(concurrency)
    totals = {
        "interviews": len(acked),
        "stored": 0,
        "acked": 0,
        "lost": 0,
        "duplicated": 0,
        "reordered": 0,
        "corrupted": 0,
        "stored_unacked": 0,
        "xlen_mismatch": 0,
        "seqs_mismatch": 0,
    }
    problems: list[str] = []
    missing_seqs: dict[str, dict[int, list[int]]] = {}

    async def one(iv_id: str, per_q: dict[int, int]) -> None:
        async with sem:
            chunks = await store.chunks(iv_id)
            xlen = await store.stored_chunk_count(iv_id)
            seqs_raw = await store.stored_seqs(iv_id)
        if xlen != len(chunks):
            totals["xlen_mismatch"] += 1
        seen: dict[tuple[int, int], int] = {}
        highest: dict[int, int] = {}
        for c in chunks:
            k = (c["q"], c["seq"])
            if c["seq"] < highest.get(c["q"], 0):
                totals["reordered"] += 1
                if len(problems) < 20:
                    problems.append(f"{iv_id} q{c['q']}: seq {c['seq']} stored after a higher one")
            highest[c["q"]] = max(highest.get(c["q"], 0), c["seq"])
            seen[k] = seen.get(k, 0) + 1
            if seen[k] == 1 and expected is not None:
                want = expected(iv_id, c["q"], c["seq"])
                if want is not None and c["data"] != want:
                    totals["corrupted"] += 1
                    if len(problems) < 20:
                        problems.append(f"{iv_id} q{c['q']} seq{c['seq']}: corrupted data")
        dup = sum(n - 1 for n in seen.values())
        totals["duplicated"] += dup
        totals["stored"] += len(chunks)
        if dup and len(problems) < 20:
            problems.append(f"{iv_id}: {dup} duplicated chunks")
        stored_max: dict[int, int] = {}
        for q, s in seen:
            stored_max[q] = max(stored_max.get(q, 0), s)
        for q, top in stored_max.items():
            if int(seqs_raw.get(str(q), 0)) != top:
                totals["seqs_mismatch"] += 1
        for q, top in per_q.items():
            totals["acked"] += top
            missing = [s for s in range(1, top + 1) if (q, s) not in seen]
            totals["lost"] += len(missing)
            if missing and list_missing:
                missing_seqs.setdefault(iv_id, {})[q] = missing
            if missing and len(problems) < 20:
                problems.append(
                    f"{iv_id} q{q}: {len(missing)} acked chunks missing, first seq {missing[0]}"
                )
            totals["stored_unacked"] += sum(1 for (cq, s) in seen if cq == q and s > top)

    try:
        await asyncio.gather(*(one(iv, per_q) for iv, per_q in acked.items()))
    finally:
        await store.close()
    result: dict[str, Any] = {**totals, "problems": problems}
    if list_missing:
        result["missing"] = missing_seqs
    return result


async def held_sessions(redis_url: str, interview_ids: Iterable[str]) -> dict[str, str]:
    """Interviews whose meta still names a live socket session: {interview id: state}.

    After every client has closed its socket, a hub that recorded each disconnect leaves
    none: an interview listed here looks connected to HR and is never seen as interrupted.
    """
    store = Store.from_url(redis_url)
    try:
        ids = list(interview_ids)
        rows = await store.states_and_sessions(ids)
    finally:
        await store.close()
    return {iv: state or "" for iv, (state, session) in zip(ids, rows, strict=True) if session}


def _int_keys(data: dict[str, dict[str, int]]) -> dict[str, dict[int, int]]:
    return {iv: {int(q): int(s) for q, s in per_q.items()} for iv, per_q in data.items()}


def _write_json(obj: Any, path: str) -> None:
    if path == "-":
        json.dump(obj, sys.stdout)
        sys.stdout.write("\n")
    else:
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(obj, fh)
        os.replace(tmp, path)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.interviews")
    parser.add_argument("--redis-url", default=env_redis_url())
    parser.add_argument("--secret", default=env_secret())
    parser.add_argument("--master-keys", default=env_master_keys(), help="the hub's keyring")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create interviews, print or write them as JSON")
    create.add_argument("--count", type=int, required=True)
    create.add_argument("--questions", type=int, default=1)
    create.add_argument("--first-index", type=int, default=0)
    create.add_argument("--out", default="-", help="a file, or - for stdout")
    verify = sub.add_parser("verify", help="count lost/duplicated chunks against Redis")
    verify.add_argument("--acked", required=True, help="JSON: {interview_id: {q: acked_seq}}")
    verify.add_argument("--out", default="-")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not args.redis_url:
        parser.error("set INTERVIEW_HUB_REDIS_URL (or pass --redis-url)")
    if args.command == "create":
        if not args.secret:
            parser.error("set INTERVIEW_HUB_SECRET to the hub's HUB_SECRET (or pass --secret)")
        made = asyncio.run(
            create_interviews(
                args.redis_url,
                args.secret,
                args.count,
                questions=args.questions,
                first_index=args.first_index,
                master_keys=args.master_keys,
            )
        )
        _write_json(made, args.out)
        return 0
    with open(args.acked, encoding="utf-8") as fh:
        acked = _int_keys(json.load(fh))
    result = asyncio.run(check_chunks(args.redis_url, acked, master_keys=args.master_keys))
    _write_json(result, args.out)
    failed = ("lost", "duplicated", "reordered", "corrupted")
    return 1 if any(result[k] for k in failed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
