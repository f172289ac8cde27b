"""The append-only ledger and the base class that puts every domain model on it."""

from __future__ import annotations

from django.db import connections, models, router, transaction
from django.db.models import signals
from django.utils import timezone
from simple_history.manager import HistoryManager
from simple_history.models import HistoricalRecords

from config.rows import copy_objects, insert_objects, update_row


class LedgerEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("The audit ledger is append-only: entries cannot be updated")

    def delete(self):
        raise PermissionError("The audit ledger is append-only: entries cannot be deleted")


class LedgerEntry(models.Model):
    """One link of the hash chain. `header` holds the exact bytes hashed; `body` the data,
    committed by its SHA-256 inside the header (so a body can be redacted later while the
    chain still verifies). Unique `prev_hash` makes a fork fail loudly."""

    seq = models.BigIntegerField(primary_key=True)
    ts = models.DateTimeField(db_index=True)
    actor_type = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64)
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    correlation_id = models.CharField(max_length=64)
    header = models.BinaryField()
    body = models.BinaryField(null=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    # Background sealing: the pending row this entry was sealed from (not hashed; it lets
    # the database allow deleting exactly the pending rows that are already on the chain).
    pending_id = models.BigIntegerField(null=True, blank=True, unique=True)

    objects = LedgerEntryQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        # Indexes and unique constraints declared here rather than with db_index/unique on
        # the fields: on PostgreSQL those also build a varchar_pattern_ops twin of each
        # index for LIKE 'prefix%' queries, which nothing runs on these columns. Five such
        # twins (two over random 64-character hashes) made every append maintain 14
        # indexes instead of 9, about a third more database time per chained entry.
        indexes = [
            models.Index(fields=["object_type", "object_id", "seq"]),
            models.Index(fields=["actor_id"], name="audit_ledger_actor_id_idx"),
            models.Index(fields=["action"], name="audit_ledger_action_idx"),
            models.Index(fields=["correlation_id"], name="audit_ledger_correlation_idx"),
        ]
        constraints = [
            # One successor per entry: a fork fails loudly at insert time.
            models.UniqueConstraint(fields=["prev_hash"], name="audit_ledger_prev_hash_uniq"),
            models.UniqueConstraint(fields=["hash"], name="audit_ledger_hash_uniq"),
        ]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("The audit ledger is append-only: entries cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit ledger is append-only: entries cannot be deleted")


class PendingEntry(models.Model):
    """An entry written in the transaction of its change but not yet on the chain
    (``AUDIT_SEAL_MODE=background``). Everything hashed later is fixed here: time, actor,
    action, object, correlation id and the body with its SHA-256. The sealer turns committed
    pending rows into consecutive ledger entries and deletes them in one transaction; the
    database refuses to update a pending row, or to delete one that is not on the chain."""

    id = models.BigAutoField(primary_key=True)
    ts = models.DateTimeField()
    actor_type = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64)
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    correlation_id = models.CharField(max_length=64)
    body = models.BinaryField()
    body_sha256 = models.CharField(max_length=64)

    objects = LedgerEntryQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "pending ledger entries"

    def __str__(self) -> str:
        return f"pending {self.id} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("A pending ledger entry cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Only the sealer removes pending ledger entries")


class AuditedQuerySet(models.QuerySet):
    """Bulk paths record history (and so ledger entries) for every row they touch."""

    def update(self, **kwargs):
        with transaction.atomic(using=self.db):
            pks = list(self.values_list("pk", flat=True))
            count = super().update(**kwargs)
            if pks:
                objs = list(self.model._base_manager.using(self.db).filter(pk__in=pks))
                _record_bulk_history(self.model, objs, update=True)
        return count

    update.queryset_only = True

    def delete(self):
        with transaction.atomic(using=self.db):
            total, per_model = 0, {}
            # Row locks keep a concurrent writer from changing a row between its history
            # snapshot and its deletion (ignored by backends without SELECT ... FOR UPDATE).
            for obj in self.select_for_update():
                count, detail = obj.delete()
                total += count
                for label, n in detail.items():
                    per_model[label] = per_model.get(label, 0) + n
        return total, per_model

    delete.queryset_only = True

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        with transaction.atomic(using=self.db):
            if _copyable(self.model, self.db, objs, args, kwargs):
                for obj in objs:
                    obj._prepare_related_fields_for_save(operation_name="bulk_create")
                copy_objects(objs, using=self.db)  # what bulk_create stores, in one COPY
                created = objs
            else:
                created = super().bulk_create(objs, *args, **kwargs)
            if any(obj.pk is None for obj in created):
                raise RuntimeError(
                    "bulk_create on an audited model must return primary keys "
                    "(ignore_conflicts is not supported)"
                )
            _record_bulk_history(self.model, created, update=False)
        return created

    def bulk_update(self, objs, fields, *args, **kwargs):
        with transaction.atomic(using=self.db):
            # Django's bulk_update calls filter().update() internally; run it on a plain
            # QuerySet so the rows are versioned once (below), not twice.
            plain = models.QuerySet(model=self.model, using=self.db)
            count = plain.bulk_update(objs, fields, *args, **kwargs)
            _record_bulk_history(self.model, list(objs), update=True)
        return count


