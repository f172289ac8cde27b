"""Every change to lists goes through a service here: imports, activation, refresh.

Business rules: a version is built completely inside one transaction and becomes active
only after validation (record counts within a sanity band of the active version); the same
file twice is a no-op; a refused or suspicious import leaves the previous version active,
records the error on the source and opens a LISTS case.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.context import Actor, audit_context
from audit.services import audit_record
from screening.lists.choices import ChangeKind, ListCode, VersionStatus
from screening.lists.delta import compute_delta, content_digest, entity_content, field_diff
from screening.lists.download import DownloadError, DownloadPolicy, download
from screening.lists.folding import fold
from screening.lists.models import Entity, EntityChange, EntityName, ListSource, ListVersion
from screening.lists.parsers import ListParseError, parse_list
from screening.lists.parsers.source import DEFAULT_MAX_BYTES
from screening.lists.records import ListedEntity
from screening.lists.signals import list_version_activated

IMPORTER_VERSION = "1.0.0"
BATCH_SIZE = 2000
FIXTURES = Path(settings.BASE_DIR) / "fixtures" / "sanctions"

#: Official download URLs (overridable with settings.LISTS_SOURCE_URLS). The legacy XML
#: files carry everything (aliases, addresses, IDs) in one file per list.
DEFAULT_SOURCE_URLS = {
    ListCode.OFAC_SDN: "https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/SDN.XML",
    ListCode.OFAC_CONS: "https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/CONSOLIDATED.XML",
    ListCode.UN: "https://scsanctions.un.org/resources/xml/en/consolidated.xml",
    ListCode.UK: "https://sanctionslist.fcdo.gov.uk/docs/UK-Sanctions-List.xml",
    ListCode.EU: "",  # the EU file needs a personal token: configure LISTS_SOURCE_URLS["eu"]
}


class ListImportError(Exception):
    """An import was refused; the message names the file, place and problem."""


@dataclass(frozen=True)
class ImportOutcome:
    version: ListVersion
    created: bool  # False: the same file was imported before (no-op)
    activated: bool


def _setting(name: str, default):
    return getattr(settings, name, default)


def source_url(code: str) -> str:
    """Configured download URL of a list (settings.LISTS_SOURCE_URLS overrides defaults)."""
    return _setting("LISTS_SOURCE_URLS", {}).get(code, DEFAULT_SOURCE_URLS.get(code, ""))


@transaction.atomic
def list_source_ensure(*, code: str) -> ListSource:
    """The source row of a list, created on first use with its official URL."""
    if code not in ListCode.values:
        raise ListImportError(f"unknown list source {code!r}; one of {', '.join(ListCode.values)}")
    source = ListSource.objects.filter(code=code).first()
    if source is None:
        source = ListSource.objects.create(
            code=code, name=ListCode(code).label, url=source_url(code)
        )
    return source


def file_fingerprint(path: str | os.PathLike[str]) -> tuple[str, int, str]:
    """(sha256, size, display name) of a file, or of a CSV-set folder (files in name order)."""
    p = Path(path)
    if not p.exists():
        raise ListImportError(f"{p}: no such file or folder")
    files = sorted(f for f in p.iterdir() if f.is_file()) if p.is_dir() else [p]
    digest, size = hashlib.sha256(), 0
    for f in files:
        if p.is_dir():
            digest.update(f.name.encode() + b"\0")
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
    return digest.hexdigest(), size, p.name


_ENTITY_COLUMNS = (
    "id",
    "version_id",
    "uid",
    "entity_type",
    "primary_name",
    "content",
    "content_hash",
)
_NAME_COLUMNS = ("entity_id", "version_id", "name", "kind", "script", "folded")


def _reserve_ids(model, n: int) -> list[int]:
    """Take `n` ids from the table's identity sequence (PostgreSQL), for COPY with ids."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [model._meta.db_table, n],
        )
        return [r[0] for r in cursor.fetchall()]


