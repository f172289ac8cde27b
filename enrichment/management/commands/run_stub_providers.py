"""python manage.py run_stub_providers --port 8900: GLEIF + Experian stubs on loopback."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from enrichment.stubs import StubProviders


class Command(BaseCommand):
    help = ("Serve faithful GLEIF and Experian stub APIs on 127.0.0.1 with injectable "
            "faults (POST /_stub/config, GET /_stub/stats).")

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8900)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--latency-ms", type=int, default=0)
        parser.add_argument("--fault-rate", type=float, default=0.0)
        parser.add_argument("--gleif-rate-limit", type=int, default=0,
                            help="emulate GLEIF's per-minute limit (0: off)")

    def handle(self, *args, **options):
        if options["host"] not in {"127.0.0.1", "localhost", "::1"}:
            raise CommandError("the stub serves loopback only")
        if not 0 <= options["fault_rate"] <= 1:
            raise CommandError("--fault-rate must be between 0 and 1")
        try:
            stub = StubProviders(options["host"], options["port"])
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {options['host']}:{options['port']}: {exc}") from exc
        stub.configure(latency_ms=options["latency_ms"], fault_rate=options["fault_rate"],
                       gleif_rate_limit_per_minute=options["gleif_rate_limit"])
        stub.start()
        self.stdout.write(f"GLEIF    {stub.gleif_base_url}\n"
                          f"Experian {stub.experian_base_url}\n"
                          f"token    {stub.experian_token_url}\n"
                          f"control  {stub.root}/_stub/config  {stub.root}/_stub/stats")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            self.stdout.write("stopping")
        finally:
            stub.stop()
