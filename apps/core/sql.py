"""SQL the ORM writes too slowly for the engine's hot path."""

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model


def update_rows(objs: Sequence[Model], fields: Sequence[str]) -> int:
    """`QuerySet.bulk_update(objs, fields)` as one `UPDATE … FROM (VALUES …)`: the same rows
    written, without the CASE expression per field and row that makes Django's version cost
    milliseconds of CPU to build and compile. Returns the number of rows updated."""
    if not objs:
        return 0
    meta = type(objs[0])._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    quote = connection.ops.quote_name
    row = "(" + ", ".join(f"%s::{field.cast_db_type(connection)}" for field in columns) + ")"
    params = [
        field.get_db_prep_save(getattr(obj, field.attname), connection)
        for obj in objs
        for field in columns
    ]
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns[1:])
    names = ", ".join(quote(field.column) for field in columns)
    # Identifiers from the model's metadata, quoted; every value is a parameter.
    sql = (
        f"UPDATE {table} SET {assignments} "  # noqa: S608
        f"FROM (VALUES {', '.join([row] * len(objs))}) AS v({names}) "
        f"WHERE {table}.{pk} = v.{pk}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
