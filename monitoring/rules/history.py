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


class HistoryRangeError(LookupError):
    """A rule asked for rows older than the loader provided: a loader bug, never a cap."""


class AccountHistory:
    """The stored transactions of one account within a loaded time range, sorted.

    Two resolutions: `transactions` are full rows from `rows_from` on (what rules list as
    contributing), and `amounts` are (timestamp, amount) pairs over a longer range, enough
    for the counts and sums of long windows (baselines, dormancy) without building full
    rows. `first_seen` is the account's earliest transaction ever (it may lie before both
    ranges); dormancy needs it to tell a reactivated account from a brand-new one.
    """

    def __init__(
        self,
        account_id: str,
        transactions: Iterable[TransactionEvent],
        *,
        first_seen: dt.datetime | None = None,
        amounts: Iterable[tuple[dt.datetime, Decimal]] | None = None,
        rows_from: dt.datetime | None = None,
    ):
        unique = {tx.key: tx for tx in transactions}
        self.account_id = account_id
        self.transactions: list[TransactionEvent] = sorted(
            unique.values(), key=lambda t: t.sort_key
        )
        self.rows_from = rows_from
        self._times = [tx.timestamp for tx in self.transactions]
        if amounts is None:
            pairs = [(tx.timestamp, tx.amount) for tx in self.transactions]
        else:
            pairs = sorted(amounts, key=lambda pair: pair[0])
        self._amount_times = [pair[0] for pair in pairs]
        self._prefix: list[Decimal] = [Decimal(0)]
        for _, amount in pairs:
            self._prefix.append(self._prefix[-1] + amount)
        earliest = min((t for t in (self._times[:1] + self._amount_times[:1])), default=None)
        if first_seen is None or (earliest is not None and earliest < first_seen):
            first_seen = earliest
        self.first_seen = first_seen

    def __len__(self) -> int:
        return len(self.transactions)

    @staticmethod
    def _bounds(
        times: list[dt.datetime],
        start: dt.datetime,
        end: dt.datetime,
        start_inclusive: bool,
        end_inclusive: bool = True,
    ) -> tuple[int, int]:
        lo = (
            bisect.bisect_left(times, start)
            if start_inclusive
            else bisect.bisect_right(times, start)
        )
        hi = bisect.bisect_right(times, end) if end_inclusive else bisect.bisect_left(times, end)
        return lo, max(lo, hi)

    def between(
        self, start: dt.datetime, end: dt.datetime, *, start_inclusive: bool = False
    ) -> list[TransactionEvent]:
        """Transactions with start < timestamp <= end (or start <= ... when inclusive)."""
        if self.rows_from is not None and start < self.rows_from:
            raise HistoryRangeError(
                f"rows from {start.isoformat()} requested, loaded from {self.rows_from}"
            )
        lo, hi = self._bounds(self._times, start, end, start_inclusive)
        return self.transactions[lo:hi]

    def count_sum(
        self,
        start: dt.datetime,
        end: dt.datetime,
        *,
        start_inclusive: bool = False,
        end_inclusive: bool = True,
    ) -> tuple[int, Decimal]:
        """Count and total amount over (start, end] without materialising the rows."""
        lo, hi = self._bounds(self._amount_times, start, end, start_inclusive, end_inclusive)
        return hi - lo, self._prefix[hi] - self._prefix[lo]

    def last_before(self, when: dt.datetime) -> dt.datetime | None:
        """Time of the latest transaction strictly before `when`, if loaded."""
        index = bisect.bisect_left(self._amount_times, when) - 1
        return self._amount_times[index] if index >= 0 else None

    def before(self, anchor: TransactionEvent) -> list[TransactionEvent]:
        """Transactions ordered at or before the anchor (by time, then identity)."""
        index = bisect.bisect_right(self._times, anchor.timestamp)
        return [t for t in self.transactions[:index] if t.sort_key <= anchor.sort_key]
