"""What every parser returns: metadata plus a stream of `ListedEntity`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..records import ListedEntity


@dataclass
class ParsedList:
    """A list publication being parsed.

    `entities` is a one-shot generator; `publication_date` and `declared_count` are filled
    from the file header as soon as it has been read (at the latest when the stream ends).
    """

    list_code: str
    format: str
    files: list[str]
    entities: Iterator[ListedEntity] = field(repr=False, default=iter(()))
    publication_date: dt.date | None = None
    declared_count: int | None = None
