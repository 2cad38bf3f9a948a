"""SQL the ORM writes too slowly for the engine's hot path."""

from collections.abc import Sequence

from django.db import connection
from django.db.models import Field, Model


def update_rows(
    objs: Sequence[Model], fields: Sequence[str], *, unless: tuple[str, list] | None = None
) -> set:
    """`QuerySet.bulk_update(objs, fields)` as one `UPDATE … FROM (VALUES …)`: the same rows
    written, without the CASE expression per field and row that makes Django's version cost
    milliseconds of CPU to build and compile. `unless=(field, values)` leaves alone the rows
    whose `field` holds one of `values` (a compare-and-swap). Returns the primary keys of the
    rows updated."""
    if not objs:
        return set()
    meta = type(objs[0])._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    params = [
        field.get_db_prep_save(getattr(obj, field.attname), connection)
        for obj in objs
        for field in columns
    ]
    table, pk = _quote(meta.db_table), _quote(meta.pk.column)
    assignments = ", ".join(f"{_quote(f.column)} = v.{_quote(f.column)}" for f in columns[1:])
    condition = ""
    if unless is not None:
        condition = f" AND NOT {table}.{_quote(meta.get_field(unless[0]).column)} = ANY(%s)"
        params.append(unless[1])
    # Identifiers from the model's metadata, quoted; every value is a parameter.
    sql = (
        f"UPDATE {table} SET {assignments} "  # noqa: S608
        f"FROM (VALUES {_rows(columns, len(objs))}) AS v({_names(columns)}) "
        f"WHERE {table}.{pk} = v.{pk}{condition} RETURNING {table}.{pk}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {key for (key,) in cursor.fetchall()}


def add_to_rows(
    model: type[Model], amounts: dict[object, dict[str, int]], *, returning: Sequence[str] = ()
) -> dict[object, dict]:
    """`model.objects.filter(pk=key).update(field=F(field) + amount, …)` for each
    {key: {field: amount}} of `amounts` (every row the same fields), in one statement; returns
    {key: {attname: value}} of the `returning` fields as the rows hold them afterwards."""
    if not amounts:
        return {}
    meta = model._meta
    names = list(next(iter(amounts.values())))
    columns = [meta.pk, *(meta.get_field(name) for name in names)]
    params = [
        value
        for key, row in amounts.items()
        for value in (meta.pk.get_db_prep_save(key, connection), *(row[n] for n in names))
    ]
    table, pk = _quote(meta.db_table), _quote(meta.pk.column)
    assignments = ", ".join(
        f"{_quote(f.column)} = {table}.{_quote(f.column)} + v.{_quote(f.column)}"
        for f in columns[1:]
    )
    returned = [meta.get_field(name) for name in returning]
    with connection.cursor() as cursor:
        cursor.execute(
            # Identifiers from the model's metadata, quoted; every value is a parameter.
            f"UPDATE {table} SET {assignments} "  # noqa: S608
            f"FROM (VALUES {_rows(columns, len(amounts))}) AS v({_names(columns)}) "
            f"WHERE {table}.{pk} = v.{pk} "
            f"RETURNING {', '.join(f'{table}.{_quote(f.column)}' for f in [meta.pk, *returned])}",
            params,
        )
        return {
            key: {field.attname: value for field, value in zip(returned, values, strict=True)}
            for key, *values in cursor.fetchall()
        }


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _rows(columns: Sequence[Field], count: int) -> str:
    """`count` VALUES rows of typed parameters, one per column."""
    row = "(" + ", ".join(f"%s::{field.cast_db_type(connection)}" for field in columns) + ")"
    return ", ".join([row] * count)


def _names(columns: Sequence[Field]) -> str:
    return ", ".join(_quote(field.column) for field in columns)


def table_name(model: type[Model]) -> str:
    """A model's table name, quoted for SQL written by hand."""
    return connection.ops.quote_name(model._meta.db_table)
