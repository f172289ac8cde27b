"""python manage.py consume_transactions [--stream S] [--shards N] [--group G] [--consumer NAME]"""

from __future__ import annotations

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit.context import Actor
from monitoring.consumer import StreamConsumer, default_consumer_name
from monitoring.services import monitoring_seed_defaults
from monitoring.sharding import validate_shards


class Command(BaseCommand):
    help = "Consume transactions from a Redis Stream through a consumer group and monitor them."

    def add_arguments(self, parser):
        parser.add_argument("--stream", default=settings.TRANSACTION_STREAM)
        parser.add_argument(
            "--shards",
            type=int,
            default=getattr(settings, "TRANSACTION_STREAM_SHARDS", 1),
            help="the feed is split by account into STREAM:0 .. STREAM:N-1 (producers route "
            "by CRC-32 of account_id mod N); each consumer leases its share. 1 = one stream "
            "read by every consumer",
        )
        parser.add_argument(
            "--lease-ms",
            type=int,
            default=10_000,
            help="sharded feeds: a dead consumer's shards pass to the others after this long",
        )
        parser.add_argument("--group", default="vigil-monitoring")
        parser.add_argument(
            "--consumer", default=None, help="unique name of this consumer (default: host-pid)"
        )
        parser.add_argument("--redis-url", default=None, help="default: REDIS_URL")
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--block-ms", type=int, default=1000)
        parser.add_argument(
            "--claim-idle-ms",
            type=int,
            default=30_000,
            help="reclaim entries another consumer left pending this long",
        )
        parser.add_argument(
            "--stop-when-idle",
            type=float,
            default=None,
            help="exit after this many seconds without entries",
        )
        parser.add_argument("--max-entries", type=int, default=None)

    def handle(self, *args, **options):
        url = options["redis_url"] or settings.REDIS_URL
        if not url:
            raise CommandError("No Redis: set REDIS_URL or pass --redis-url")
        for name in ("batch_size", "block_ms", "claim_idle_ms", "lease_ms"):
            if options[name] <= 0:
                raise CommandError(f"--{name.replace('_', '-')} must be positive")
        try:
            validate_shards(options["shards"])
        except ValueError as exc:
            raise CommandError(f"--shards: {exc}") from None
        if options["lease_ms"] < 100:
            raise CommandError("--lease-ms must be at least 100")
        name = options["consumer"] or default_consumer_name()
        client = redis.Redis.from_url(
            url,
            socket_timeout=max(5, options["block_ms"] / 1000 + 5),
            socket_connect_timeout=5,
            health_check_interval=15,
        )
        monitoring_seed_defaults(actor=Actor.system(f"consume_transactions:{name}"))
        consumer = StreamConsumer(
            client=client,
            stream=options["stream"],
            group=options["group"],
            consumer=name,
            batch_size=options["batch_size"],
            block_ms=options["block_ms"],
            claim_idle_ms=options["claim_idle_ms"],
            shards=options["shards"],
            lease_ms=options["lease_ms"],
        )
        consumer.install_signal_handlers()
        self.stderr.write(
            f"consumer {name} reading {options['stream']}"
            + (f" in {options['shards']} shards" if options["shards"] > 1 else "")
            + f" as group {options['group']}"
        )
        consumer.run(stop_when_idle=options["stop_when_idle"], max_entries=options["max_entries"])
        s = consumer.stats
        self.stdout.write(
            f"entries={s.entries} inserted={s.inserted} duplicates={s.duplicates} "
            f"alerts={s.alerts} dead_letters={s.dead_letters} "
            f"claimed={s.claimed} reconnects={s.reconnects} "
            f"batches={s.batches} cpu_s={s.cpu_seconds():.2f} "
            f"latency_p50_ms={_ms(s.latency(0.5))} "
            f"latency_p95_ms={_ms(s.latency(0.95))} "
            f"latency_p99_ms={_ms(s.latency(0.99))} "
            f"shards_held={s.shards_held} "
            f"streams={','.join(f'{k}:{v}' for k, v in sorted(s.per_stream.items())) or '-'}"
        )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