def _copy_rows(model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """PostgreSQL COPY: an order of magnitude faster than INSERT for reference data."""
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:  # noqa: S608
            for row in rows:
                copy.write_row(row)


def _next_ids(model, n: int) -> list[int]:
    """Ids for `n` new rows inserted with explicit ids.

    PostgreSQL: taken from the identity sequence. SQLite: after MAX(id), which is safe
    because Vigil's SQLite transactions are IMMEDIATE (the write lock is already ours).
    """
    if connection.vendor == "postgresql":
        return _reserve_ids(model, n)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
        start = cursor.fetchone()[0] + 1
    return list(range(start, start + n))


def _insert_rows(model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Bulk insert of immutable rows: COPY on PostgreSQL, executemany elsewhere."""
    if connection.vendor == "postgresql":
        _copy_rows(model, columns, rows)
        return
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)  # noqa: S608


def _write_batch(version: ListVersion, batch: list[tuple[ListedEntity, dict, str]]) -> int:
    """Insert one batch of (entity, content, hash) and their names; returns the name count."""
    ids = _next_ids(Entity, len(batch))
    _insert_rows(
        Entity,
        _ENTITY_COLUMNS,
        [
            (
                pk,
                version.pk,
                e.uid,
                e.entity_type,
                e.primary_name[:500],
                json.dumps(content, ensure_ascii=False),
                digest,
            )
            for pk, (e, content, digest) in zip(ids, batch, strict=True)
        ],
    )
    names = [
        (pk, version.pk, n.name[:500], n.kind, n.script, fold(n.name)[:500])
        for pk, (e, _content, _digest) in zip(ids, batch, strict=True)
        for n in e.names
    ]
    _insert_rows(EntityName, _NAME_COLUMNS, names)
    return len(names)


def _insert_entities(
    version: ListVersion, entities: Iterable[ListedEntity]
) -> tuple[int, int, Counter]:
    """Insert entity and name rows in batches; returns (entities, names, counts by type)."""
    count, names, by_type = 0, 0, Counter()
    batch: list[tuple[ListedEntity, dict, str]] = []
    for entity in entities:
        content = entity_content(entity)
        digest = content_digest(entity.list_code, entity.uid, content)
        del content["entity_type"]
        batch.append((entity, content, digest))
        by_type[entity.entity_type] += 1
        count += 1
        if len(batch) >= BATCH_SIZE:
            names += _write_batch(version, batch)
            batch.clear()
    if batch:
        names += _write_batch(version, batch)
    return count, names, by_type


def _content(entity_type: str, content: dict) -> dict:
    return {"entity_type": entity_type, **content}


def _record_delta(version: ListVersion, previous: ListVersion | None) -> dict[str, int]:
    """Store the version's delta against `previous` as EntityChange rows; returns counts."""
    new = {
        u: (h, pk)
        for u, h, pk in Entity.objects.filter(version=version).values_list(
            "uid", "content_hash", "pk"
        )
    }
    old = (
        {}
        if previous is None
        else {
            u: (h, pk)
            for u, h, pk in Entity.objects.filter(version=previous).values_list(
                "uid", "content_hash", "pk"
            )
        }
    )
    delta = compute_delta({u: v[0] for u, v in old.items()}, {u: v[0] for u, v in new.items()})
    diffs: dict[str, dict] = {}
    changed = list(delta.changed)
    for start in range(0, len(changed), 500):
        chunk = changed[start : start + 500]
        before = {
            u: _content(t, c)
            for u, t, c in Entity.objects.filter(version=previous, uid__in=chunk).values_list(
                "uid", "entity_type", "content"
            )
        }
        after = {
            u: _content(t, c)
            for u, t, c in Entity.objects.filter(version=version, uid__in=chunk).values_list(
                "uid", "entity_type", "content"
            )
        }
        for uid in chunk:
            diffs[uid] = field_diff(before[uid], after[uid])
    if previous is not None:
        rows = [
            EntityChange(version=version, uid=u, kind=ChangeKind.ADDED, new_entity_id=new[u][1])
            for u in delta.added
        ]
        rows += [
            EntityChange(version=version, uid=u, kind=ChangeKind.REMOVED, old_entity_id=old[u][1])
            for u in delta.removed
        ]
        rows += [
            EntityChange(
                version=version,
                uid=u,
                kind=ChangeKind.CHANGED,
                old_entity_id=old[u][1],
                new_entity_id=new[u][1],
                diff=diffs[u],
            )
            for u in changed
        ]
        EntityChange.objects.bulk_create(rows, batch_size=BATCH_SIZE)
    return delta.counts


def _sanity_problem(version: ListVersion, previous: ListVersion | None, counts: dict) -> str:
    """Why a complete, well-formed version is still too suspicious to activate ('' if fine).

    A real list moves by a few percent between publications; a sharp drop usually means a
    partial or wrong file, a jump a wrong list, an older publication date a replayed file.
    Bounds: settings.LISTS_SANITY_MAX_DROP and LISTS_SANITY_MAX_GROWTH (fractions of the
    active version's count).
    """
    if previous is None or previous.entity_count == 0:
        return ""
    max_drop = float(_setting("LISTS_SANITY_MAX_DROP", 0.10))
    max_growth = float(_setting("LISTS_SANITY_MAX_GROWTH", 0.50))
    if (
        version.publication_date
        and previous.publication_date
        and version.publication_date < previous.publication_date
    ):
        return (
            f"publication date {version.publication_date} is older than the active "
            f"version's {previous.publication_date}"
        )
    before, after = previous.entity_count, version.entity_count
    if after < before * (1 - max_drop):
        return (
            f"record count fell from {before:,} to {after:,} "
            f"(more than {max_drop:.0%} below the active version)"
        )
    if after > before * (1 + max_growth):
        return (
            f"record count rose from {before:,} to {after:,} "
            f"(more than {max_growth:.0%} above the active version)"
        )
    if counts["removed"] > before * max_drop:
        return (
            f"{counts['removed']:,} of {before:,} entries removed "
            f"(more than {max_drop:.0%} of the active version)"
        )
    return ""


def _alert(*, source: ListSource, title: str, message: str, object_id: str, summary: dict) -> None:
    """Raise a visible alert: a LISTS case (deduplicated per source while open)."""
    from cases.choices import CaseSource
    from cases.services import case_open

    case_open(
        source=CaseSource.LISTS,
        title=title,
        subject_type="list_source",
        subject_id=source.code,
        dedupe_key=f"lists:{source.code}:import",
        priority=70,
        summary=message,
        evidence={"kind": "list_import", "object_id": object_id, "summary": summary},
    )


def list_import(
    *,
    source: str,
    path: str | os.PathLike[str],
    actor: Actor | None = None,
    fetched_at: dt.datetime | None = None,
    max_bytes: int | None = None,
    publication_date: dt.date | None = None,
) -> ImportOutcome:
    """Import a list file (or OFAC CSV folder) as a new version of `source`.

    `publication_date` stands in for a date the file does not carry (OFAC's legacy CSV
    has none), as `import_list --published` gives it; a date inside the file always wins.
    A download's Last-Modified is not used: a mirror's clock could hold a new version as
    "older than the active one".

    Idempotent by SHA-256: a file imported before returns its version unchanged. The
    version is activated in the same transaction only when it passes validation; a parse
    error rolls everything back and raises `ListImportError` after recording the error.
    """
    with audit_context(actor=actor) if actor else nullcontext():
        src = list_source_ensure(code=source)
        try:
            sha256, size, name = file_fingerprint(path)
        except ListImportError as exc:
            _import_refused(src, str(exc), sha256="")
            raise
        existing = ListVersion.objects.filter(source=src, sha256=sha256).first()
        if existing is not None:
            return ImportOutcome(version=existing, created=False, activated=False)
        try:
            return _import_new(
                src,
                path,
                sha256=sha256,
                size=size,
                name=name,
                fetched_at=fetched_at or timezone.now(),
                max_bytes=max_bytes or int(_setting("LISTS_MAX_FILE_BYTES", DEFAULT_MAX_BYTES)),
                publication_date=publication_date,
            )
        except (ListParseError, ListImportError) as exc:
            _import_refused(src, str(exc), sha256=sha256)
            raise ListImportError(str(exc)) from exc
        except IntegrityError as exc:
            if ListVersion.objects.filter(source=src, sha256=sha256).exists():
                # A concurrent import of the same file won: same outcome as a no-op.
                return ImportOutcome(
                    version=ListVersion.objects.get(source=src, sha256=sha256),
                    created=False,
                    activated=False,
                )
            message = f"{name}: duplicate entry id in file ({exc})"
            _import_refused(src, message, sha256=sha256)
            raise ListImportError(message) from exc


@transaction.atomic
def _import_new(
    src: ListSource,
    path,
    *,
    sha256: str,
    size: int,
    name: str,
    fetched_at: dt.datetime,
    max_bytes: int,
    publication_date: dt.date | None = None,
) -> ImportOutcome:
    src = ListSource.objects.select_for_update().get(pk=src.pk)
    parsed = parse_list(src.code, path, max_bytes=max_bytes)
    version = ListVersion.objects.create(
        source=src,
        sha256=sha256,
        size=size,
        file_name=name,
        format=parsed.format,
        fetched_at=fetched_at,
        importer_version=IMPORTER_VERSION,
    )
    count, names, by_type = _insert_entities(version, parsed.entities)
    if count == 0:
        raise ListImportError(f"{name}: file has no records")
    if parsed.declared_count is not None and parsed.declared_count != count:
        raise ListImportError(
            f"{name}: header declares {parsed.declared_count:,} records but {count:,} were read "
            "(truncated or inconsistent file)"
        )
    previous = ListVersion.objects.filter(source=src, is_active=True).first()
    version.entity_count, version.name_count = count, names
    version.counts_by_type = dict(sorted(by_type.items()))
    version.declared_count = parsed.declared_count
    version.publication_date = parsed.publication_date or publication_date
    version.previous = previous
    counts = _record_delta(version, previous)
    version.added_count, version.removed_count, version.changed_count = (
        counts["added"],
        counts["removed"],
        counts["changed"],
    )
    problem = _sanity_problem(version, previous, counts)
    version.imported_at = timezone.now()
    if problem:
        version.status, version.status_reason = VersionStatus.HELD, problem
    else:
        version.status, version.is_active = VersionStatus.ACTIVE, True
        if previous is not None:
            previous.is_active, previous.status = False, VersionStatus.SUPERSEDED
            previous.save(update_fields=["is_active", "status"])
    version.save(
        update_fields=[
            "entity_count",
            "name_count",
            "counts_by_type",
            "declared_count",
            "publication_date",
            "previous",
            "added_count",
            "removed_count",
            "changed_count",
            "imported_at",
            "status",
            "status_reason",
            "is_active",
        ]
    )
    summary = {
        "source": src.code,
        "file": name,
        "sha256": sha256,
        "size": size,
        "format": parsed.format,
        "publication_date": str(version.publication_date or ""),
        "publication_date_from": (
            "file" if parsed.publication_date else "given" if publication_date else ""
        ),
        "entities": count,
        "names": names,
        "declared_count": parsed.declared_count,
        "by_type": version.counts_by_type,
        "delta": counts,
        "previous_version_id": previous.pk if previous else None,
        "status": version.status,
        "reason": problem,
        "importer_version": IMPORTER_VERSION,
    }
    audit_record(
        action="lists.version_imported",
        object_type="lists.listversion",
        object_id=str(version.pk),
        data=summary,
    )
    if problem:
        src.last_error, src.last_error_at = f"Version #{version.pk} held: {problem}", timezone.now()
        src.save(update_fields=["last_error", "last_error_at"])
        _alert(
            source=src,
            title=f"{src.name}: new version held for review",
            message=f"{name}: {problem}. The previous version stays active.",
            object_id=str(version.pk),
            summary=summary,
        )
    else:
        if src.last_error:
            src.last_error = ""
            src.save(update_fields=["last_error"])
        transaction.on_commit(
            lambda: list_version_activated.send(
                sender=ListVersion,
                version_id=version.pk,
                source=src.code,
                previous_version_id=previous.pk if previous else None,
            )
        )
    return ImportOutcome(version=version, created=True, activated=not problem)


@transaction.atomic
def _import_refused(src: ListSource, message: str, *, sha256: str) -> None:
    """Record a refused import on the source, the audit trail and a LISTS case."""
    src = ListSource.objects.select_for_update().get(pk=src.pk)
    src.last_error, src.last_error_at = message[:2000], timezone.now()
    src.save(update_fields=["last_error", "last_error_at"])
    summary = {"source": src.code, "sha256": sha256, "error": message[:2000]}
    audit_record(
        action="lists.import_refused",
        object_type="lists.listsource",
        object_id=str(src.pk),
        data=summary,
    )
    _alert(
        source=src,
        title=f"{src.name}: import refused",
        message=message,
        object_id=sha256[:16] or "no-file",
        summary=summary,
    )


@transaction.atomic
def list_version_activate(
    *, version_id: int, actor: Actor | None = None, reason: str = ""
) -> ListVersion:
    """Activate a held (or older) version by an administrator's decision, atomically."""
    with audit_context(actor=actor, reason=reason) if actor else nullcontext():
        version = (
            ListVersion.objects.select_for_update().select_related("source").get(pk=version_id)
        )
        if version.is_active:
            return version
        if version.status == VersionStatus.IMPORTING:
            raise ListImportError(f"version #{version.pk} is not completely imported")
        previous = (
            ListVersion.objects.select_for_update()
            .filter(source=version.source, is_active=True)
            .first()
        )
        if previous is not None:
            previous.is_active, previous.status = False, VersionStatus.SUPERSEDED
            previous.save(update_fields=["is_active", "status"])
        version.is_active, version.status = True, VersionStatus.ACTIVE
        version.status_reason = reason or version.status_reason
        version.save(update_fields=["is_active", "status", "status_reason"])
        transaction.on_commit(
            lambda: list_version_activated.send(
                sender=ListVersion,
                version_id=version.pk,
                source=version.source.code,
                previous_version_id=previous.pk if previous else None,
            )
        )
        return version


#: (list, file, publication date where the file carries none: the SDN capture's date).
DEMO_FILES = (
    (ListCode.OFAC_SDN, "ofac-sdn-2024-05-03/sdn.csv.gz", dt.date(2024, 5, 3)),
    (ListCode.UN, "un/UN_consolidated_2025-11-18.xml.gz", None),
    (ListCode.UN, "un/UN_consolidated_2026-02-27.xml.gz", None),
)


def demo_lists_load(*, actor: Actor) -> dict:
    """Load the shipped real lists (newest SDN capture, two UN publications) idempotently.

    Returns a JSON-ready summary per file: version id, entity count, whether it was new.
    """
    summary: dict[str, dict] = {}
    for code, rel, published in DEMO_FILES:
        outcome = list_import(
            source=code, path=FIXTURES / rel, actor=actor, publication_date=published
        )
        v = outcome.version
        summary[rel] = {
            "list": code,
            "version_id": v.pk,
            "entities": v.entity_count,
            "created": outcome.created,
            "status": v.status,
        }
    return summary


# --- Refresh from the publishers ---------------------------------------------------------


@dataclass(frozen=True)
class RefreshOutcome:
    source: str
    not_modified: bool
    imported: ImportOutcome | None = None
    attempts: int = 1


def _download_dir() -> Path:
    path = Path(_setting("LISTS_DOWNLOAD_DIR", Path(settings.BASE_DIR) / "var" / "lists"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def download_policy() -> DownloadPolicy:
    """Timeouts, retries and size limit of downloads (settings.LISTS_DOWNLOAD_* override)."""
    return DownloadPolicy(
        connect_timeout=float(_setting("LISTS_DOWNLOAD_CONNECT_TIMEOUT", 10)),
        read_timeout=float(_setting("LISTS_DOWNLOAD_READ_TIMEOUT", 60)),
        attempts=int(_setting("LISTS_DOWNLOAD_ATTEMPTS", 4)),
        backoff=float(_setting("LISTS_DOWNLOAD_BACKOFF", 2.0)),
        max_bytes=int(_setting("LISTS_MAX_FILE_BYTES", DEFAULT_MAX_BYTES)),
    )


def list_refresh(
    *,
    source: str,
    actor: Actor | None = None,
    policy: DownloadPolicy | None = None,
    sleep=None,
) -> RefreshOutcome:
    """Download a list from its configured URL and import it when it changed.

    Conditional GET (ETag/Last-Modified) makes an unchanged list cost one 304; the
    validators are stored only once the file was imported, so a refused file is fetched
    again next time. Failures are recorded on the source (the portal shows them).
    """
    with audit_context(actor=actor or Actor.system("lists.refresh")):
        src = list_source_ensure(code=source)
        url = src.url or source_url(source)
        if not url:
            _source_error(src, f"{source}: no download URL configured (LISTS_SOURCE_URLS)")
            raise ListImportError(f"{source}: no download URL configured (LISTS_SOURCE_URLS)")
        started = timezone.now()
        suffix = Path(url.split("?")[0]).suffix.lower()[:5] or ".dat"
        dest = _download_dir() / f"{source}-{started:%Y%m%dT%H%M%S}{suffix}"
        kwargs = {"sleep": sleep} if sleep else {}
        try:
            result = download(
                url,
                dest,
                etag=src.etag,
                last_modified=src.last_modified,
                policy=policy or download_policy(),
                **kwargs,
            )
        except DownloadError as exc:
            _source_error(src, str(exc))
            raise ListImportError(str(exc)) from exc
        if result.not_modified:
            _source_checked(src, started)
            return RefreshOutcome(source=source, not_modified=True, attempts=result.attempts)
        try:
            imported = list_import(source=source, path=result.path, fetched_at=started)
        finally:
            dest.unlink(missing_ok=True)  # the version keeps sha256/size; no file hoarding
        _source_checked(src, started, etag=result.etag, last_modified=result.last_modified)
        return RefreshOutcome(
            source=source, not_modified=False, imported=imported, attempts=result.attempts
        )


@transaction.atomic
def _source_checked(
    src: ListSource, when: dt.datetime, *, etag: str | None = None, last_modified: str | None = None
) -> None:
    src = ListSource.objects.select_for_update().get(pk=src.pk)
    src.last_checked_at = src.last_success_at = when
    fields = ["last_checked_at", "last_success_at"]
    if etag is not None:
        src.etag, src.last_modified = etag[:200], (last_modified or "")[:100]
        fields += ["etag", "last_modified"]
    src.save(update_fields=fields)


@transaction.atomic
def _source_error(src: ListSource, message: str) -> None:
    src = ListSource.objects.select_for_update().get(pk=src.pk)
    src.last_checked_at = src.last_error_at = timezone.now()
    src.last_error = message[:2000]
    src.save(update_fields=["last_checked_at", "last_error_at", "last_error"])
    audit_record(
        action="lists.refresh_failed",
        object_type="lists.listsource",
        object_id=str(src.pk),
        data={"source": src.code, "error": message[:2000]},
    )


def list_source_update(
    *, code: str, url: str | None = None, is_enabled: bool | None = None, actor: Actor | None = None
) -> ListSource:
    """Change where a list is downloaded from, or stop following it (administrators)."""
    with audit_context(actor=actor) if actor else nullcontext(), transaction.atomic():
        src = ListSource.objects.select_for_update().get(pk=list_source_ensure(code=code).pk)
        fields = []
        if url is not None and url != src.url:
            src.url, src.etag, src.last_modified = url, "", ""
            fields += ["url", "etag", "last_modified"]
        if is_enabled is not None and is_enabled != src.is_enabled:
            src.is_enabled = is_enabled
            fields.append("is_enabled")
        if fields:
            src.save(update_fields=fields)
        return src
