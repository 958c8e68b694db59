"""Hub leases (the sessions of a hub that died are released by the others) and claims
on jobs that one process at a time does.
"""

from __future__ import annotations

import secrets

from server.store.base import StoreBase
from server.store.keys import (
    HUBS,
    claim_key,
    hub_alive_key,
    hub_sockets_key,
)
from server.store.replies import (
    text_set,
)


class HubLeases(StoreBase):
    """Hub leases and claims on jobs."""

    async def hub_alive(self, hub_id: str, lease_s: float) -> bool:
        """Renew the hub's lease; False when it had lapsed (or never existed) before."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(hub_alive_key(hub_id), "1", px=int(lease_s * 1000), get=True)
            pipe.sadd(HUBS, hub_id)
            before, _ = await pipe.execute()
        return before is not None

    async def hub_holds(self, hub_id: str, iv_id: str, session: str) -> None:
        await self.redis.sadd(hub_sockets_key(hub_id), f"{iv_id} {session}")

    async def hub_released(self, hub_id: str, iv_id: str, session: str) -> None:
        await self.redis.srem(hub_sockets_key(hub_id), f"{iv_id} {session}")

    async def hub_gone(self, hub_id: str) -> None:
        """A hub stopping: its lease ends now, so what it still held is released at once."""
        await self.redis.delete(hub_alive_key(hub_id))

    async def dead_hubs(self) -> list[str]:
        hubs = sorted(text_set(await self.redis.smembers(HUBS)))
        if not hubs:
            return []
        alive = await self.redis.mget([hub_alive_key(h) for h in hubs])
        return [h for h, a in zip(hubs, alive, strict=True) if a is None]

    async def hub_sockets(self, hub_id: str) -> list[tuple[str, str]]:
        """(interview id, session) of every socket the hub held when it was last seen."""
        members = text_set(await self.redis.smembers(hub_sockets_key(hub_id)))
        return [(iv_id, session) for iv_id, session in (m.split(" ", 1) for m in members)]

    async def hub_is_dead(self, hub_id: str) -> bool:
        return not await self.redis.exists(hub_alive_key(hub_id))

    async def hub_socket_released(self, hub_id: str, iv_id: str, session: str) -> None:
        await self.redis.srem(hub_sockets_key(hub_id), f"{iv_id} {session}")

    async def forget_hub(self, hub_id: str) -> bool:
        """Forget a dead hub whose sockets were all released; False if it lives again."""
        keys = [hub_alive_key(hub_id), hub_sockets_key(hub_id), HUBS]
        return bool(await self._forget_hub(keys=keys, args=[hub_id]))

    async def claim(self, name: str, ttl_ms: int) -> str | None:
        """A claim on ``name`` for ``ttl_ms`` (one process at a time does the work); its
        token, or None when another process holds it."""
        token = secrets.token_hex(8)
        taken = await self.redis.set(claim_key(name), token, nx=True, px=ttl_ms)
        return token if taken else None

    async def release(self, name: str, token: str) -> None:
        await self._release_claim(keys=[claim_key(name)], args=[token])
