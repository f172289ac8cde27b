"""Fixed SQL for the hottest reads and writes (an enrichment run, a screening query).

Compiling a queryset costs about 0.5-1 ms of CPU every time (the SELECT list, joins,
converters), more than the database takes to answer it. These helpers build each
statement once per model shape and reuse it; values still go through each field's own
preparation and converters, so rows read and written here are the ORM's rows exactly.
Works on PostgreSQL and SQLite.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import psycopg._queries
from django.db import DatabaseError, connection, connections, transaction
from django.db.models import (
    BooleanField,
    CharField,
    Field,
    ForeignKey,
    IntegerField,
    JSONField,
    Model,
    TextField,
)
from django.db.models.fields import AutoFieldMixin
from psycopg.types.json import Jsonb

#: psycopg keeps its parsing of a statement's placeholders in a cache only for
#: statements of at most 50 parameters (``MAX_CACHED_STATEMENT_PARAMS``, an internal
#: constant). The multi-row INSERTs of a run's ledger entries and calls have more, and
#: parsing them again on every run took about 9 % of the run's CPU (callgrind). Their
#: texts are few (one per model and row count), so the cache takes statements of up to
#: this many parameters. tests/foundation/test_rows.py fails if psycopg drops the constant.
PSYCOPG_CACHED_PARAMS = 2000
if getattr(psycopg._queries, "MAX_CACHED_STATEMENT_PARAMS", 0) < PSYCOPG_CACHED_PARAMS:
    psycopg._queries.MAX_CACHED_STATEMENT_PARAMS = PSYCOPG_CACHED_PARAMS


@lru_cache(maxsize=64)
def _select_plan(models: tuple[type[Model], ...], vendor: str) -> tuple[str, tuple]:
    """The SELECT list for ``models`` (aliases t0, t1, ... in order) and, per model, its
    attnames, primary key position and value converters."""
    quote = connection.ops.quote_name
    columns, layouts = [], []
    for number, model in enumerate(models):
        alias = f"t{number}"
        fields = model._meta.concrete_fields
        columns += [f"{alias}.{quote(f.column)}" for f in fields]
        converters = []
        for position, field in enumerate(fields):
            col = field.get_col(model._meta.db_table)
            for convert in (connection.ops.get_db_converters(col)
                            + field.get_db_converters(connection)):
                converters.append((position, convert, col))
        layouts.append((model, tuple(f.attname for f in fields),
                        fields.index(model._meta.pk), tuple(converters)))
    return ", ".join(columns), tuple(layouts)


def fetch_joined(models: tuple[type[Model], ...], tail: str, params: list[Any], *,
                 extra: tuple[str, ...] = (), lock: str = "") -> tuple | None:
    """The first row of ``SELECT <each model's columns>[, extra] <tail> [lock]`` as one
    instance per model (None for a model whose primary key is NULL, as a LEFT JOIN
    without a match leaves it), then the values of the ``extra`` expressions; None
    without a row.

    Tables are aliased t0, t1, ... in the order of ``models``; ``tail`` starts with FROM.
    ``params`` fill the placeholders in statement order: those of ``extra``, then ``tail``'s.
    ``lock`` (e.g. ``FOR UPDATE OF t0 SKIP LOCKED``) is added only where the database
    supports row locks (not SQLite, which has one writer)."""
    select, layouts = _select_plan(models, connection.vendor)
    sql = f"SELECT {select}{''.join(', ' + e for e in extra)} {tail}"
    if lock and connection.features.has_select_for_update:
        sql = f"{sql} {lock}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    out: list[Any] = []
    start = 0
    for model, names, pk_at, converters in layouts:
        values = list(row[start:start + len(names)])
        start += len(names)
        if values[pk_at] is None:
            out.append(None)
            continue
        for position, convert, col in converters:
            values[position] = convert(values[position], col, connection)
        out.append(model.from_db(connection.alias, names, values))
    return (*out, *row[start:])


def insert_rows(model: type[Model], columns: tuple[str, ...], rows: list[tuple], *,
                conflict: tuple[str, ...] = (), update: tuple[str, ...] = ()) -> None:
    """Insert plain rows of ``model`` (``columns`` by attname, values as the model takes
    them) in one statement; with ``conflict``, rows clashing on those unique columns
    update the ``update`` columns instead (an upsert).

    PostgreSQL: one multi-row INSERT, JSON columns wrapped here. This skips the ORM's
    per-field preparation and its UNNEST array encoding, most of an insert's CPU.
    Elsewhere: ``bulk_create``."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        upsert = ({"update_conflicts": True, "unique_fields": list(conflict),
                   "update_fields": list(update)} if conflict else {})
        model.objects.bulk_create([model(**dict(zip(columns, r, strict=True))) for r in rows],
                                  **upsert)
        return
    head, row_sql, tail = _insert_sql(model, columns, conflict, update)
    json_at = _json_columns(model, columns)
    with connection.cursor() as cursor:
        cursor.execute(head + ", ".join([row_sql] * len(rows)) + tail, [
            (None if v is None else Jsonb(v)) if json else v
            for r in rows for v, json in zip(r, json_at, strict=True)])


