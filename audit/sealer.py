"""Background sealing: one daemon thread per process chains committed pending entries.

Every transaction that writes pending entries wakes this process's sealer when it commits.
At most two sealers are involved at any moment, whatever the number of processes: one
sealing (holding the chain lock) and one queued behind it (holding the queue lock). A
woken sealer that cannot take the queue lock returns at once: the queued sealer has not
selected its rows yet, so its pass will include everything this process committed. A
sealer that takes the queue lock waits for the chain lock, gives up the queue lock and
chains everything committed so far. No polling; under load each pass chains everything
that arrived during the previous one. Wake-ups within a process coalesce too.

If a process dies before its sealer ran, the `audit.seal_pending` beat task (and any other
process's next pass) chains what it left. At interpreter exit a process seals what it
wrote, so a short command leaves nothing pending.

With ``AUDIT_SEALER=process`` no writer runs a sealer thread: one dedicated process
(``manage.py audit_sealer``, see ``run_sealer``) polls for committed pending rows and
chains them with the same protocol, so sealing never competes with request handling for a
writer's interpreter lock.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time

logger = logging.getLogger("vigil.audit.sealer")
# Session-level advisory lock of the one sealer waiting for the chain lock.
QUEUE_LOCK_KEY = 0x5649_4749_4C_51  # "VIGILQ"
IDLE_CLOSE_SECONDS = 0.5
# A sealer pass holds the interpreter lock while it builds headers; the default 5 ms switch
# interval would let it delay the request thread that long. 1 ms bounds that, at a cost only
# when both threads want to run.
SEALER_SWITCH_INTERVAL = 0.001


def _seal_pass() -> None:
    """One pass of this process's sealer (its own connection, autocommit)."""
    from django.db import connection

    from audit.services import CHAIN_LOCK_KEY, ledger_seal_pending

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [QUEUE_LOCK_KEY])
        if not cursor.fetchone()[0]:
            return  # a queued sealer will select after our commit: it chains our entries
        try:
            cursor.execute("SELECT pg_advisory_lock(%s)", [CHAIN_LOCK_KEY])
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [QUEUE_LOCK_KEY])
        try:
            ledger_seal_pending()  # its transaction-level chain lock is ours already
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [CHAIN_LOCK_KEY])


class _Sealer:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._event = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._atexit = False
        self._stop = False

    def wake(self) -> None:
        thread = self._thread
        if thread is None or self._pid != os.getpid() or not thread.is_alive():
            with self._guard:
                if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                    # After a fork the parent's thread is gone: start a fresh one.
                    self._event = threading.Event()
                    self._pid = os.getpid()
                    if sys.getswitchinterval() > SEALER_SWITCH_INTERVAL:
                        sys.setswitchinterval(SEALER_SWITCH_INTERVAL)
                    self._thread = threading.Thread(target=self._run, name="vigil-audit-sealer",
                                                    daemon=True)
                    self._thread.start()
                    if not self._atexit:
                        atexit.register(self._seal_at_exit)
                        self._atexit = True
        self._event.set()

    def _run(self) -> None:
        from django.conf import settings
        from django.db import connection

        delay = settings.AUDIT_SEAL_DELAY_MS / 1000
        event = self._event
        while True:
            if not event.wait(IDLE_CLOSE_SECONDS):
                # Idle: give the connection back (a quiet process holds none; under load
                # wake-ups come far more often than this, so it is never reopened then).
                connection.close()
                event.wait()
            if delay:
                time.sleep(delay)  # let a burst of commits gather into one pass
            event.clear()
            if self._stop:
                connection.close()
                return
            try:
                _seal_pass()
            except Exception:  # keep sealing: the next wake or the beat sweep retries
                logger.exception("audit sealer pass failed")
                connection.close()
                time.sleep(0.5)
                event.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the current pass, close the thread's connection and end the thread."""
        thread = self._thread
        self._pid = None  # nothing left to seal at exit either
        if thread is None or not thread.is_alive():
            return
        self._stop = True
        self._event.set()
        thread.join(timeout)
        self._stop = False
        self._thread = None

    def _seal_at_exit(self) -> None:
        if self._pid != os.getpid():
            return
        try:
            from django.db import connection

            from audit.services import ledger_seal_pending

            ledger_seal_pending()
            connection.close()
        except Exception:  # the beat sweep will chain it
            logger.warning("audit sealer: could not seal at exit", exc_info=True)


_SEALER = _Sealer()


def sealer_wake() -> None:
    """on_commit hook of a transaction that wrote pending entries."""
    _SEALER.wake()


def _pending_exists() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM audit_pendingentry)")
        return cursor.fetchone()[0]


def run_sealer(*, poll_ms: int, stop: threading.Event, on_pass=None) -> None:
    """The dedicated sealer process's loop (AUDIT_SEALER=process): every ``poll_ms`` look
    for committed pending rows and chain them (same queue/chain lock protocol as the
    threads, so it can run beside them or a second copy of itself). Returns when ``stop``
    is set, after a last pass."""
    from django.db import connection

    interval = poll_ms / 1000
    while True:
        stopping = stop.is_set()
        try:
            if _pending_exists():
                _seal_pass()
                if on_pass:
                    on_pass()
        except Exception:  # keep going: a database restart must not end the sealer
            logger.exception("audit sealer pass failed")
            connection.close()
            stop.wait(1.0)
        if stopping:
            connection.close()
            return
        stop.wait(interval)


def sealer_stop() -> None:
    """Stop this process's sealer thread (tests, before the test database is dropped)."""
    _SEALER.stop()
