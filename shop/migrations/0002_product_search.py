"""Full-text search of products: an FTS5 table kept by triggers on SQLite, a GIN index on
PostgreSQL (over the vector shop.search.search_vector() builds, frozen here)."""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations

SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE shop_product_fts USING fts5("
    "name, description, tokenize = 'porter unicode61 remove_diacritics 2', prefix = '2 3')",
    "INSERT INTO shop_product_fts(rowid, name, description) "
    "SELECT id, name, description FROM shop_product",
    "CREATE TRIGGER shop_product_fts_insert AFTER INSERT ON shop_product BEGIN "
    "INSERT INTO shop_product_fts(rowid, name, description) "
    "VALUES (new.id, new.name, new.description); END",
    "CREATE TRIGGER shop_product_fts_delete AFTER DELETE ON shop_product BEGIN "
    "DELETE FROM shop_product_fts WHERE rowid = old.id; END",
    "CREATE TRIGGER shop_product_fts_update AFTER UPDATE OF id, name, description "
    "ON shop_product BEGIN "
    "DELETE FROM shop_product_fts WHERE rowid = old.id; "
    "INSERT INTO shop_product_fts(rowid, name, description) "
    "VALUES (new.id, new.name, new.description); END",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS shop_product_fts_insert",
    "DROP TRIGGER IF EXISTS shop_product_fts_delete",
    "DROP TRIGGER IF EXISTS shop_product_fts_update",
    "DROP TABLE IF EXISTS shop_product_fts",
]
PG_INDEX_NAME = "shop_product_search"


def _pg_index() -> GinIndex:
    return GinIndex(
        SearchVector("name", weight="A", config="english")
        + SearchVector("description", weight="B", config="english"),
        name=PG_INDEX_NAME,
    )


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)
    elif vendor == "postgresql":
        schema_editor.add_index(apps.get_model("shop", "Product"), _pg_index())


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement)
    elif vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("shop", "Product"), _pg_index())


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
