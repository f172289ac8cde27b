"""SAR deadlines and case ageing: pure date arithmetic, no Django.

FinCEN (31 CFR 1020.320(d)): a SAR is due 30 calendar days after initial detection of the
facts that may constitute a basis for filing; when no suspect is identified the bank may
take another 30 days (60 in total). Continuing activity is reviewed every 90 days after a
filing."""

from __future__ import annotations

from datetime import datetime, timedelta

SAR_DAYS_WITH_SUSPECT = 30
SAR_DAYS_WITHOUT_SUSPECT = 60
CONTINUING_REVIEW_DAYS = 90

# Ageing buckets shown on the dashboard and offered as a filter: (key, label, min, max days).
AGE_BUCKETS: list[tuple[str, str, int, int | None]] = [
    ("0-7", "0–7 days", 0, 7),
    ("8-30", "8–30 days", 8, 30),
    ("31-60", "31–60 days", 31, 60),
    ("61+", "over 60 days", 61, None),
]


def sar_due_at(*, detected_at: datetime, suspect_identified: bool) -> datetime:
    """When the SAR for activity detected at `detected_at` must be filed."""
    days = SAR_DAYS_WITH_SUSPECT if suspect_identified else SAR_DAYS_WITHOUT_SUSPECT
    return detected_at + timedelta(days=days)


def continuing_review_due_at(*, filed_at: datetime) -> datetime:
    """When continuing suspicious activity after a filing must be reviewed again."""
    return filed_at + timedelta(days=CONTINUING_REVIEW_DAYS)


def age_days(*, opened_at: datetime, now: datetime) -> int:
    """Whole days a case has been open."""
    return max(0, (now - opened_at).days)


def age_bucket(days: int) -> str:
    """The dashboard bucket key for an age in days."""
    for key, _label, low, high in AGE_BUCKETS:
        if days >= low and (high is None or days <= high):
            return key
    return AGE_BUCKETS[-1][0]


def age_bucket_bounds(key: str, *, now: datetime) -> tuple[datetime | None, datetime | None]:
    """(opened_after, opened_before) for a bucket key; ValueError for an unknown key."""
    for bucket, _label, low, high in AGE_BUCKETS:
        if bucket == key:
            opened_before = now - timedelta(days=low)
            opened_after = now - timedelta(days=high + 1) if high is not None else None
            return opened_after, opened_before
    raise ValueError(f"unknown age bucket {key!r}")
