"""The environment the serving benchmarks run the project in.

Production settings (DEBUG off: Django keeps no query log), served over plain HTTP on
the loopback, with throttle rates no benchmark reaches: they measure serving, not the
throttle (``throttle_rotation.py`` measures that, with its own rates).
"""

from __future__ import annotations

import os

#: A secret for the benchmark's sessions when the caller's environment has none.
BENCHMARK_SECRET = "benchmark-" + "x" * 50


def production_env(hosts: str = "127.0.0.1", *, log_level: str = "WARNING") -> dict[str, str]:
    """The settings' environment variables of a benchmark serving ``hosts``."""
    return {
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY", BENCHMARK_SECRET),
        "ALLOWED_HOSTS": hosts,
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "THROTTLE_USER": "1000000/min",
        "THROTTLE_ANON": "1000000/min",
        "LOG_LEVEL": log_level,
    }
