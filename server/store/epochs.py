"""Data keys and the monthly KEKs: rotation, and which months' KEKs are still needed
(server/retention.py destroys the others).
"""

from __future__ import annotations

from server.crypto import (
    CryptoError,
    RecordCipher,
    epoch_of,
    epoch_of_data_key,
    rewrap,
    wrapper_of,
)
from server.store.base import MASKED_META, StoreBase
from server.store.keys import (
    META_KEY,
    META_PATTERN,
    attempt_key,
    epoch_destroyed_key,
    epoch_members_key,
    key,
)
from server.store.replies import (
    text_hash,
    text_set,
)

ROTATION_COUNTS = (
    "rewrapped",  # moved from a master key to its month's KEK
    "current",  # already under a KEK
    "no_key",  # erased
    "cannot_open",  # its master key is not in the keyring
    "changed_meanwhile",
    "masks_sealed",  # masked ID / phone kept in clear by older versions, now sealed
)


class KeyEpochs(StoreBase):
    """Data-key rotation and the monthly KEKs still in use."""

    async def rotate_data_keys(self, now: int) -> dict[str, int]:
        """After a new master key is added: every KEK sealed under it, every data key still
        wrapped under a master key moved to its month's KEK, and masked forms older versions
        kept in clear sealed. Afterwards only the current master key is needed."""
        if self.data_keys is None:
            raise CryptoError("rotation needs the master keys (HUB_MASTER_KEYS)")
        counts = dict.fromkeys(ROTATION_COUNTS, 0)
        keks = self.keks
        counts["keks_resealed"] = keks.reseal() if keks else 0
        for iv_id in await self.interview_ids():
            meta = await self.meta(iv_id)
            if not meta:
                continue
            stored = meta.get("dek", "")
            epoch = None
            if keks and stored and epoch_of_data_key(stored) is None:
                epoch = await self.enrol_in_epoch(
                    iv_id, epoch_of(int(meta.get("created_ms") or now)), now
                )
            # a reset keeps the finished attempts' meta, with a copy of the key: those too
            for n in range(1, int(meta.get("attempt", 1))):
                await self._rotate_one(iv_id, attempt_key(iv_id, n, "meta"), epoch, {})
            await self._rotate_one(iv_id, key(iv_id, "meta"), epoch, counts)
        return counts

    async def _rotate_one(
        self, iv_id: str, meta_key: str, epoch: str | None, counts: dict[str, int]
    ) -> None:
        """Move the data key held in one meta hash to ``epoch``'s KEK (None: to the current
        master key, without a key directory) and seal its masked forms; ``counts`` tallies."""
        assert self.data_keys is not None
        tally = counts if counts else dict.fromkeys(ROTATION_COUNTS, 0)
        meta = text_hash(await self.redis.hgetall(meta_key))
        stored = meta.get("dek", "")
        if not stored:
            tally["no_key"] += 1  # erased (crypto-shredded)
            return
        under_kek = epoch_of_data_key(stored) is not None
        if under_kek or (epoch is None and wrapper_of(stored) == self.data_keys.keyring.current):
            tally["current"] += 1
            fresh = stored
        else:
            try:
                fresh = (
                    self.data_keys.to_epoch(iv_id, stored, epoch)
                    if epoch
                    else rewrap(self.data_keys.keyring, iv_id, stored)
                )
            except CryptoError:
                tally["cannot_open"] += 1  # its master key is not in this keyring
                return
            done = await self._set_if(meta_key, "dek", stored, fresh)
            tally["rewrapped" if done else "changed_meanwhile"] += 1
            self.forget_cipher(iv_id)
            if not done:
                return
        cipher = RecordCipher(self.data_keys, iv_id, fresh)
        for field in MASKED_META:
            clear = meta.get(field, "")
            if "*" in clear:  # kept in clear before masked forms were sealed
                sealed = cipher.seal_text(f"meta|{field}", clear)
                if await self._set_if(meta_key, field, clear, sealed):
                    tally["masks_sealed"] += 1

    async def _set_if(self, hash_key: str, field: str, expected: str, value: str) -> bool:
        """Set one field if it still holds ``expected`` (set_if.lua)."""
        return bool(int(await self._set_if_script(keys=[hash_key], args=[field, expected, value])))

    async def enrol_in_epoch(self, iv_id: str, epoch: str, now: int) -> str:
        """Record that the interview's data key is about to be wrapped under ``epoch``'s KEK;
        returns the epoch to use: this month's instead if that KEK was destroyed meanwhile.

        Enrol first, then look for the destruction mark; retire_epoch marks first, then
        counts: whatever the interleaving, one of the two sees the other."""
        await self.redis.sadd(epoch_members_key(epoch), iv_id)
        if not await self.redis.exists(epoch_destroyed_key(epoch)):
            return epoch
        await self.redis.srem(epoch_members_key(epoch), iv_id)
        current = epoch_of(now)
        await self.redis.sadd(epoch_members_key(current), iv_id)
        return current

    async def prune_epoch(self, epoch: str) -> None:
        """Forget members that were erased or deleted (an erasure cut short before its SREM)."""
        members = sorted(text_set(await self.redis.smembers(epoch_members_key(epoch))))
        if not members:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for iv_id in members:
                pipe.hmget(key(iv_id, "meta"), ["id", "erased_ms"])
            found = await pipe.execute()
        gone = [i for i, (ident, erased) in zip(members, found, strict=True) if erased or not ident]
        if gone:
            await self.redis.srem(epoch_members_key(epoch), *gone)

    async def epoch_in_use(self, epoch: str) -> bool:
        return bool(await self.redis.scard(epoch_members_key(epoch)))

    async def wrapped_under(self, epoch: str) -> list[str]:
        """Every interview with a data key wrapped under ``epoch``'s KEK in its meta or an
        archived attempt's, found by scanning the metas themselves: the month's set is a
        Redis key like any other, and one emptied by someone who can write to Redis must
        not get a KEK destroyed that live data needs."""
        holders: set[str] = set()
        metas: list[tuple[str, str]] = []  # (key, interview id)
        async for name in self.redis.scan_iter(match=META_PATTERN, count=1000):
            found = META_KEY.fullmatch(name)
            if found:
                metas.append((name, found.group(1)))
        for start in range(0, len(metas), 1000):
            batch = metas[start : start + 1000]
            async with self.redis.pipeline(transaction=False) as pipe:
                for name, _ in batch:
                    pipe.hget(name, "dek")
                deks = await pipe.execute()
            for (_, iv_id), dek in zip(batch, deks, strict=True):
                if dek and epoch_of_data_key(dek) == epoch:
                    holders.add(iv_id)
        return sorted(holders)

    async def keep_epoch(self, epoch: str, holders: list[str]) -> None:
        """Put ``holders`` back in the month's set and take the destruction mark back."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(epoch_members_key(epoch), *holders)
            pipe.delete(epoch_destroyed_key(epoch))
            await pipe.execute()

    async def retire_epoch(self, epoch: str, now: int) -> bool:
        """Mark ``epoch`` destroyed if no interview is wrapped under its KEK; True: the
        caller destroys the KEK file (False: one is, and the mark is taken back)."""
        await self.redis.set(epoch_destroyed_key(epoch), str(now))
        if not await self.redis.scard(epoch_members_key(epoch)):
            return True
        await self.redis.delete(epoch_destroyed_key(epoch))
        return False