def insert_objects(objs: list[Model], *, using: str | None = None) -> None:
    """Insert new instances of one model with one cached ``INSERT ... RETURNING`` and set
    their primary keys: ``bulk_create`` without compiling the statement each time. Same
    column values (each field's ``pre_save`` and ``get_db_prep_save``); no save signals,
    as with ``bulk_create``, which it falls back to where the database cannot return the
    new keys or an instance already has one."""
    if not objs:
        return
    model = type(objs[0])
    alias = using or "default"
    conn = transaction.get_connection(alias)
    fields, returned = _insert_fields(model)
    if not conn.features.can_return_columns_from_insert or (
            returned is not None and any(getattr(o, returned.attname) is not None
                                         for o in objs)):
        model._base_manager.using(alias).bulk_create(objs)
        return
    head, row_sql, tail = _insert_sql(model, tuple(f.attname for f in fields),
                                      returning=returned.attname if returned else "")
    params = [field.get_db_prep_save(field.pre_save(obj, True), connection=conn)
              for obj in objs for field in fields]
    with transaction.mark_for_rollback_on_error(using=alias), conn.cursor() as cursor:
        cursor.execute(head + ", ".join([row_sql] * len(objs)) + tail, params)
        keys = [r[0] for r in cursor.fetchall()] if returned is not None else []
    for number, obj in enumerate(objs):
        if returned is not None:
            setattr(obj, returned.attname, keys[number])
        obj._state.adding = False
        obj._state.db = alias


#: Fewer instances than this go in by ``insert_objects``: on a few rows COPY's own round
#: trips (reserving the keys, starting the COPY) cost more than it saves.
COPY_FROM_ROWS = 32


def copy_objects(objs: list[Model], *, using: str | None = None) -> None:
    """Insert new instances of one model through PostgreSQL's COPY and set their primary
    keys, reserved from the table's sequence first (ascending, in the order of ``objs``):
    for the largest inserts, a batch chunk's query log (500 rows: about 30 us a row
    against 120 us through ``bulk_create``). The same column values as ``insert_objects``
    (each field's ``pre_save`` and ``get_db_prep_save``), no save signals; a constraint
    violation raises Django's ``IntegrityError`` and marks the atomic block for rollback,
    as an INSERT would. Elsewhere (SQLite), for fewer than ``COPY_FROM_ROWS`` instances,
    or for instances that have a key already: ``insert_objects``. A model without an auto
    key (e.g. the ledger, keyed by its sequence number) is copied with the keys its
    instances carry."""
    if not objs:
        return
    model = type(objs[0])
    alias = using or "default"
    conn = transaction.get_connection(alias)
    auto = model._meta.auto_field
    pk = model._meta.pk
    keyed = auto is None and all(getattr(o, pk.attname) is not None for o in objs)
    if conn.vendor != "postgresql" or len(objs) < COPY_FROM_ROWS or not keyed and (
            auto is None or any(getattr(o, auto.attname) is not None for o in objs)):
        insert_objects(objs, using=alias)
        return
    copy_sql = _copy_sql(model)
    try:
        with transaction.mark_for_rollback_on_error(using=alias), conn.cursor() as cursor:
            if not keyed:
                cursor.execute(_RESERVE_KEYS, [conn.ops.quote_name(model._meta.db_table),
                                               auto.column, len(objs)])
                for obj, key in zip(objs, sorted(r[0] for r in cursor.fetchall()),
                                    strict=True):
                    setattr(obj, auto.attname, key)
            plan = _copy_plan(model)
            rows = [_copy_row(obj, plan, conn) for obj in objs]
            with conn.wrap_database_errors, cursor.cursor.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
    except BaseException:
        if not keyed:
            for obj in objs:
                setattr(obj, auto.attname, None)  # nothing was stored
        raise
    for obj in objs:
        obj._state.adding = False
        obj._state.db = alias


