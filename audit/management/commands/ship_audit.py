"""manage.py ship_audit [--once]: move spooled audit events into the tenants' hash chains."""

from __future__ import annotations

import signal
import time

from django.db import close_old_connections

from audit import shipper, spool
from core.commands import OperatorCommand


class Command(OperatorCommand):
    help = ("Run the audit shipper: chain the events the audit spool (TESSERA_AUDIT_SPOOL_URL) holds "
            "into each tenant's trail, in batches, until stopped (SIGTERM/SIGINT finish the batch). "
            "Run at least one wherever the spool is configured; more are safe.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true",
                            help="Ship what is waiting now, then exit (cron, maintenance, tests).")
        parser.add_argument("--batch", type=int, default=500, help="Events per read (default 500).")
        parser.add_argument("--consumer", help="Consumer name in the Redis group (default host:pid).")
        parser.add_argument("--interval", type=float, default=0.25,
                            help="Seconds to let events gather after a short batch (default 0.25): "
                                 "fewer, larger transactions; the chain lags by about this much.")

    def handle(self, *args, **opts) -> None:
        if not spool.enabled():
            raise self.fail("TESSERA_AUDIT_SPOOL_URL is not set: there is no spool to ship from")
        if opts["batch"] < 1:
            raise self.fail("--batch must be at least 1")
        if opts["interval"] < 0:
            raise self.fail("--interval cannot be negative")
        consumer = opts["consumer"] or shipper.default_consumer()
        if opts["once"]:
            total = 0
            while (batch := shipper.ship(count=opts["batch"], consumer=consumer)).read:
                total += batch.chained
            self.stdout.write(f"shipped {total} event(s); {spool.backlog()} left in the spool")
            return
        stopping = False

        def stop(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"shipping audit events as {consumer}")
        while not stopping:
            try:
                batch = shipper.ship(count=opts["batch"], block_ms=1000, consumer=consumer)
            except Exception:  # Redis or PostgreSQL away: say so, wait, try again
                spool.log.exception("audit shipper: batch failed; retrying in 1 s")
                time.sleep(1)
                continue
            finally:
                close_old_connections()
            if batch.read < opts["batch"]:
                time.sleep(opts["interval"])
