"""Where the hub's keys live: the key directory, apart from Redis' data.

A copy of the data directory (Redis' files, a backup of them) must not be enough to read
anything or to brute-force an identity hash. So the hub secret (it keys the identity hashes,
the token hashes and the log chain), the master keyring and the monthly key-encryption keys
live in the **key directory**, ``HUB_KEY_DIR`` (default ``<data dir>-keys``, beside the data
directory, never inside it), mode 0700, each file 0600 from the moment it exists:

    secret            the hub secret, when neither HUB_SECRET nor HUB_SECRET_FILE is set
    master.key        the master keyring, when neither HUB_MASTER_KEYS nor HUB_MASTER_KEY_FILE is
    kek/<epoch>.key   each month's KEK, sealed under the master keyring (server/crypto.py)

Several hubs (and the commands) share one key directory and one Redis: whichever process
first needs a month's KEK makes its file, atomically (a complete file is linked into place,
or the link fails because another process won); the others read it. Retention destroys a
month's KEK file once nothing made that month remains (server/retention.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from server.crypto import EPOCH, KEY_BYTES, CryptoError, Keyring, new_master_key_line
from server.logs import notice
from server.settings import Settings

DIR_MODE = 0o700
FILE_MODE = 0o600
SECRET_FILE = "secret"
MASTER_KEY_FILE = "master.key"
KEK_DIR = "kek"
# a secret shorter than this, or guessable from its letters, is refused at start
MIN_SECRET_CHARS = 32
MIN_SECRET_BITS = 96  # by the frequency of its characters: a random hex string of 32 has ~115
KEK_RECHECK_S = 60.0  # a process re-reads a KEK file this often (it may have been destroyed)


class KeySetupError(Exception):
    """The keys cannot be loaded or made as configured; the message says what to change."""


def default_key_dir(data_dir: Path) -> Path:
    """``<data dir>-keys``, beside the data directory: ``./data`` -> ``./data-keys``."""
    data = data_dir.resolve()
    if not data.name:
        raise KeySetupError(f"the data directory {data} has no name: set HUB_KEY_DIR")
    return data.with_name(data.name + "-keys")


def weak_secret_reason(secret: str) -> str | None:
    """Why ``secret`` is too weak to key the identity hashes, or None.

    At least 32 characters, at least 96 bits by the frequency of its characters (so
    "aaaa…" or "test-secret-0000…" fail while a random hex or base64 string passes), and
    not one shorter piece repeated.
    """
    if len(secret) < MIN_SECRET_CHARS:
        return f"it has {len(secret)} characters; at least {MIN_SECRET_CHARS} are needed"
    counts = Counter(secret)
    bits = max(0.0, -sum(n * math.log2(n / len(secret)) for n in counts.values()))
    if bits < MIN_SECRET_BITS:
        return f"its characters carry about {bits:.0f} bits; at least {MIN_SECRET_BITS} are needed"
    for period in range(1, len(secret) // 2 + 1):
        if len(secret) % period == 0 and secret == secret[:period] * (len(secret) // period):
            return "it is one shorter piece repeated"
    return None


def new_secret() -> str:
    return secrets.token_hex(32)


def private_dir(path: Path) -> None:
    """Make ``path`` and its missing parents (mode 0700); warn if others may read an
    existing one."""
    if not path.exists():
        missing = [path, *(p for p in path.parents if not p.exists())]
        for folder in reversed(missing):
            folder.mkdir(mode=DIR_MODE, exist_ok=True)
            folder.chmod(DIR_MODE)  # mkdir's mode is cut by the umask; this only narrows it
    elif path.stat().st_mode & 0o077:
        note(f"warning: {path} may be read by other users (chmod 700 it)")


def _write_new(path: Path, text: str) -> Path:
    """A new file beside ``path`` (unique name, mode 0600 from its creation), written and
    synced; the caller links or renames it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_private(path: Path, text: str) -> bool:
    """Create ``path`` holding ``text``, mode 0600, complete or not at all; False if it
    already exists (another process made it first: read theirs)."""
    private_dir(path.parent)
    tmp = _write_new(path, text)
    try:
        os.link(tmp, path)  # fails if it exists: exactly one process's file is ever there
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    _sync_dir(path.parent)
    return True


