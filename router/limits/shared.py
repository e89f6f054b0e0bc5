"""Counters in Redis, shared by every replica (``V0_REDIS_URL``): exact across replicas.

Per key (one Redis Cluster hash slot: ``v0:<database>:lim:{<key id>}:...``, where ``<database>``
is a hash of the database URL: key ids belong to one database): a sorted set of the last minute's
requests (admission times), a hash of their token counts with a running sum, a hash of the budget
reservations in flight with their expiry times and a running sum, and the budget period's settled
spend. Admission and settlement are each one Lua script, so concurrent replicas never both take the
last slot. Times are Redis's own clock (``TIME``), so replicas' clocks do not matter. A reservation
whose replica died before settling expires after ``reservation_ttl_s``. The period's spend starts
from the decision log's figure (passed in by the replica) when Redis has none yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from router.limits.base import WINDOW_S, Ask, LimitExceeded, Limits

_EXPIRE = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) + tonumber(now_t[2]) / 1e6
local win = tonumber(ARGV[1])
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - win)
if #old > 0 then
  local toks = redis.call('HMGET', KEYS[2], unpack(old))
  local gone = 0
  for _, v in ipairs(toks) do gone = gone + (tonumber(v) or 0) end
  redis.call('ZREM', KEYS[1], unpack(old))
  redis.call('HDEL', KEYS[2], unpack(old))
  redis.call('HINCRBYFLOAT', KEYS[6], 'tok', -gone)
end
local late = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now)
if #late > 0 then
  local amounts = redis.call('HMGET', KEYS[3], unpack(late))
  local gone = 0
  for _, v in ipairs(amounts) do gone = gone + (tonumber(v) or 0) end
  redis.call('ZREM', KEYS[4], unpack(late))
  redis.call('HDEL', KEYS[3], unpack(late))
  redis.call('HINCRBYFLOAT', KEYS[6], 'resv', -gone)
end
"""

# KEYS: requests zset, tokens hash, reservations hash, reservation expiry zset, period spend, sums hash
# ARGV: window, rpm, tpm, budget (-1: none), rid, tokens, usd, reservation ttl, spend seed, spend ttl
ADMIT = _EXPIRE + """
local rpm, tpm, budget = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if redis.call('EXISTS', KEYS[5]) == 0 then
  redis.call('SET', KEYS[5], ARGV[9])
  if tonumber(ARGV[10]) > 0 then redis.call('EXPIRE', KEYS[5], ARGV[10]) end
end
local spend = tonumber(redis.call('GET', KEYS[5])) + tonumber(redis.call('HGET', KEYS[6], 'resv') or '0')
if budget >= 0 and spend >= budget then return {'insufficient_quota', tostring(spend), '0'} end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local retry = 1
if #first > 0 then retry = math.max(1, math.ceil(tonumber(first[2]) + win - now)) end
local count = redis.call('ZCARD', KEYS[1])
if rpm >= 0 and count >= rpm then return {'requests', tostring(count), tostring(retry)} end
local used = tonumber(redis.call('HGET', KEYS[6], 'tok') or '0')
if tpm >= 0 and used >= tpm then return {'tokens', tostring(used), tostring(retry)} end
local rid = ARGV[5]
redis.call('ZADD', KEYS[1], now, rid)
redis.call('HSET', KEYS[2], rid, ARGV[6])
redis.call('HINCRBYFLOAT', KEYS[6], 'tok', ARGV[6])
redis.call('HSET', KEYS[3], rid, ARGV[7])
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[8]), rid)
redis.call('HINCRBYFLOAT', KEYS[6], 'resv', ARGV[7])
local keep = math.ceil(win + tonumber(ARGV[8]))
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], keep) end
redis.call('EXPIRE', KEYS[6], keep)
return {'ok', '0', '0'}
"""

# ARGV: window, rid, tokens, usd, spend ttl
SETTLE = _EXPIRE + """
local rid = ARGV[2]
local held = redis.call('HGET', KEYS[2], rid)
if held then
  redis.call('HSET', KEYS[2], rid, ARGV[3])
  redis.call('HINCRBYFLOAT', KEYS[6], 'tok', tonumber(ARGV[3]) - tonumber(held))
end
local reserved = redis.call('HGET', KEYS[3], rid)
if reserved then
  redis.call('HDEL', KEYS[3], rid)
  redis.call('ZREM', KEYS[4], rid)
  redis.call('HINCRBYFLOAT', KEYS[6], 'resv', -tonumber(reserved))
end
redis.call('INCRBYFLOAT', KEYS[5], ARGV[4])
if tonumber(ARGV[5]) > 0 then redis.call('EXPIRE', KEYS[5], ARGV[5]) end
return 1
"""


def _keys(namespace: str, key: int, period: datetime) -> list[str]:
    base = f"v0:{namespace}:lim:{{{key}}}:"
    return [base + "req", base + "tok", base + "resv", base + "resv-exp",
            base + f"spend:{int(period.timestamp())}", base + "sums"]


class SharedCounters:
    """The Lua scripts over one ``redis.asyncio`` client; every call may raise Redis's errors."""

    def __init__(self, url: str, *, namespace: str, timeout_s: float, reservation_ttl_s: float) -> None:
        import redis.asyncio as aioredis

        self.client: Any = aioredis.Redis.from_url(url, socket_timeout=timeout_s,
                                                   socket_connect_timeout=timeout_s)
        self._admit = self.client.register_script(ADMIT)
        self._settle = self.client.register_script(SETTLE)
        self.ttl, self.namespace = reservation_ttl_s, namespace

    async def admit(self, key: int, lim: Limits, rid: str, ask: Ask, *, period: datetime,
                    period_ttl: int, spend_seed: float) -> None:
        def num(v: float | None) -> float:
            return -1 if v is None else v

        code, used, retry = await self._admit(keys=_keys(self.namespace, key, period), args=[
            WINDOW_S, num(lim.rpm), num(lim.tpm), num(lim.max_budget_usd), rid, ask.tokens, repr(ask.usd),
            self.ttl, repr(spend_seed), period_ttl])
        code = code.decode() if isinstance(code, bytes) else code
        if code == "ok":
            return
        if code == "insufficient_quota":
            raise LimitExceeded("insufficient_quota", "insufficient_quota",
                                f"This key's budget is spent: {float(used):.6f} of {lim.max_budget_usd:g} USD "
                                f"({lim.budget_period or 'lifetime'}, in-flight reservations included).", None)
        what = f"{lim.rpm} requests" if code == "requests" else f"{lim.tpm} tokens"
        raise LimitExceeded("rate_limit_exceeded", code, f"Rate limit reached for this key: {what} per minute.",
                            int(retry))

    async def settle(self, key: int, rid: str, tokens: int, usd: float, *, period: datetime, period_ttl: int) -> None:
        await self._settle(keys=_keys(self.namespace, key, period), args=[WINDOW_S, rid, tokens, repr(usd), period_ttl])

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()
