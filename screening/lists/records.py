"""Normalised, immutable records of listed entities (pure, no Django).

Parsers of every source (OFAC, UN, UK, EU) produce `ListedEntity` records; the importer
stores them; the screening engine consumes them through `screening.lists.selectors`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ListedName:
    """One name of a listed entity: the primary name or an alias."""

    name: str
    kind: str = "primary"  # primary | aka | fka | nka | weak
    script: str = "Latn"  # ISO 15924 code of the name as published


@dataclass(frozen=True, slots=True)
class ListedEntity:
    """One listed party as Vigil understands it, whatever the source format."""

    list_code: str  # ofac-sdn | ofac-cons | un | uk | eu
    uid: str  # the list's own id (OFAC ent_num, UN DATAID, ...)
    entity_type: str  # person | organisation | vessel | aircraft | unknown
    names: tuple[ListedName, ...]
    programs: tuple[str, ...] = ()
    remarks: str = ""
    dates_of_birth: tuple[str, ...] = ()  # ISO, partial allowed: YYYY, YYYY-MM, YYYY-MM-DD
    places_of_birth: tuple[str, ...] = ()
    nationalities: tuple[str, ...] = ()  # ISO 3166 alpha-2 where known, else as published
    countries: tuple[str, ...] = ()  # any country linked to the entity (addresses, ...)
    addresses: tuple[dict, ...] = ()
    identifiers: tuple[tuple[str, str], ...] = ()  # (kind, value): passport, imo, bic, ...
    extra: dict = field(default_factory=dict, hash=False, compare=False)
    # Set by the importer/selectors, not by parsers:
    entity_id: int | None = None  # database id of the stored entity row
    version_id: int | None = None
    content_hash: str = ""

    @property
    def primary_name(self) -> str:
        for n in self.names:
            if n.kind == "primary":
                return n.name
        return self.names[0].name if self.names else ""