def replace_private(path: Path, text: str) -> None:
    """Replace ``path``'s content atomically (readers see the old or the new file)."""
    tmp = _write_new(path, text)
    os.replace(tmp, path)
    _sync_dir(path.parent)


def shred(path: Path) -> bool:
    """Overwrite the file with random bytes, sync, and unlink it; False if it was not there.

    On a journaling or copy-on-write file system, or an SSD, the old blocks may survive the
    overwrite (docs/security.md says what that means)."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return False
    try:
        size = os.fstat(fd).st_size
        os.write(fd, os.urandom(max(size, 1)))
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink(missing_ok=True)
    _sync_dir(path.parent)
    return True


def note(text: str) -> None:
    notice(text)  # stderr: a bare line, or a JSON one with HUB_LOG_FORMAT=json


class KekFiles:
    """The monthly KEKs, one file each in ``<key dir>/kek``, sealed under the keyring."""

    def __init__(self, key_dir: Path, keyring: Keyring) -> None:
        self.dir = key_dir / KEK_DIR
        self.keyring = keyring
        self._cache: dict[str, tuple[bytes, float]] = {}

    def path(self, epoch: str) -> Path:
        if not EPOCH.fullmatch(epoch):  # the epoch comes from Redis: never a path of its own
            raise CryptoError(f"{epoch!r} is not an epoch (YYYY-MM)")
        return self.dir / f"{epoch}.key"

    def kek(self, epoch: str, *, create: bool, fresh: bool = False) -> bytes:
        """The epoch's KEK, from the cache (re-read every KEK_RECHECK_S) or its file; made
        if there is none and ``create``."""
        path = self.path(epoch)
        cached = self._cache.get(epoch)
        if cached and not fresh and time.monotonic() - cached[1] < KEK_RECHECK_S:
            return cached[0]
        try:
            sealed = path.read_text()
        except FileNotFoundError:
            self._cache.pop(epoch, None)
            if not create:
                raise CryptoError(
                    f"the KEK of {epoch} is gone (destroyed, or another key dir)"
                ) from None
            create_private(path, self.keyring.seal_kek(epoch, os.urandom(KEY_BYTES)))
            sealed = path.read_text()  # ours, or the one another process linked first
        kek = self.keyring.open_kek(epoch, sealed)
        self._cache[epoch] = (kek, time.monotonic())
        return kek

    def epochs(self) -> list[str]:
        """Every epoch with a KEK file, oldest first."""
        if not self.dir.is_dir():
            return []
        found = (p.name.removesuffix(".key") for p in self.dir.glob("*.key"))
        return sorted(e for e in found if EPOCH.fullmatch(e))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Between processes: a destruction and a re-sealing never interleave (a re-sealed
        file must not bring a destroyed KEK back)."""
        private_dir(self.dir)
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def destroy(self, epoch: str) -> bool:
        """Shred the epoch's KEK file: every data key wrapped under it, in any copy of
        Redis' files, no longer opens. False if it was already gone."""
        with self._locked():
            self._cache.pop(epoch, None)
            return shred(self.path(epoch))

    def reseal(self) -> int:
        """Seal every KEK under the keyring's current master key (rotation); how many changed."""
        changed = 0
        with self._locked():
            for epoch in self.epochs():
                path = self.path(epoch)
                sealed = path.read_text()
                if self.keyring.kek_kid(sealed) == self.keyring.current:
                    continue
                kek = self.keyring.open_kek(epoch, sealed)
                replace_private(path, self.keyring.seal_kek(epoch, kek))
                changed += 1
        return changed


