"""Content hashing and version deltas of listed entities (pure, no Django).

An entity's identity is (list, uid); its content hash covers every published field, so a
change anywhere (a new alias, a corrected DOB, an extra remark) counts as "changed".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from .records import ListedEntity

#: Fields compared field by field in deltas (identity and storage ids excluded).
CONTENT_FIELDS = (
    "entity_type",
    "names",
    "programs",
    "remarks",
    "dates_of_birth",
    "places_of_birth",
    "nationalities",
    "countries",
    "addresses",
    "identifiers",
    "extra",
)


def entity_content(entity: ListedEntity) -> dict:
    """JSON-ready published content of an entity (what the hash and the diff cover)."""
    return {
        "entity_type": entity.entity_type,
        "names": [[n.name, n.kind, n.script] for n in entity.names],
        "programs": list(entity.programs),
        "remarks": entity.remarks,
        "dates_of_birth": list(entity.dates_of_birth),
        "places_of_birth": list(entity.places_of_birth),
        "nationalities": list(entity.nationalities),
        "countries": list(entity.countries),
        "addresses": [dict(a) for a in entity.addresses],
        "identifiers": [list(i) for i in entity.identifiers],
        "extra": entity.extra,
    }


def content_hash(entity: ListedEntity) -> str:
    """SHA-256 of the canonical JSON of the entity's list, uid and content."""
    return content_digest(entity.list_code, entity.uid, entity_content(entity))


def content_digest(list_code: str, uid: str, content: Mapping) -> str:
    """`content_hash` from an already built `entity_content` dict (import fast path)."""
    payload = {"list": list_code, "uid": uid, **content}
    data = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def with_hash(entity: ListedEntity) -> ListedEntity:
    """The same entity with `content_hash` filled in."""
    return replace(entity, content_hash=content_hash(entity))


def field_diff(old: Mapping, new: Mapping) -> dict[str, dict]:
    """{field: {"old": ..., "new": ..., "added": [...], "removed": [...]}} for changed fields.

    List fields also say which items were added/removed so a reviewer sees "alias X added"
    rather than two long lists.
    """
    out: dict[str, dict] = {}
    for name in CONTENT_FIELDS:
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        change: dict = {"old": a, "new": b}
        if isinstance(a, list) and isinstance(b, list):
            ka = [json.dumps(x, sort_keys=True) for x in a]
            kb = [json.dumps(x, sort_keys=True) for x in b]
            change["added"] = [x for x, k in zip(b, kb, strict=True) if k not in set(ka)]
            change["removed"] = [x for x, k in zip(a, ka, strict=True) if k not in set(kb)]
        out[name] = change
    return out


@dataclass
class Delta:
    """Added, removed and changed uids between two versions of one list."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, dict[str, dict]] = field(default_factory=dict)  # uid -> field diff

    @property
    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "changed": len(self.changed),
        }


def compute_delta(
    old_hashes: Mapping[str, str],
    new_hashes: Mapping[str, str],
    *,
    old_content: Mapping[str, Mapping] | None = None,
    new_content: Mapping[str, Mapping] | None = None,
) -> Delta:
    """Delta by uid and content hash; field diffs when both contents are supplied.

    Content lookups are only needed for the changed uids, so callers may pass lazy
    mappings that load rows on demand.
    """
    delta = Delta(
        added=sorted(new_hashes.keys() - old_hashes.keys(), key=_uid_key),
        removed=sorted(old_hashes.keys() - new_hashes.keys(), key=_uid_key),
    )
    for uid in sorted(old_hashes.keys() & new_hashes.keys(), key=_uid_key):
        if old_hashes[uid] != new_hashes[uid]:
            diff = {}
            if old_content is not None and new_content is not None:
                diff = field_diff(old_content[uid], new_content[uid])
            delta.changed[uid] = diff
    return delta


def delta_of_entities(old: Iterable[ListedEntity], new: Iterable[ListedEntity]) -> Delta:
    """Delta between two parsed publications (used by tests and the benchmark)."""
    old_c = {e.uid: e for e in old}
    new_c = {e.uid: e for e in new}
    return compute_delta(
        {u: content_hash(e) for u, e in old_c.items()},
        {u: content_hash(e) for u, e in new_c.items()},
        old_content={u: entity_content(e) for u, e in old_c.items()},
        new_content={u: entity_content(e) for u, e in new_c.items()},
    )


def _uid_key(uid: str) -> tuple[int, str]:
    return (int(uid), "") if uid.isdigit() else (1 << 62, uid)