def _stored_as_given(field: Field) -> type | None:
    """The one Python type whose values ``field`` stores unchanged (and None as NULL), so
    preparing them can be skipped; None if it may change any value. Decided by which of
    Django's methods the field uses (a subclass overriding any of them is prepared as
    usual): str for CharField and TextField, int for the integer fields (keys included;
    PostgreSQL does not adapt them), bool for BooleanField, the key's type for a foreign
    key to an integer key. Preparing a value of another type (a lazy string, a Decimal,
    1 for a boolean) still goes through the field."""
    cls = type(field)
    if cls.pre_save is not Field.pre_save:
        return None
    if isinstance(field, ForeignKey):
        if cls.get_db_prep_save is not ForeignKey.get_db_prep_save:
            return None
        target = _stored_as_given(field.target_field)
        return target if target is int else None
    if cls.get_db_prep_save is not Field.get_db_prep_save:
        return None
    prep, db_prep = cls.get_prep_value, cls.get_db_prep_value
    if db_prep is Field.get_db_prep_value and prep in (CharField.get_prep_value,
                                                       TextField.get_prep_value):
        return str
    if db_prep is Field.get_db_prep_value and prep is BooleanField.get_prep_value:
        return bool
    if (db_prep in (IntegerField.get_db_prep_value, AutoFieldMixin.get_db_prep_value)
            and prep is IntegerField.get_prep_value):
        return int
    return None


def _copy_row(obj: Model, plan: tuple[tuple[Field, type | None], ...], conn) -> list:
    """``obj``'s column values as ``get_db_prep_save`` prepares them (the same values; a
    value the field would give back unchanged is not sent through it)."""
    row = []
    for f, kind in plan:
        if kind is not None:
            v = getattr(obj, f.attname)
            if v is None or type(v) is kind:
                row.append(v)
                continue
        row.append(f.get_db_prep_save(f.pre_save(obj, True), connection=conn))
    return row


@lru_cache(maxsize=32)
def _copy_plan(model: type[Model]) -> tuple[tuple[Field, type | None], ...]:
    """``model``'s concrete fields, each with the type it stores unchanged."""
    return tuple((f, _stored_as_given(f)) for f in model._meta.concrete_fields)