def _inside(inner: Path, outer: Path) -> bool:
    return inner.resolve().is_relative_to(outer.resolve())


def _warn_if_inside(path: Path, data_dir: Path, source: str) -> None:
    if _inside(path, data_dir):
        note(f"warning: {source} is inside the data directory; keep it apart from the data")


def _move_old_key_files(data_dir: Path, key_dir: Path) -> None:
    """Before HUB_KEY_DIR, the generated secret and master key were kept in the data
    directory, where any copy of Redis' files took them along: move them out, once."""
    for name in (SECRET_FILE, MASTER_KEY_FILE):
        old, new = data_dir / name, key_dir / name
        if not old.is_file():
            continue
        if new.exists():
            if new.read_bytes() != old.read_bytes():
                raise KeySetupError(
                    f"{old} and {new} differ; the hub uses {new}. Move {old} away (keep it "
                    "if data was made with it) and start again"
                )
            old.unlink()
            continue
        private_dir(key_dir)
        try:
            os.rename(old, new)
        except OSError:  # another file system: copy, then remove
            create_private(new, old.read_text())
            old.unlink()
        new.chmod(FILE_MODE)
        note(f"note: moved {old} to {new} (keys are kept apart from the data now)")


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise KeySetupError(f"{what}: cannot read {path}: {exc.strerror}") from None


def _generated(path: Path, make: str, what: str) -> str:
    if create_private(path, make + "\n"):
        note(f"note: made a new {what} in {path}")
    return _read(path, what)


def load_keys(settings: Settings) -> Settings:
    """The settings with the key directory, the hub secret and the master keyring filled
    in, from the environment or the key directory (made there on first use); weak ones
    are refused (KeySetupError says which and why)."""
    key_dir = (settings.key_dir or default_key_dir(settings.data_dir)).absolute()
    if _inside(key_dir, settings.data_dir):
        raise KeySetupError(
            f"HUB_KEY_DIR {key_dir} is inside the data directory {settings.data_dir}: a copy of "
            "the data would take the keys along. Put it beside the data directory"
        )
    _move_old_key_files(settings.data_dir, key_dir)
    if settings.secret:
        secret, source = settings.secret, "HUB_SECRET"
    elif settings.secret_file:
        secret = _read(Path(settings.secret_file), "HUB_SECRET_FILE")
        source = f"HUB_SECRET_FILE {settings.secret_file}"
        _warn_if_inside(Path(settings.secret_file), settings.data_dir, source)
    else:
        path = key_dir / SECRET_FILE
        secret, source = _generated(path, new_secret(), "hub secret"), str(path)
    weak = weak_secret_reason(secret)
    if weak:
        raise KeySetupError(
            f"the hub secret from {source} is too weak: {weak}. Make one with: "
            "python3 -c 'import secrets; print(secrets.token_hex(32))'"
        )
    if settings.master_keys:
        ring, source = settings.master_keys, "HUB_MASTER_KEYS"
    elif settings.master_key_file:
        ring = _read(Path(settings.master_key_file), "HUB_MASTER_KEY_FILE")
        source = f"HUB_MASTER_KEY_FILE {settings.master_key_file}"
        _warn_if_inside(Path(settings.master_key_file), settings.data_dir, source)
    else:
        path = key_dir / MASTER_KEY_FILE
        ring = _generated(path, new_master_key_line("k1"), "master key (it encrypts every answer)")
        source = str(path)
    try:
        Keyring.parse(ring)
    except CryptoError as exc:
        raise KeySetupError(f"the master keys from {source}: {exc}") from None
    return settings.with_(key_dir=key_dir, secret=secret, master_keys=ring)


__all__ = [
    "KekFiles",
    "KeySetupError",
    "create_private",
    "default_key_dir",
    "load_keys",
    "private_dir",
    "shred",
    "weak_secret_reason",
]