def _copyable(model, alias: str | None, objs: list, args: tuple, kwargs: dict) -> bool:
    """Whether a bulk_create can go through COPY (``config.rows.copy_objects``): new rows
    of a model with its own table and an auto key, on PostgreSQL, no conflict options."""
    return (bool(objs) and not args and set(kwargs) <= {"batch_size"}
            and connections[alias or "default"].vendor == "postgresql"
            and model._meta.auto_field is not None and not model._meta.parents
            and all(obj.pk is None for obj in objs))


def _record_bulk_history(model, objs, *, update: bool) -> None:
    """One history row per object (as simple-history's ``bulk_history_create`` builds
    them), inserted in one COPY, then their ledger entries."""
    from simple_history.utils import get_change_reason_from_object

    from audit.history import history_defaults, ledger_for_history_rows

    if not objs:
        return
    user, reason = history_defaults()
    historical = model.history.model
    now = timezone.now()
    attnames = [field.attname for field in historical.tracked_fields]
    rows = []
    for obj in objs:
        row = historical(
            history_date=getattr(obj, "_history_date", now),
            history_user=getattr(obj, "_history_user", user),
            history_change_reason=get_change_reason_from_object(obj) or reason,
            history_type="~" if update else "+",
            **{name: getattr(obj, name) for name in attnames})
        rows.append(row)
    copy_objects(rows)
    ledger_for_history_rows(model, rows)


class AuditedManager(models.Manager.from_queryset(AuditedQuerySet)):
    pass


def _history_user(**kwargs):
    """history_user of every history row: the user named by the audit context."""
    from audit.history import context_user

    return context_user()


class CachedHistoryManager(HistoryManager):
    """simple-history's descriptor builds ``from_queryset(...)`` afresh on every
    ``instance.history`` access, i.e. on every save: Django then copies the queryset's
    methods with ``inspect.getmembers``, about a quarter of an audited save's CPU. The class
    it builds is the same each time, so build it once per queryset class."""

    _classes: dict = {}

    @classmethod
    def from_queryset(cls, queryset_class, class_name=None):
        key = (cls, queryset_class, class_name)
        built = cls._classes.get(key)
        if built is None:
            built = cls._classes[key] = super().from_queryset(queryset_class, class_name)
        return built