@lru_cache(maxsize=32)
def _copy_sql(model: type[Model]) -> str:
    """``model``'s COPY statement, every concrete column."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in model._meta.concrete_fields)
    return f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"


# N keys from the sequence of a table's column (name parameters: metadata, not input)
_RESERVE_KEYS = "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)"


@lru_cache(maxsize=128)
def _insert_sql(model: type[Model], columns: tuple[str, ...], conflict: tuple[str, ...] = (),
                update: tuple[str, ...] = (), returning: str = "") -> tuple[str, str, str]:
    """A multi-row INSERT of ``model``'s ``columns`` (attnames) in three parts: the head,
    one row's placeholders (repeated per row) and the tail (upsert clause, RETURNING)."""
    quote = connection.ops.quote_name
    by_attname = {f.attname: f for f in model._meta.concrete_fields}

    def names(attnames: tuple[str, ...]) -> list[str]:
        return [quote(by_attname[a].column) for a in attnames]

    head = (f"INSERT INTO {quote(model._meta.db_table)} "  # noqa: S608 - model metadata
            f"({', '.join(names(columns))}) VALUES ")
    tail = ""
    if conflict:
        tail = (f" ON CONFLICT ({', '.join(names(conflict))}) DO UPDATE SET "
                + ", ".join(f"{c} = EXCLUDED.{c}" for c in names(update)))
    if returning:
        tail += f" RETURNING {names((returning,))[0]}"
    return head, "(" + ", ".join(["%s"] * len(columns)) + ")", tail


@lru_cache(maxsize=128)
def _json_columns(model: type[Model], columns: tuple[str, ...]) -> tuple[bool, ...]:
    """Which of ``columns`` hold JSON (``insert_rows`` wraps those; None stays SQL NULL,
    as the ORM stores it)."""
    fields = {f.attname: f for f in model._meta.concrete_fields}
    return tuple(isinstance(fields[c], JSONField) for c in columns)


@lru_cache(maxsize=128)
def _insert_fields(model: type[Model]) -> tuple[tuple, Any]:
    """The fields ``insert_objects`` writes, and the auto field whose value comes back."""
    returned = model._meta.auto_field
    return tuple(f for f in model._meta.concrete_fields if f is not returned), returned


def update_row(model: type[Model], using: str, pk_value: Any,
               values: list[tuple[Any, Any, Any]]) -> bool | None:
    """``Model._do_update`` with one cached ``UPDATE ... SET ... WHERE pk = %s`` per model
    and set of fields; ``values`` as Django passes them, (field, model, value) triples.
    Returns whether a row was updated, or None when the ORM's own path is needed: a value
    that is an expression or a model instance, or a field with its own placeholder."""
    for field, _model, value in values:
        if (hasattr(value, "resolve_expression") or hasattr(value, "prepare_database_save")
                or hasattr(field, "get_placeholder")):
            return None
    conn = connections[using]
    fields = tuple(field for field, _model, _value in values)
    sql = _update_plan(model, fields, conn.vendor)
    params = [field.get_db_prep_save(value, connection=conn) for field, _m, value in values]
    params.append(model._meta.pk.get_db_prep_value(pk_value, conn))
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount > 0


@lru_cache(maxsize=256)
def _update_plan(model: type[Model], fields: tuple, vendor: str) -> str:
    quote = connection.ops.quote_name
    return (f"UPDATE {quote(model._meta.db_table)} SET "  # noqa: S608 - model metadata
            + ", ".join(f"{quote(f.column)} = %s" for f in fields)
            + f" WHERE {quote(model._meta.pk.column)} = %s")


#: Rows written in one bulk load from which its tables' statistics are refreshed.
ANALYZE_AFTER_ROWS = 5_000


def tables_analyze(*models: type[Model], using: str | None = None) -> bool:
    """Refresh PostgreSQL's planner statistics of these models' tables after a bulk write.

    A table that grew by tens of thousands of rows since it was last analysed (autovacuum
    lags behind a bulk load, and may be off) is planned as if it were still small: a read
    of 500 customers by id then scans the whole table instead of its index (about 150 ms
    instead of 2 ms per chunk of an import's screening, past 200,000 rows). ANALYZE reads
    a fixed-size sample, so it takes about a second whatever the table's size. Returns
    whether it ran (not on other databases, nor when this role may not analyse)."""
    conn = connections[using or "default"]
    if conn.vendor != "postgresql" or not models:
        return False
    tables = ", ".join(conn.ops.quote_name(m._meta.db_table) for m in models)
    try:
        with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
            cursor.execute(f"ANALYZE {tables}")
    except DatabaseError:  # e.g. a role that does not own the tables: plans stay as they are
        return False
    return True
