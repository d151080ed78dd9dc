"""Production settings pass Django's deployment checks and refuse to start without a key."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Variables of the developer's shell that would change what is being checked.
_OVERRIDES = {
    "DATABASE_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "DJANGO_SETTINGS_MODULE",
}


def run_manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run manage.py in a fresh interpreter with exactly the given production environment."""
    base = {key: value for key, value in os.environ.items() if key not in _OVERRIDES}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_production_settings(tmp_path):
    secret_key = secrets.token_urlsafe(64)
    assert len(secret_key) >= 50
    result = run_manage(
        ["check", "--deploy", "--fail-level", "WARNING"],
        {
            "DEBUG": "0",
            "SECRET_KEY": secret_key,
            "ALLOWED_HOSTS": "shop.example.com",
            "VAR_DIR": str(tmp_path),
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_on_the_development_defaults(tmp_path):
    # The same command must be able to fail: with DEBUG on it reports security.W018.
    result = run_manage(
        ["check", "--deploy", "--fail-level", "WARNING"],
        {"DEBUG": "1", "VAR_DIR": str(tmp_path)},
    )
    assert result.returncode != 0
    assert "security.W018" in result.stderr + result.stdout


def test_settings_refuse_to_start_without_secret_key_when_debug_is_off(tmp_path):
    result = run_manage(
        ["check"],
        {"DEBUG": "0", "ALLOWED_HOSTS": "shop.example.com", "VAR_DIR": str(tmp_path)},
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
