"""Filters shared by the FilterSets of every app."""

from __future__ import annotations

import datetime as dt

import django_filters


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """ISO 8601 date-time filter that compares in UTC.

    Any offset ISO 8601 allows is accepted and converted, so a query string such as
    `since=0344-09-14T06:38:50+17:32` filters correctly instead of reaching PostgreSQL with
    an offset it refuses (which would be a 500). A value without an offset is UTC."""

    def filter(self, qs, value):
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=dt.UTC)
            try:
                value = value.astimezone(dt.UTC)
            except OverflowError:
                return qs.none()
        return super().filter(qs, value)
