"""Per-account transaction history used to evaluate windows exactly (pure, no Django).

Rules never keep running counters: every window is computed from the stored transactions
of the account that fall in it, so a late or out-of-order event gives the same answer as a
brute-force query over the stored rows. Prefix sums make sums over long windows O(log n).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from monitoring.rules.schema import TransactionEvent


class AccountHistory:
    """The stored transactions of one account within a loaded time range, sorted.

    `first_seen` is the account's earliest transaction ever (it may lie before the loaded
    range); dormancy needs it to tell a reactivated account from a brand-new one.
    """

    def __init__(
        self,
        account_id: str,
        transactions: Iterable[TransactionEvent],
        *,
        first_seen: dt.datetime | None = None,
    ):
        unique = {tx.key: tx for tx in transactions}
        self.account_id = account_id
        self.transactions: list[TransactionEvent] = sorted(
            unique.values(), key=lambda t: t.sort_key
        )
        self._times = [tx.timestamp for tx in self.transactions]
        self._prefix: list[Decimal] = [Decimal(0)]
        for tx in self.transactions:
            self._prefix.append(self._prefix[-1] + tx.amount)
        earliest = self._times[0] if self._times else None
        if first_seen is None or (earliest is not None and earliest < first_seen):
            first_seen = earliest
        self.first_seen = first_seen

    def __len__(self) -> int:
        return len(self.transactions)

    def _bounds(
        self, start: dt.datetime, end: dt.datetime, start_inclusive: bool
    ) -> tuple[int, int]:
        lo = (
            bisect.bisect_left(self._times, start)
            if start_inclusive
            else bisect.bisect_right(self._times, start)
        )
        hi = bisect.bisect_right(self._times, end)
        return lo, max(lo, hi)

    def between(
        self, start: dt.datetime, end: dt.datetime, *, start_inclusive: bool = False
    ) -> list[TransactionEvent]:
        """Transactions with start < timestamp <= end (or start <= ... when inclusive)."""
        lo, hi = self._bounds(start, end, start_inclusive)
        return self.transactions[lo:hi]

    def count_sum(
        self, start: dt.datetime, end: dt.datetime, *, start_inclusive: bool = False
    ) -> tuple[int, Decimal]:
        """Count and total amount over (start, end] without materialising the rows."""
        lo, hi = self._bounds(start, end, start_inclusive)
        return hi - lo, self._prefix[hi] - self._prefix[lo]

    def before(self, anchor: TransactionEvent) -> list[TransactionEvent]:
        """Transactions ordered at or before the anchor (by time, then identity)."""
        index = bisect.bisect_right(self._times, anchor.timestamp)
        return [t for t in self.transactions[:index] if t.sort_key <= anchor.sort_key]