class HistoryRow(models.Model):
    """Base of every historical model of an audited one. A history row is only ever
    inserted (database triggers refuse the rest), once per audited save: it is written
    with one cached INSERT ... RETURNING (``config.rows.insert_objects``) instead of the
    ORM's save, which compiles the same statement again on every save. Same column values
    (each field's own ``get_db_prep_save``); the ORM path is kept where a model has save
    signal listeners."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        using = kwargs.get("using")
        if (not self._state.adding or args or set(kwargs) - {"using"}
                or signals.pre_save.has_listeners(type(self))
                or signals.post_save.has_listeners(type(self))):
            return super().save(*args, **kwargs)
        insert_objects([self], using=using or router.db_for_write(type(self), instance=self))
        return None


class AuditedModel(models.Model):
    """Base of every domain model: each change is versioned by django-simple-history and
    sealed into the ledger in the same transaction as the change itself."""

    history = HistoricalRecords(inherit=True, get_user=_history_user,
                                history_manager=CachedHistoryManager, bases=[HistoryRow])

    objects = AuditedManager()

    class Meta:
        abstract = True

    # No savepoint: the row, its history and its ledger entry stand or fall together with
    # the caller's transaction (two round trips fewer per save). A caller that wants to
    # recover from a failed save wraps it in its own atomic block, as it would anyway.
    def save(self, *args, **kwargs):
        with transaction.atomic(using=kwargs.get("using") or self._state.db or "default",
                                savepoint=False):
            super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        with transaction.atomic(using=kwargs.get("using") or self._state.db or "default",
                                savepoint=False):
            return super().delete(*args, **kwargs)

    def _save_table(self, raw=False, cls=None, force_insert=False, force_update=False,
                    using=None, update_fields=None):
        updated = super()._save_table(raw, cls, force_insert, force_update, using,
                                      update_fields)
        # A field saved as an expression (F("n") + 1, Now(), ...) holds the expression, not
        # its value, after the save; the history row and its ledger entry (post_save) need
        # the value the database stored, so read those fields back first.
        pending = [f.attname for f in self._meta.concrete_fields
                   if hasattr(self.__dict__.get(f.attname), "resolve_expression")]
        if pending:
            self.refresh_from_db(using=using, fields=pending)
        return updated

    def _do_update(self, base_qs, using, pk_val, values, update_fields, forced_update):
        # The UPDATE of a save is a cached statement per model and set of fields (the ORM
        # compiles it on every save: a third of an audited save's CPU, without history).
        if values and not self._meta.select_on_save:
            updated = update_row(base_qs.model, using, pk_val, values)
            if updated is not None:
                return updated
        return super()._do_update(base_qs, using, pk_val, values, update_fields,
                                  forced_update)


class DigestKind(models.TextChoices):
    HOURLY = "hourly", "Hourly"
    DAILY = "daily", "Daily"


class Digest(models.Model):
    """A signed statement sealing a range of the ledger (sequence range, head hash, count,
    RFC 6962 Merkle root). Signed with a key kept outside the database and also written to
    the append-only digest directory, so the database alone cannot rewrite history.
    Each kind forms its own contiguous series; rows are insert-only (database triggers)."""

    kind = models.CharField(max_length=16, choices=DigestKind.choices)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField(db_index=True)
    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    count = models.BigIntegerField()
    first_prev_hash = models.CharField(max_length=64)
    head_hash = models.CharField(max_length=64)
    merkle_root = models.CharField(max_length=64)
    prev_digest_sha256 = models.CharField(max_length=64)
    document = models.BinaryField(help_text="exact canonical bytes that were signed")
    signature = models.CharField(max_length=128)
    key_id = models.CharField(max_length=16)
    file_name = models.CharField(max_length=200)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-last_seq", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "first_seq"], name="audit_digest_kind_first"),
            models.UniqueConstraint(
                fields=["kind", "prev_digest_sha256"], name="audit_digest_kind_prev"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} digest {self.first_seq}..{self.last_seq}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("Digests are insert-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Digests are insert-only")


class VerificationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Damage found"
    ERROR = "error", "Could not complete"


class VerificationMode(models.TextChoices):
    FULL = "full", "Full"
    INCREMENTAL = "incremental", "Incremental (from the last digest)"


class VerificationRun(models.Model):
    """One run of the ledger verifier (chain, digests, reconciliation). Operational
    record, not business data: auditors may start one; its result is sealed in the ledger."""

    mode = models.CharField(max_length=16, choices=VerificationMode.choices,
                            default=VerificationMode.FULL)
    status = models.CharField(max_length=16, choices=VerificationStatus.choices,
                              default=VerificationStatus.QUEUED, db_index=True)
    requested_by = models.CharField(max_length=150, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    total = models.BigIntegerField(default=0)
    checked = models.BigIntegerField(default=0)
    start_seq = models.BigIntegerField(default=1)
    head_seq = models.BigIntegerField(null=True, blank=True)
    head_hash = models.CharField(max_length=64, blank=True)
    first_bad_seq = models.BigIntegerField(null=True, blank=True)
    damage_kind = models.CharField(max_length=32, blank=True)
    problems = models.JSONField(default=list, blank=True)
    reconciliation = models.JSONField(default=dict, blank=True)
    digests_checked = models.IntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"verification #{self.pk} {self.status}"

    @property
    def progress_percent(self) -> int:
        if self.status in {VerificationStatus.PASSED, VerificationStatus.FAILED}:
            return 100
        return int(100 * self.checked / self.total) if self.total else 0

    @property
    def is_finished(self) -> bool:
        return self.status in {VerificationStatus.PASSED, VerificationStatus.FAILED,
                               VerificationStatus.ERROR}
