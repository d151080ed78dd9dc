"""Helpers for tests that start other processes (workers, servers) on the test database."""

from __future__ import annotations

from django.db import connection


def database_environment() -> dict[str, str]:
    """Environment variables pointing config.settings at the database this process tests."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(db["NAME"])
        assert "memory" not in name, "other processes need a file-based SQLite test database"
        return {"SQLITE_PATH": name}
    assert connection.vendor == "postgresql", connection.vendor
    user, password = db.get("USER") or "", db.get("PASSWORD") or ""
    credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return {"DATABASE_URL": f"postgres://{credentials}{host}:{port}/{db['NAME']}"}
