"""HUB_LOG_FORMAT=json: the hub's log is one JSON object a line, tracebacks included."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from server.logs import JsonFormatter
from server.settings import Settings
from server.store import CONTROL_CHANNEL
from server.store.embedded import EmbeddedRedis
from tests.conftest import start_hub


async def test_a_hub_with_json_logs_writes_one_json_object_a_line(
    redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    """With HUB_LOG_FORMAT=json every line the hub logs (its warnings and uvicorn's) parses as a JSON object with time, level, logger and message."""
    log_path = tmp_path / "hub-stderr.log"
    hub = start_hub(redis_server.url, tmp_path, stderr_path=log_path, HUB_LOG_FORMAT="json")
    try:
        # garbage on the control channel: the hub logs a warning and goes on
        client = aioredis.Redis.from_url(redis_server.url)
        try:
            deadline = time.monotonic() + 60
            while "control message skipped" not in log_path.read_text():
                assert time.monotonic() < deadline, log_path.read_text()
                await client.publish(CONTROL_CHANNEL, "not json\nsecond line")
                await asyncio.sleep(0.2)
        finally:
            await client.aclose()
    finally:
        hub.stop()
    lines = log_path.read_text().splitlines()
    assert lines
    entries = [json.loads(line) for line in lines]  # every line, or this fails
    for entry in entries:
        assert isinstance(entry, dict)
        assert {"time", "level", "logger", "message"} <= entry.keys(), entry
        assert entry["time"].endswith("Z")
    skipped = [e for e in entries if "control message skipped" in e["message"]]
    assert skipped[0]["level"] == "WARNING"
    assert skipped[0]["logger"] == "interview_hub.hub"
    assert "not json\\nsecond line" in skipped[0]["message"]  # the repr, still one line


def test_a_traceback_stays_in_its_line() -> None:
    """A logged exception becomes the exc field of the same one-line JSON object."""
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logging.LogRecord(
            "interview_hub.test", logging.ERROR, __file__, 1, "failed %s", ("once",), sys.exc_info()
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed once"
    assert entry["level"] == "ERROR"
    assert "Traceback" in entry["exc"] and "ValueError: bad\nthing" in entry["exc"]


def test_an_unknown_log_format_is_refused() -> None:
    """HUB_LOG_FORMAT must be text or json: anything else stops the hub at start."""
    with pytest.raises(ValueError, match="HUB_LOG_FORMAT"):
        Settings.from_env({"HUB_LOG_FORMAT": "xml"})
