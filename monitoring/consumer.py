"""Redis Streams consumer: reads transactions through a consumer group and ingests them.

Delivery is at-least-once (an entry stays pending until XACK); the effect is exactly-once
because ingestion is idempotent and commits all its effects in one database transaction
*before* the entries are acknowledged. A consumer that dies leaves pending entries; on
restart it re-reads its own (id 0), and any consumer in the group reclaims entries idle
longer than `claim_idle_ms` (XAUTOCLAIM). Malformed entries go to the dead-letter table
and stream with the reason and never stop the loop. Connection errors (Redis or the
database restarting) are retried with capped backoff.

Sharded feeds (`shards` > 1, see `monitoring.sharding`): the consumer reads only the
shard streams it holds a lease on, all of them in one XREADGROUP, so no two consumers
process the same accounts. On taking a shard it first claims and finishes the entries a
previous holder left pending, then reads new ones.

Batches adapt to the load by themselves: XREADGROUP returns at once with whatever is
waiting (up to `batch_size`), so a quiet stream is committed entry by entry as soon as
it arrives, while a backlog is drained in large batches that amortise the per-commit cost.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import time
from dataclasses import dataclass, field

import redis
from django.db import InterfaceError, OperationalError, close_old_connections

from audit.context import Actor, audit_context
from monitoring.rules.findings import EvalContext, RuleConfig
from monitoring.rules.schema import EventValidationError, TransactionEvent, decode_event
from monitoring.services import (
    ScreeningUnavailable,
    active_rule_configs,
    dead_letter_record,
    default_screen,
    jurisdiction_lists,
    screening_lists_key,
    transactions_ingest,
)
from monitoring.sharding import ShardLeases, shard_streams, validate_shards

logger = logging.getLogger(__name__)
TRANSIENT_REDIS = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)
# Failures of a dependency, not of the events: the batch stays pending and is retried.
TRANSIENT_DB = (OperationalError, InterfaceError, ScreeningUnavailable)
CONNECTION_CHECK_SECONDS = 5.0


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class ConsumerStats:
    entries: int = 0
    inserted: int = 0
    duplicates: int = 0
    alerts: int = 0
    dead_letters: int = 0
    batches: int = 0
    reconnects: int = 0
    claimed: int = 0
    shards_held: int = 0  # the most shards held at once
    per_stream: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    cpu_started: float = field(default_factory=time.process_time)
    # XADD-to-commit latency of every entry, ms (the entry id carries the XADD time).
    latencies_ms: list[float] = field(default_factory=list)

    def cpu_seconds(self) -> float:
        """CPU time this process spent since the consumer was created (all threads)."""
        return time.process_time() - self.cpu_started

    def latency(self, quantile: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]


class StreamConsumer:
    """One member of a consumer group (see module docstring)."""

    def __init__(
        self,
        *,
        client: redis.Redis,
        stream: str,
        group: str,
        consumer: str,
        batch_size: int = 500,
        block_ms: int = 1000,
        claim_idle_ms: int = 30_000,
        config_ttl: float = 2.0,
        dead_stream: str | None = None,
        shards: int = 1,
        lease_ms: int = 10_000,
    ):
        self.client = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.config_ttl = config_ttl
        self.dead_stream = dead_stream or f"{stream}:dead"
        self.shards = validate_shards(shards)
        self.all_streams = shard_streams(stream, shards)
        self.leases = (
            ShardLeases(
                client=client,
                stream=stream,
                group=group,
                consumer=consumer,
                shards=shards,
                lease_ms=lease_ms,
            )
            if shards > 1
            else None
        )
        # Unsharded: every consumer reads the one stream. Sharded: the leased ones only.
        self.streams: list[str] = [stream] if self.leases is None else []
        self._lease_refresh_s = lease_ms / 5000
        self._last_lease = float("-inf")
        self.stats = ConsumerStats()
        self._stop = False
        # After (re)start or taking a shard, first finish what we hold there.
        self._own_pending: set[str] = set(self.streams)
        self._last_claim = 0.0
        self._last_recycle = float("-inf")
        self._config: tuple[float, list[RuleConfig], EvalContext] | None = None
        self._lists: tuple[int, ...] | None = None
        self.actor = Actor.system(f"consume_transactions:{consumer}")

    def stop(self, *_args) -> None:
        self._stop = True

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def ensure_group(self) -> None:
        for stream in self.all_streams:
            try:
                self.client.xgroup_create(stream, self.group, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def refresh_shards(self, *, force: bool = False) -> None:
        """Renew leases and follow rebalancing (sharded feeds only). Called between
        batches, so a shard given up has nothing of ours in flight."""
        if self.leases is None:
            return
        now = time.monotonic()
        if not force and now - self._last_lease < self._lease_refresh_s:
            return
        self._last_lease = now
        held = self.leases.refresh()
        for stream in held:
            if stream not in self.streams:
                self._take_over(stream)
        self._own_pending &= set(held)
        self.streams = held
        self.stats.shards_held = max(self.stats.shards_held, len(held))

    def _take_over(self, stream: str) -> None:
        # Whatever a previous holder left pending (it died, or gave the shard up after a
        # failed batch) becomes ours and is processed before anything newer: per-account
        # order is kept across the hand-over.
        cursor = "0-0"
        while True:
            reply = self.client.xautoclaim(
                stream,
                self.group,
                self.consumer,
                min_idle_time=0,
                start_id=cursor,
                count=1000,
            )
            cursor = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
            self.stats.claimed += len(reply[1])
            if cursor == "0-0":
                break
        self._own_pending.add(stream)

    def _recycle_connection(self) -> None:
        # Django's per-request hook: drops an obsolete or broken connection, and with
        # CONN_HEALTH_CHECKS pings the database before the next query. Once per batch
        # that ping is a round trip on the latency path, so do it every few seconds; a
        # connection that broke meanwhile fails the batch, which is retried (TRANSIENT_DB).
        now = time.monotonic()
        if now - self._last_recycle >= CONNECTION_CHECK_SECONDS:
            self._last_recycle = now
            close_old_connections()

    def _rules(self) -> tuple[list[RuleConfig], EvalContext]:
        # Re-read rules every few seconds, not every batch: an approval takes effect within
        # `config_ttl`, and each alert records the version that was actually used.
        # The screening memo is kept while the active sanctions list versions are the same
        # (a new version applies from the next refresh on): re-screening every name after
        # each refresh put a screening query per name on the latency path.
        now = time.monotonic()
        if self._config is None or now - self._config[0] > self.config_ttl:
            lists = screening_lists_key()
            screen = (
                self._config[2].screen
                if self._config is not None and lists is not None and lists == self._lists
                else default_screen()
            )
            self._lists = lists
            context = EvalContext(screen=screen, jurisdictions=jurisdiction_lists())
            self._config = (now, active_rule_configs(), context)
        return self._config[1], self._config[2]

    def _read(self, streams: dict[str, str], **kwargs) -> list[tuple[str, bytes, dict]]:
        count = max(1, self.batch_size // len(streams))
        reply = self.client.xreadgroup(self.group, self.consumer, streams, count=count, **kwargs)
        return [
            (name.decode() if isinstance(name, bytes) else name, entry_id, fields)
            for name, entries in reply or []
            for entry_id, fields in entries
        ]

    def _fetch(self) -> list[tuple[str, bytes, dict]]:
        """The next batch as (stream, entry id, fields)."""
        if not self.streams:
            time.sleep(min(self.block_ms, 500) / 1000)  # no shard for us (yet): stand by
            return []
        if self._own_pending:
            entries = self._read({stream: "0" for stream in sorted(self._own_pending)})
            self._own_pending &= {stream for stream, _, _ in entries}
            if entries:
                return entries
        # Reclaiming only helps once entries can have been idle long enough: probe the
        # group's pending list a few times per claim period, not before every read.
        now = time.monotonic()
        if now - self._last_claim >= self.claim_idle_ms / 4000:
            self._last_claim = now
            for stream in self.streams:
                claimed = self.client.xautoclaim(
                    stream,
                    self.group,
                    self.consumer,
                    min_idle_time=self.claim_idle_ms,
                    start_id="0-0",
                    count=self.batch_size,
                )
                entries = claimed[1] if claimed and len(claimed) > 1 else []
                if entries:
                    self._last_claim = 0.0  # there may be more: look again next time
                    self.stats.claimed += len(entries)
                    return [(stream, entry_id, fields) for entry_id, fields in entries]
        return self._read({stream: ">" for stream in self.streams}, block=self.block_ms)

    def process(self, entries: list[tuple[str, bytes | str, dict | None]]) -> None:
        """Ingest one batch of (stream, entry id, fields), record its dead letters, then
        acknowledge it."""
        ids: dict[str, list[str]] = {}
        events: list[TransactionEvent] = []
        refs: list[tuple[str, str]] = []  # (stream, entry id) of each event
        dead: list[tuple[str, str, str, str, dict]] = []
        for stream, raw_id, fields in entries:
            entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            ids.setdefault(stream, []).append(entry_id)
            if fields is None:
                continue  # deleted from the stream while pending: nothing to do
            payload = fields.get(b"data", fields.get("data"))
            text = (
                payload.decode("utf-8", "replace")
                if isinstance(payload, bytes)
                else (payload or "")
            )
            if payload is None:
                dead.append(
                    (stream, entry_id, "", "entry has no 'data' field", {"data": "missing"})
                )
                continue
            try:
                events.append(decode_event(payload))
                refs.append((stream, entry_id))
            except EventValidationError as exc:
                dead.append((stream, entry_id, text, f"invalid event: {exc}", exc.errors))
        rules, context = self._rules()
        with audit_context(actor=self.actor):
            if events:
                try:
                    self._ingest(events, [entry_id for _, entry_id in refs], rules, context)
                except TRANSIENT_DB:
                    raise
                except Exception:  # a bug or a poison event: isolate it
                    logger.exception("batch failed, retrying entry by entry")
                    self._ingest_one_by_one(events, refs, rules, context, dead)
            for stream, entry_id, text, reason, errors in dead:
                # The shard stream, not the feed's name: entry ids are unique per stream,
                # and a replay goes back to the shard the entry came from.
                dead_letter_record(
                    stream=stream,
                    entry_id=entry_id,
                    payload=text,
                    reason=reason,
                    errors=errors,
                )
        for stream, entry_id, text, reason, _ in dead:
            self.client.xadd(
                self.dead_stream,
                {"data": text, "reason": reason, "entry_id": entry_id, "stream": stream},
            )
        self.stats.dead_letters += len(dead)
        # Acknowledge only now: every effect of these entries is committed.
        committed_ms = time.time() * 1000
        for stream, stream_ids in ids.items():
            if len(self.stats.latencies_ms) < 1_000_000:
                self.stats.latencies_ms.extend(
                    committed_ms - int(entry_id.split("-")[0]) for entry_id in stream_ids
                )
            self.client.xack(stream, self.group, *stream_ids)
            self.stats.entries += len(stream_ids)
            self.stats.per_stream[stream] = self.stats.per_stream.get(stream, 0) + len(stream_ids)
        self.stats.batches += 1

    def _ingest(self, events, event_ids, rules, context) -> None:
        result = transactions_ingest(
            events=events, stream_ids=event_ids, rules=rules, context=context
        )
        self.stats.inserted += result.inserted
        self.stats.duplicates += result.duplicates
        self.stats.alerts += len(result.alert_ids)

    def _ingest_one_by_one(self, events, refs, rules, context, dead) -> None:
        for event, (stream, entry_id) in zip(events, refs, strict=True):
            try:
                self._ingest([event], [entry_id], rules, context)
            except TRANSIENT_DB:
                raise
            except Exception as exc:
                dead.append(
                    (
                        stream,
                        entry_id,
                        _event_json(event),
                        f"processing failed: {type(exc).__name__}: {exc}"[:500],
                        {"processing": str(exc)[:200]},
                    )
                )

    def run(self, *, stop_when_idle: float | None = None, max_entries: int | None = None) -> None:
        """Consume until stopped (signal), idle for `stop_when_idle` s, or `max_entries`.
        A sharded consumer gives its shards back when it stops."""
        try:
            self._run(stop_when_idle=stop_when_idle, max_entries=max_entries)
        finally:
            if self.leases is not None:
                try:
                    self.leases.leave()
                except redis.RedisError:
                    pass  # the leases lapse after their TTL anyway

    def _run(self, *, stop_when_idle: float | None, max_entries: int | None) -> None:
        backoff = 0.2
        idle_since = time.monotonic()
        group_ready = False
        while not self._stop:
            try:
                if not group_ready:
                    self.ensure_group()
                    self.refresh_shards(force=True)
                    group_ready = True
                else:
                    self.refresh_shards()
                entries = self._fetch()
                if entries:
                    self._recycle_connection()
                    self.process(entries)
                    idle_since = time.monotonic()
                elif stop_when_idle is not None and time.monotonic() - idle_since > stop_when_idle:
                    return
                backoff = 0.2
                if max_entries is not None and self.stats.entries >= max_entries:
                    return
            except TRANSIENT_REDIS as exc:
                self.stats.reconnects += 1
                group_ready = False
                self._own_pending = set(self.streams)
                logger.warning("redis unavailable (%s); retrying in %.1fs", exc, backoff)
                time.sleep(backoff * (1 + random.random() / 2))  # noqa: S311
                backoff = min(backoff * 2, 5.0)
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                group_ready = False  # stream or group vanished (e.g. Redis restarted empty)
            except TRANSIENT_DB as exc:
                # The batch rolled back and stays pending: re-read it after reconnecting.
                self._own_pending = set(self.streams)
                logger.warning(
                    "database or screening unavailable (%s); retrying in %.1fs", exc, backoff
                )
                close_old_connections()
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)


def _event_json(event: TransactionEvent) -> str:
    import json

    return json.dumps(event.to_json(), default=str)
