"""Evidence bundles: every ledger entry about one object (and the objects that belong to
it), with inclusion proofs into signed digests, for offline verification."""

from __future__ import annotations

import hashlib
import json

from django.apps import apps
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.chain import format_ts
from audit.digests import digest_envelope_bytes, ensure_sealed, inclusion_proof
from audit.formats import build_bundle
from audit.keys import signing_key
from audit.models import Digest, LedgerEntry
from audit.object_types import canonical_object_type, object_type_names

MAX_ENTRIES = 20_000

#: Option name -> candidate model names (searched in every installed app), so the same
#: command works for other apps' objects without importing them.
SUBJECT_KINDS: dict[str, tuple[str, ...]] = {
    "case": ("case",),
    "alert": ("alert", "monitoringalert"),
    "query": ("screeningquery", "query", "screeningrequest"),
    "application": ("application", "loanapplication", "enrichmentapplication"),
}


class EvidenceError(ValueError):
    """The requested subject cannot be exported (unknown type, no entries, too many)."""


def resolve_object_type(kind_or_label: str) -> str:
    """Map ``case``/``alert``/... or an ``app_label.model`` label to a model label."""
    if "." in kind_or_label:
        try:
            return apps.get_model(kind_or_label)._meta.label_lower
        except (LookupError, ValueError):
            # Events recorded with audit_record may name non-model types: allow them.
            return canonical_object_type(kind_or_label)
    names = SUBJECT_KINDS.get(kind_or_label)
    if names is None:
        raise EvidenceError(f"unknown subject kind {kind_or_label!r}")
    for name in names:
        for model in apps.get_models():
            if model._meta.model_name == name:
                return model._meta.label_lower
    raise EvidenceError(f"no installed model provides {kind_or_label!r} objects")


def _related_objects(object_type: str, object_id: str) -> list[tuple[str, list[str]]]:
    """Objects that belong to the subject: rows of audited models with a foreign key to it
    (a case's evidence, comments, decisions, ...)."""
    try:
        model = apps.get_model(object_type)
    except (LookupError, ValueError):
        return []
    related = []
    for rel in model._meta.related_objects:
        child = rel.related_model
        if not hasattr(child, "history") or rel.many_to_many:
            continue
        ids = list(child._base_manager.filter(**{rel.field.attname: object_id})
                   .values_list("pk", flat=True)[:MAX_ENTRIES])
        # Deleted children live on only in history.
        ids += list(child.history.filter(**{rel.field.attname: object_id})
                    .values_list(child._meta.pk.attname, flat=True).distinct()[:MAX_ENTRIES])
        if ids:
            related.append((child._meta.label_lower, sorted({str(i) for i in ids})))
    return related


def evidence_entries(object_type: str, object_id: str) -> list[LedgerEntry]:
    condition = Q(object_type__in=object_type_names(object_type), object_id=str(object_id))
    for child_type, ids in _related_objects(object_type, str(object_id)):
        condition |= Q(object_type__in=object_type_names(child_type), object_id__in=ids)
    entries = list(LedgerEntry.objects.filter(condition).order_by("seq")[: MAX_ENTRIES + 1])
    if len(entries) > MAX_ENTRIES:
        raise EvidenceError(f"more than {MAX_ENTRIES} entries; narrow the export")
    return entries


def evidence_bundle_export(*, object_type: str, object_id: str) -> tuple[bytes, str]:
    """Build the zip for one subject (sealing the chain first if needed) and record the
    export itself on the ledger. Returns (zip bytes, suggested file name)."""
    from audit.services import audit_record, ledger_seal_pending

    ledger_seal_pending()  # background sealing: include entries committed a moment ago
    entries = evidence_entries(object_type, object_id)
    if not entries:
        raise EvidenceError(f"no ledger entries about {object_type} {object_id}")
    ensure_sealed(entries[-1].seq)
    digests: dict[str, bytes] = {}
    bundle_entries = []
    covering: Digest | None = None
    for entry in entries:
        if covering is None or not covering.first_seq <= entry.seq <= covering.last_seq:
            covering = ensure_sealed(entry.seq)
            digests[f"digests/{covering.file_name}"] = digest_envelope_bytes(covering)
        body = entry.body
        bundle_entries.append({
            "seq": entry.seq, "hash": entry.hash, "prev_hash": entry.prev_hash,
            "header": bytes(entry.header).decode("utf-8"),
            "body": bytes(body).decode("utf-8") if body is not None else None,
            "proof": inclusion_proof(entry, covering),
        })
    key = signing_key()
    data = build_bundle(
        subject={"object_type": object_type, "object_id": str(object_id)},
        created_at=format_ts(timezone.now()),
        entries=bundle_entries,
        digests={name: json.loads(raw) for name, raw in digests.items()},
        public_key=key.public_key_bytes,
        sign=key.sign,
    )
    with transaction.atomic():
        audit_record(
            action="evidence.export", object_type=object_type, object_id=str(object_id),
            data={"entries": len(entries), "first_seq": entries[0].seq,
                  "last_seq": entries[-1].seq, "bundle_sha256": hashlib.sha256(data).hexdigest(),
                  "key_fingerprint": key.fingerprint},
        )
    safe_type = object_type.replace(".", "-")
    return data, f"evidence-{safe_type}-{object_id}.zip"
