"""Redis' own files: rewritten so they keep no copy of erased data."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import redis.exceptions

from server.store.base import StoreBase


class Persistence(StoreBase):
    """Redis' own files: rewritten so they keep no copy of erased data."""

    async def rewrite_persistence(self, timeout_s: float) -> str:
        """Have Redis rewrite its files (the AOF, and the RDB when it keeps one) from what it
        holds now, so they keep no copy of what was just deleted, and wait for that.

        Returns "rewritten", "not_persisted" (this Redis keeps no files), "pending" (not
        done within ``timeout_s``) or "failed: <why>". Callers that ask while a rewrite runs
        share the next one (the running one may have started before their deletion)."""
        asked = self._rewrites_started
        async with self._rewrite_lock:
            if self._rewrites_started > asked and self._last_rewrite == "rewritten":
                return self._last_rewrite  # one that began after we asked has finished
            self._rewrites_started += 1
            deadline = time.monotonic() + timeout_s
            try:
                self._last_rewrite = await self._rewrite(deadline)
            except redis.exceptions.RedisError as exc:
                self._last_rewrite = f"failed: {exc}"
            return self._last_rewrite

    async def _rewrite(self, deadline: float) -> str:
        info = await self.redis.info("persistence")
        aof = int(info.get("aof_enabled", 0)) == 1
        rdb = await self._keeps_rdb()
        if not aof and not rdb:
            return "not_persisted"
        status = "rewritten"
        if aof:
            status = await self._in_background(
                deadline,
                "BGREWRITEAOF",
                ("aof_rewrite_in_progress", "aof_rewrite_scheduled"),
                "aof_last_bgrewrite_status",
            )
        if rdb and status == "rewritten":
            status = await self._in_background(
                deadline, "BGSAVE", ("rdb_bgsave_in_progress",), "rdb_last_bgsave_status"
            )
        return status

    async def _keeps_rdb(self) -> bool:
        """Save points are set, or an RDB file written earlier (SAVE, SHUTDOWN, a replica's
        sync) is still there: it holds what it held then. The file can be seen only when
        Redis runs on this machine (the embedded one); CONFIG refused: assume one."""
        try:
            save = (await self.redis.config_get("save")).get("save") or ""
            folder = (await self.redis.config_get("dir")).get("dir", "")
            name = (await self.redis.config_get("dbfilename")).get("dbfilename", "")
        except redis.exceptions.ResponseError:
            return True
        return bool(save.strip()) or bool(folder and name and (Path(folder) / name).is_file())

    async def _in_background(
        self, deadline: float, command: str, busy: tuple[str, ...], status_field: str
    ) -> str:
        """Start ``command`` (after whatever such job already runs: it may predate the
        deletion), wait until it is done, and report how it went."""
        children = (
            "aof_rewrite_in_progress",
            "rdb_bgsave_in_progress",
            "module_fork_in_progress",
            *busy,
        )
        pause = 0.05
        while True:
            try:
                await self.redis.execute_command(command)
                break
            except redis.exceptions.ResponseError as exc:
                text = str(exc).lower()
                if "in progress" not in text and "child" not in text:
                    return f"failed: {command}: {exc}"
            if not await self._wait_idle(deadline, children):
                return "pending"
            # Redis named a child that INFO does not show (one of another kind, or gone
            # meanwhile): try again after a pause, never past the deadline
            if time.monotonic() >= deadline:
                return "pending"
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)
        if not await self._wait_idle(deadline, busy):
            return "pending"
        result = (await self.redis.info("persistence")).get(status_field)
        return "rewritten" if result == "ok" else f"failed: {command}: {status_field} {result}"

    async def _wait_idle(self, deadline: float, fields: tuple[str, ...]) -> bool:
        pause = 0.02
        while True:
            info = await self.redis.info("persistence")
            if not any(int(info.get(f, 0)) for f in fields):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(pause)  # a fork and a full write: poll, backing off
            pause = min(pause * 2, 0.5)
