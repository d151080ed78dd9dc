"""Settings of the demo store, read from the environment with embedded defaults.

With only ``DEBUG=1`` set (bin/demo sets it) the project runs on SQLite with Celery
tasks executed in-process, so ``make demo`` works on a fresh machine. ``DEBUG`` is off unless
set; production sets ``SECRET_KEY``, ``ALLOWED_HOSTS``, ``DATABASE_URL``, ``CACHE_URL``
and ``CELERY_BROKER_URL``. Every default is correct with several worker processes:
sessions, the cache and the throttle counters live where every process reads them.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean environment variable ("1", "true", "yes", "on" are true)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    """Read a comma-separated environment variable."""
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
_DEV_SECRET_KEY = "django-insecure-demo-only-never-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", _DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "shop",
    "recommendations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The shopper's language (Accept-Language, the language cookie) for every page.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "recommendations.middleware.ImpressionMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "shop.context_processors.cart",
            ],
        },
    },
]

# SQLite by default: WAL lets readers run beside a writer, the busy timeout and
# IMMEDIATE transactions make concurrent writers (two checkouts) wait instead of
# failing with "database is locked".
SQLITE_PATH = Path(os.environ.get("SQLITE_PATH", VAR_DIR / "db.sqlite3"))
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)}
else:
    # SQLite cannot create the folder of its file (nor of the test database's).
    SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": (
                    "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=30000;"
                ),
            },
            # Tests use a file too: in-memory SQLite cannot serve the concurrent
            # connections of the two-checkouts test. The pid keeps test runs that
            # share a checkout from deleting each other's database.
            "TEST": {"NAME": VAR_DIR / f"test-{os.getpid()}.sqlite3"},
            # A worker keeps its connection: opening one runs the PRAGMAs above, and
            # closing the last one checkpoints and removes the write-ahead log, which
            # cost more than a whole request did.
            "CONN_MAX_AGE": int(os.environ.get("CONN_MAX_AGE", "600")),
            "CONN_HEALTH_CHECKS": True,
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in attempts allowed per account and per client address in each window of that
# many seconds (shop/login_attempts.py); a successful sign-in clears its account's count.
LOGIN_ATTEMPTS_PER_ACCOUNT = int(os.environ.get("LOGIN_ATTEMPTS_PER_ACCOUNT", "5"))
LOGIN_ATTEMPTS_PER_ADDRESS = int(os.environ.get("LOGIN_ATTEMPTS_PER_ADDRESS", "30"))
LOGIN_ATTEMPTS_WINDOW = int(os.environ.get("LOGIN_ATTEMPTS_WINDOW", "900"))
LOGIN_URL = "shop:login"
LOGIN_REDIRECT_URL = "shop:home"
LOGOUT_REDIRECT_URL = "shop:home"

LANGUAGE_CODE = "en-gb"
# The recommendations app ships German; the store's own pages fall back to English.
LANGUAGES = [("en-gb", "English"), ("de", "Deutsch")]
# The demo's own catalog, its templates/ folder included (makemessages writes here).
LOCALE_PATHS = [BASE_DIR / "shop" / "locale"]
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

if os.environ.get("CACHE_URL") == "locmem://":
    # Each process its own cache (benchmarks compare it with the shared ones).
    # Per shopper a session, a history and lists: the default 300 entries would evict
    # them after a few dozen shoppers.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 20000},
        }
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
elif os.environ.get("CACHE_URL"):
    CACHES = {
        "default": {
            # Django's Redis cache, reusing its client (config/cache.py).
            "BACKEND": "config.cache.PooledRedisCache",
            "LOCATION": os.environ["CACHE_URL"],
        }
    }
    # Sessions read from the cache, written through to the database.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    # A table of the database, so every worker process reads what another one wrote:
    # a local-memory cache would give each its own cached histories and lists. Created
    # by ``manage.py createcachetable`` (bin/demo; the test runner creates its own).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "django_cache",
            # Cached recommendation lists are per user: the default 300 entries is too few.
            "OPTIONS": {"MAX_ENTRIES": 20000},
        }
    }
    # Straight from the database: over a database cache, cached_db would read it twice.
    SESSION_ENGINE = "django.contrib.sessions.backends.db"

# Security: strict by default whenever DEBUG is off.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("THROTTLE_ANON", "120/min"),
        "user": os.environ.get("THROTTLE_USER", "600/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Recommendations API",
    "DESCRIPTION": "Personal, explained product recommendations.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# Celery: with no broker configured, tasks run in-process (the demo); set
# CELERY_BROKER_URL=redis://127.0.0.1:6379/0 for real workers.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL or None)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "train-recommendations-nightly": {
        "task": "recommendations.tasks.training_run_task",
        "schedule": crontab(
            hour=int(os.environ.get("RECOMMENDATIONS_TRAIN_HOUR", "3")),
            minute=int(os.environ.get("RECOMMENDATIONS_TRAIN_MINUTE", "0")),
        ),
    },
    "shop-housekeeping": {
        "task": "shop.tasks.housekeeping_task",
        "schedule": crontab(hour=4, minute=30),
    },
}

# The recommendations app: which models are the catalog and the events, what to train.
RECOMMENDATIONS = {
    "CATALOG": {
        "MODEL": "shop.Product",
        "AVAILABLE": {"is_active": True, "stock_quantity__gt": 0},
        "CATEGORY_FIELD": "category",
        "LABEL_FIELD": "name",
        "TEXT_FIELDS": ["name", "description"],
        "PRICE_FIELD": "price",
    },
    "USER_FEATURES": {"COUNTRY": "profile__country", "BIRTH_YEAR": "profile__birth_year"},
    "CONSENT_FIELD": "profile__personalisation_consent",
    "EVENT_SOURCES": [
        {
            "NAME": "purchase",
            "MODEL": "shop.OrderLine",
            "USER_FIELD": "order__user",
            "ITEM_FIELD": "product",
            "TIME_FIELD": "created_at",
            "WEIGHT": 1.0,
            "FILTER": {"order__status": "placed"},
            # The lines of one order are one basket, for "bought together".
            "GROUP_FIELD": "order",
        },
        {
            "NAME": "view",
            "MODEL": "shop.ProductView",
            "USER_FIELD": "user",
            "ITEM_FIELD": "product",
            "TIME_FIELD": "viewed_at",
            "WEIGHT": 0.2,
        },
        {
            "NAME": "review",
            "MODEL": "shop.Review",
            "USER_FIELD": "user",
            "ITEM_FIELD": "product",
            "TIME_FIELD": "created_at",
            "VALUE_FIELD": "rating",
            "VALUE_MAP": {"1": -1.0, "2": -0.5, "3": 0.0, "4": 0.5, "5": 1.0},
            "FILTER": {"is_approved": True},
        },
    ],
    # Who follows whom (shop.Follow): the social models, the "Popular with people you
    # follow" block and social reasons. A shopper is named to their followers only when
    # they turned sharing on (off by default); otherwise counted, never below 2.
    "SOCIAL": {
        "MODEL": "shop.Follow",
        "FOLLOWER_FIELD": "follower",
        "FOLLOWED_FIELD": "followed",
        "TIME_FIELD": "created_at",
        "SHARING_FIELD": "profile__shares_activity",
        "DISPLAY_NAME_FIELD": "profile__display_name",
    },
    "HALF_LIFE_DAYS": 180,
    "TRENDING_HALF_LIFE_DAYS": 14,
    "ALGORITHMS": {
        "popularity": {},
        "item_knn": {"k": 100},
        "svd": {"factors": 128},
        "ease": {"l2": 500.0},
        # The learned second stage over EASE, item-kNN and trending, at its defaults (see
        # benchmarks/README.md); the nightly selection also tries it with repeats as
        # targets (new_items_only False) and with other components.
        "blend": {},
    },
    "SIMILAR_ALGORITHM": "similar_blend",
    "PROMOTION": {
        "METRIC": "ndcg",
        "HOLDOUT_DAYS": 30,
        "MIN_IMPROVEMENT": 0.0,
        "AUTO_PROMOTE": True,
    },
    "REPEAT_PURCHASE_CATEGORIES": [],
    "MAX_PER_CATEGORY": 3,
    "CACHE_TIMEOUT": 300,
    "ADAPTER": "shop.recommendations_adapter.ShopAdapter",
    "ARTIFACT_ROOT": VAR_DIR,  # artifacts in var/recommendations/, never under MEDIA_ROOT
    "ARTIFACT_PATH": "recommendations/",
    "TRAINING_LOCK_TIMEOUT": 3600,
    # Without a broker Celery runs tasks inside the request: "Train now" then starts
    # manage.py train_recommendations as a process of its own instead.
    "TRAINING_RUNNER": "celery" if CELERY_BROKER_URL else "process",
    # Reverse proxies in front of the site whose X-Forwarded-For is trusted to name the
    # client (throttles, sign-in attempts); 0: the header is ignored.
    "NUM_PROXIES": int(os.environ.get("NUM_PROXIES", "0")),
}


# Trained recommenders on S3-compatible object storage, shared by the web processes and
# Celery workers of every machine; without a bucket they are files under VAR_DIR, which
# only the processes of one machine share.
def artifact_s3_storage(environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``STORAGES`` entry of artifacts in the bucket ``ARTIFACT_S3_BUCKET`` names.

    Needs django-storages with boto3 (``requirements.txt``), which nothing else does.
    Without keys, boto3 finds credentials itself (``AWS_*`` variables, an instance role).
    """
    if importlib.util.find_spec("storages") is None:
        raise ImproperlyConfigured(
            "ARTIFACT_S3_BUCKET is set but django-storages is not installed: "
            "pip install 'django-storages[s3]' (pinned in requirements.txt)."
        )
    # Imported here: an optional dependency, needed only with a bucket.
    from botocore.config import Config

    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": environ["ARTIFACT_S3_BUCKET"],
            "endpoint_url": environ.get("ARTIFACT_S3_ENDPOINT_URL") or None,
            "region_name": environ.get("ARTIFACT_S3_REGION") or None,
            "access_key": environ.get("ARTIFACT_S3_ACCESS_KEY_ID") or None,
            "secret_key": environ.get("ARTIFACT_S3_SECRET_ACCESS_KEY") or None,
            # Empty for a bucket whose ACLs are disabled (object ownership enforced).
            "default_acl": environ.get("ARTIFACT_S3_ACL", "private") or None,
            # Nothing links to an artifact: the app reads it with signed API calls.
            "querystring_auth": False,
            # Every artifact name is new: no existence check before each upload.
            "file_overwrite": True,
            # A web process loads a promoted version inside a request: an unreachable
            # store must fail it fast (the old version keeps serving), not hang it.
            "client_config": Config(
                connect_timeout=5, read_timeout=60, retries={"mode": "standard", "max_attempts": 3}
            ),
        },
    }


if os.environ.get("ARTIFACT_S3_BUCKET"):
    STORAGES["recommendations"] = artifact_s3_storage(os.environ)
    RECOMMENDATIONS["ARTIFACT_STORAGE"] = "recommendations"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"require_debug_false": {"()": "django.utils.log.RequireDebugFalse"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "filters": ["require_debug_false"],
            "level": "ERROR",
        },
    },
    # Django's own console handler goes: "django" messages reach the root's console once
    # (with both, runserver said "Watching for file changes" twice).
    "loggers": {"django": {"handlers": ["mail_admins"], "level": "INFO"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
