"""Sharding the transaction feed by account, and leasing shards to consumers.

With `shards` = 1 the feed is the single stream `transactions`, which every consumer of the
group reads (the original layout). With `shards` = N > 1 producers write each event to
`transactions:<k>` where k = CRC-32 (ISO-HDLC: Python's `zlib.crc32`, Java's
`java.util.zip.CRC32`, Go's `crc32.ChecksumIEEE`) of the UTF-8 `account_id`, modulo N. Every account
then lives in exactly one shard, and each shard is read by exactly one consumer at a time
(it holds the shard's lease), so consumers never wait on each other's accounts and each
account's events are processed in stream order.

Leases live in Redis next to the streams: a member set (sorted set, score = expiry, on
the Redis clock) and one key per shard holding its owner's name with a TTL. A consumer
refreshes every fraction of the TTL: it renews its membership and its leases, computes its
fair share of the shards among the live members (ceil or floor of N / members, agreed by
everyone from the sorted names), releases its extra shards (between batches, so nothing of
it is in flight) and takes free ones. A consumer that dies stops renewing: after the TTL
its membership and leases lapse and the others take its shards, claiming the entries it
left pending before reading new ones.
"""

from __future__ import annotations

import zlib

import redis

MAX_SHARDS = 1024


def validate_shards(shards: int) -> int:
    if not isinstance(shards, int) or isinstance(shards, bool) or not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"shards must be an integer from 1 to {MAX_SHARDS}, not {shards!r}")
    return shards


def shard_of(account_id: str, shards: int) -> int:
    """The shard of an account: CRC-32 of its UTF-8 bytes modulo `shards` (stable across
    processes, machines and languages, unlike Python's salted `hash`)."""
    return zlib.crc32(account_id.encode("utf-8")) % validate_shards(shards)


def shard_streams(stream: str, shards: int) -> list[str]:
    """Every stream of a feed: the stream itself when unsharded, else `<stream>:<k>`."""
    if validate_shards(shards) == 1:
        return [stream]
    return [f"{stream}:{k}" for k in range(shards)]


def stream_for(stream: str, account_id: str, shards: int) -> str:
    """The stream a producer writes an event of this account to."""
    return shard_streams(stream, shards)[shard_of(account_id, shards)] if shards > 1 else stream


# KEYS[1] = member set, KEYS[2..] = one lease key per shard; ARGV = me, ttl ms, action.
# Returns the 0-based shards this member holds after the call. Time is Redis's, so the
# consumers' clocks do not matter.
_LEASE_SCRIPT = """
local me, ttl, action = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if action == 'leave' then
  redis.call('ZREM', KEYS[1], me)
  for i = 2, #KEYS do
    if redis.call('GET', KEYS[i]) == me then redis.call('DEL', KEYS[i]) end
  end
  return {}
end
redis.call('ZADD', KEYS[1], now + ttl, me)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], ttl * 3)
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
table.sort(members)
local n, m, index = #KEYS - 1, #members, 0
for i, name in ipairs(members) do
  if name == me then index = i - 1 end
end
local share = math.floor(n / m)
if index < n % m then share = share + 1 end
local held = {}
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == me then held[#held + 1] = i end
end
while #held > share do
  redis.call('DEL', KEYS[table.remove(held)])
end
for _, i in ipairs(held) do redis.call('PEXPIRE', KEYS[i], ttl) end
for i = 2, #KEYS do
  if #held >= share then break end
  if redis.call('SET', KEYS[i], me, 'NX', 'PX', ttl) then held[#held + 1] = i end
end
table.sort(held)
local out = {}
for _, i in ipairs(held) do out[#out + 1] = i - 2 end
return out
"""


class ShardLeases:
    """One consumer's leases on the shards of a feed (see module docstring)."""

    def __init__(
        self,
        *,
        client: redis.Redis,
        stream: str,
        group: str,
        consumer: str,
        shards: int,
        lease_ms: int = 10_000,
    ):
        if lease_ms < 100:
            raise ValueError("lease_ms must be at least 100")
        self.client = client
        self.consumer = consumer
        self.lease_ms = lease_ms
        self.streams = shard_streams(stream, shards)
        prefix = f"{stream}:lease:{group}"
        self._keys = [f"{prefix}:members"] + [f"{prefix}:{k}" for k in range(shards)]
        self._script = client.register_script(_LEASE_SCRIPT)

    def refresh(self) -> list[str]:
        """Renew membership and leases, rebalance; returns the streams held now."""
        held = self._script(keys=self._keys, args=[self.consumer, self.lease_ms, "refresh"])
        return [self.streams[int(k)] for k in held]

    def leave(self) -> None:
        """Give every shard back at once (clean shutdown): no need to wait for the TTL."""
        self._script(keys=self._keys, args=[self.consumer, self.lease_ms, "leave"])

    def owners(self) -> dict[str, str | None]:
        """Stream -> current holder (for operators and tests)."""
        values = self.client.mget(self._keys[1:])
        return {
            stream: (value.decode() if isinstance(value, bytes) else value)
            for stream, value in zip(self.streams, values, strict=True)
        }
