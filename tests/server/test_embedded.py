"""The embedded redis-server: a private data directory and private files."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest
import redis

from server.store.embedded import EmbeddedRedis
from tests.conftest import free_port, redis_binaries


@pytest.mark.parametrize("binary", redis_binaries())
def test_data_dir_and_every_file_in_it_are_the_owners_only(binary: str, tmp_path: Path) -> None:
    """The data dir is 0700 and the AOF (every part), the RDB, the log, the socket and the owner file have no group or other bits, also when an older version left them readable."""
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    (folder / "appendonly.aof").write_bytes(b"")  # as an older version left it: 0644
    (folder / "appendonly.aof").chmod(0o644)
    (folder / "appendonlydir").mkdir(mode=0o755)
    (folder / "appendonlydir").chmod(0o755)
    server = EmbeddedRedis(folder, port=free_port(), server_binary=binary)
    server.start()
    try:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        client.save()  # an RDB
        client.bgrewriteaof()  # rewritten AOF parts
        while client.info("persistence")["aof_rewrite_in_progress"]:
            time.sleep(0.05)  # until the rewrite is done
        client.close()
        paths = [folder, *folder.rglob("*")]
        kinds = {p.name for p in paths if stat.S_ISSOCK(p.stat().st_mode)}
        assert "redis.sock" in kinds and (folder / "dump.rdb").exists()
        assert any("aof" in p.name and p.is_file() and p.stat().st_size for p in paths)
        open_to_others = [(p.name, oct(p.stat().st_mode & 0o777)) for p in paths]
        assert [(n, m) for n, m in open_to_others if int(m, 8) & 0o077] == []
        assert folder.stat().st_mode & 0o777 == 0o700
    finally:
        server.stop()
