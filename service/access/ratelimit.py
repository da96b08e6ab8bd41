"""Token buckets: in memory per process, or shared by every replica through Redis."""

from __future__ import annotations

import functools
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as redis_asyncio
from redis.exceptions import RedisError

from service.logs import get_logger

log = get_logger("service.ratelimit")


@dataclass(frozen=True)
class Limit:
    rate: float  # tokens added per second
    burst: int  # bucket size


class Buckets(Protocol):
    async def take(self, key: str, limit: Limit) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        ...

    async def close(self) -> None: ...


class MemoryBuckets:
    def __init__(
        self, clock: Callable[[], float] = time.monotonic, capacity: int = 100_000
    ) -> None:
        self._clock = clock
        self._capacity = capacity
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def take(self, key: str, limit: Limit) -> float:
        now = self._clock()
        tokens, at = self._state.pop(key, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - at) * limit.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / limit.rate
        self._state[key] = (tokens, now)
        if len(self._state) > self._capacity:
            self._state.popitem(last=False)
        return wait

    async def close(self) -> None:
        return None


# KEYS: bucket. ARGV: rate, burst. Redis's own clock, so replicas agree.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(wait)
"""


class RedisBuckets:
    """Shared limits. If Redis fails, requests go ahead (logged): a rate limiter must not
    take token issuance down with it."""

    def __init__(self, url: str) -> None:
        self._client = redis_asyncio.Redis.from_url(url, socket_timeout=2.0)

    async def take(self, key: str, limit: Limit) -> float:
        try:
            wait = await self._client.eval(_TAKE, 1, f"rts:rate:{key}", limit.rate, limit.burst)
        except (RedisError, OSError) as exc:
            log.warning("rate limit not enforced: Redis unavailable", reason=str(exc))
            return 0.0
        return float(wait)

    async def close(self) -> None:
        await self._client.aclose()


IPV6_GROUP_PREFIX = 64  # one subscriber's IPv6 network: a host may use any address in it


@functools.lru_cache(maxsize=4096)  # parsing an address costs more than a request's lookup
def address_key(address: str | None) -> str:
    """The rate-limit name of a client address, one per client: an IPv4 address as it is
    (an IPv4-mapped IPv6 address too), an IPv6 address as its /64 network, canonically
    written, so the many spellings and privacy addresses of one client share a bucket."""
    if not address:
        return "unknown"
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "unknown"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_GROUP_PREFIX), strict=False))
    return str(parsed)


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
