"""Redis Streams consumer: reads transactions through a consumer group and ingests them.

Delivery is at-least-once (an entry stays pending until XACK); the effect is exactly-once
because ingestion is idempotent and commits all its effects in one database transaction
*before* the entries are acknowledged. A consumer that dies leaves pending entries; on
restart it re-reads its own (id 0), and any consumer in the group reclaims entries idle
longer than `claim_idle_ms` (XAUTOCLAIM). Malformed entries go to the dead-letter table
and stream with the reason and never stop the loop. Connection errors (Redis or the
database restarting) are retried with capped backoff.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import time
from collections.abc import Callable
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
    transactions_ingest,
)

logger = logging.getLogger(__name__)
TRANSIENT_REDIS = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)
# Failures of a dependency, not of the events: the batch stays pending and is retried.
TRANSIENT_DB = (OperationalError, InterfaceError, ScreeningUnavailable)


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
    started: float = field(default_factory=time.monotonic)
    # XADD-to-commit latency of every entry, ms (the entry id carries the XADD time).
    latencies_ms: list[float] = field(default_factory=list)

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
        on_batch: Callable[[list[str]], None] | None = None,
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
        self.on_batch = on_batch
        self.stats = ConsumerStats()
        self._stop = False
        self._read_own_pending = True  # after (re)start, first finish what we held
        self._last_claim = 0.0
        self._config: tuple[float, list[RuleConfig], EvalContext] | None = None
        self.actor = Actor.system(f"consume_transactions:{consumer}")

    def stop(self, *_args) -> None:
        self._stop = True

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _rules(self) -> tuple[list[RuleConfig], EvalContext]:
        # Re-read rules every few seconds, not every batch: an approval takes effect within
        # `config_ttl`, and each alert records the version that was actually used.
        now = time.monotonic()
        if self._config is None or now - self._config[0] > self.config_ttl:
            context = EvalContext(screen=default_screen(), jurisdictions=jurisdiction_lists())
            self._config = (now, active_rule_configs(), context)
        return self._config[1], self._config[2]

    def _fetch(self) -> list[tuple[str, dict]]:
        if self._read_own_pending:
            reply = self.client.xreadgroup(
                self.group, self.consumer, {self.stream: "0"}, count=self.batch_size
            )
            entries = reply[0][1] if reply else []
            if entries:
                return entries
            self._read_own_pending = False
        # Reclaiming only helps once entries can have been idle long enough: probe the
        # group's pending list a few times per claim period, not before every read.
        now = time.monotonic()
        if now - self._last_claim >= self.claim_idle_ms / 4000:
            self._last_claim = now
            claimed = self.client.xautoclaim(
                self.stream,
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
                return entries
        reply = self.client.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: ">"},
            count=self.batch_size,
            block=self.block_ms,
        )
        return reply[0][1] if reply else []

    def process(self, entries: list[tuple]) -> None:
        """Ingest one batch, record its dead letters, then acknowledge it."""
        ids: list[str] = []
        events: list[TransactionEvent] = []
        event_ids: list[str] = []
        dead: list[tuple[str, str, str, dict]] = []
        for raw_id, fields in entries:
            entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            ids.append(entry_id)
            if fields is None:
                continue  # deleted from the stream while pending: nothing to do
            payload = fields.get(b"data", fields.get("data"))
            text = (
                payload.decode("utf-8", "replace")
                if isinstance(payload, bytes)
                else (payload or "")
            )
            if payload is None:
                dead.append((entry_id, "", "entry has no 'data' field", {"data": "missing"}))
                continue
            try:
                events.append(decode_event(payload))
                event_ids.append(entry_id)
            except EventValidationError as exc:
                dead.append((entry_id, text, f"invalid event: {exc}", exc.errors))
        rules, context = self._rules()
        with audit_context(actor=self.actor):
            if events:
                try:
                    self._ingest(events, event_ids, rules, context)
                except TRANSIENT_DB:
                    raise
                except Exception as exc:  # a bug or a poison event: isolate it
                    logger.exception("batch failed, retrying entry by entry")
                    self._ingest_one_by_one(events, event_ids, rules, context, dead, exc)
            for entry_id, text, reason, errors in dead:
                dead_letter_record(
                    stream=self.stream,
                    entry_id=entry_id,
                    payload=text,
                    reason=reason,
                    errors=errors,
                )
        for entry_id, text, reason, _ in dead:
            self.client.xadd(
                self.dead_stream, {"data": text, "reason": reason, "entry_id": entry_id}
            )
        self.stats.dead_letters += len(dead)
        # Acknowledge only now: every effect of these entries is committed.
        committed_ms = time.time() * 1000
        if len(self.stats.latencies_ms) < 1_000_000:
            self.stats.latencies_ms.extend(
                committed_ms - int(entry_id.split("-")[0]) for entry_id in ids
            )
        if ids:
            self.client.xack(self.stream, self.group, *ids)
        self.stats.entries += len(ids)
        self.stats.batches += 1
        if self.on_batch:
            self.on_batch(ids)

    def _ingest(self, events, event_ids, rules, context) -> None:
        result = transactions_ingest(
            events=events, stream_ids=event_ids, rules=rules, context=context
        )
        self.stats.inserted += result.inserted
        self.stats.duplicates += result.duplicates
        self.stats.alerts += len(result.alert_ids)

    def _ingest_one_by_one(self, events, event_ids, rules, context, dead, batch_exc) -> None:
        for event, entry_id in zip(events, event_ids, strict=True):
            try:
                self._ingest([event], [entry_id], rules, context)
            except TRANSIENT_DB:
                raise
            except Exception as exc:
                dead.append(
                    (
                        entry_id,
                        _event_json(event),
                        f"processing failed: {type(exc).__name__}: {exc}"[:500],
                        {"processing": str(exc)[:200]},
                    )
                )

    def run(self, *, stop_when_idle: float | None = None, max_entries: int | None = None) -> None:
        """Consume until stopped (signal), idle for `stop_when_idle` s, or `max_entries`."""
        backoff = 0.2
        idle_since = time.monotonic()
        group_ready = False
        while not self._stop:
            try:
                if not group_ready:
                    self.ensure_group()
                    group_ready = True
                entries = self._fetch()
                if entries:
                    close_old_connections()
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
                self._read_own_pending = True
                logger.warning("redis unavailable (%s); retrying in %.1fs", exc, backoff)
                time.sleep(backoff * (1 + random.random() / 2))  # noqa: S311
                backoff = min(backoff * 2, 5.0)
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                group_ready = False  # stream or group vanished (e.g. Redis restarted empty)
            except TRANSIENT_DB as exc:
                # The batch rolled back and stays pending: re-read it after reconnecting.
                self._read_own_pending = True
                logger.warning(
                    "database or screening unavailable (%s); retrying in %.1fs", exc, backoff
                )
                close_old_connections()
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)


def _event_json(event: TransactionEvent) -> str:
    import json

    return json.dumps(event.to_json(), default=str)
