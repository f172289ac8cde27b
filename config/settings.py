"""Vigil settings: one file, driven by environment variables.

Defaults give the embedded setup (SQLite under var/, Celery tasks in process). Every value
read from the environment goes through a typed helper that names the variable when the
value is bad, so a misconfigured process fails at start-up, not at 3 a.m.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dj_database_url
from celery.schedules import crontab as _celery_crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VIGIL_VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if required:
            raise ImproperlyConfigured(f"Environment variable {name} is required")
        return default if default is not None else ""
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"Environment variable {name} must be a boolean, got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        parsed = int(value)
    except ValueError:
        raise ImproperlyConfigured(
            f"Environment variable {name} must be an integer, got {value!r}"
        ) from None
    if minimum is not None and parsed < minimum:
        raise ImproperlyConfigured(f"Environment variable {name} must be >= {minimum}")
    return parsed


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: set[str]) -> str:
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(
            f"Environment variable {name} must be one of {sorted(choices)}, got {value!r}"
        )
    return value


VIGIL_ENV = env_choice("VIGIL_ENV", "development", {"development", "test", "production"})
PRODUCTION = VIGIL_ENV == "production"

if PRODUCTION:
    SECRET_KEY = env_str("SECRET_KEY", required=True)
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
        raise ImproperlyConfigured("Environment variable SECRET_KEY must be 50+ random characters")
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("Environment variable ALLOWED_HOSTS is required in production")
    DEBUG = False
else:
    # A development key: never used when VIGIL_ENV=production.
    SECRET_KEY = env_str("SECRET_KEY", "dev-insecure-vigil-key-do-not-use-in-production-0123456789")
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
    DEBUG = env_bool("DEBUG", VIGIL_ENV == "development")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_celery_beat",
    "simple_history",
    "pgtrigger",
    "config.accounts",
    "audit",
    "cases",
    "screening.lists",
    "screening",
    "monitoring",
    "enrichment",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "config.middleware.AuditContextMiddleware",
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
                "config.accounts.context_processors.roles",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'vigil.sqlite3'}")
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
except Exception as exc:  # dj_database_url raises several types
    raise ImproperlyConfigured(f"Environment variable DATABASE_URL is invalid: {exc}") from exc
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE: every atomic block takes the write lock up front, so the audit chain
    # head cannot be read by two writers at once; timeout waits instead of failing.
    _db["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 30,
                      "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    _db["CONN_MAX_AGE"] = 0
elif _db["ENGINE"] == "django.db.backends.postgresql":
    _db.setdefault("OPTIONS", {})
    # Parameters travel apart from the statement (server-side binding), so psycopg can
    # prepare a statement once a connection has run it DB_PREPARE_THRESHOLD times: the
    # backend then parses and plans each of the hot paths' statements once per connection.
    # DB_SERVER_SIDE_BINDING=0 or DB_PREPARE_THRESHOLD=0 turn either off (e.g. behind a
    # connection pooler that cannot keep prepared statements). Options given in
    # DATABASE_URL (?server_side_binding=...&prepare_threshold=...) win.
    _db["OPTIONS"].setdefault("server_side_binding",
                              env_bool("DB_SERVER_SIDE_BINDING", True))
    _prepare_threshold = env_int("DB_PREPARE_THRESHOLD", 5, minimum=0)
    if _db["OPTIONS"]["server_side_binding"] and _prepare_threshold:
        _db["OPTIONS"].setdefault("prepare_threshold", _prepare_threshold)
    _db["CONN_HEALTH_CHECKS"] = True
else:
    raise ImproperlyConfigured("Environment variable DATABASE_URL must be sqlite:// or postgres://")
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache, Celery ---------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
# No broker: tasks run in process (the embedded default).
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A worker process whose resident memory exceeds this (KiB) after a task is replaced by a
# fresh one (it then loads the screening index from SCREENING_INDEX_DIR, about a second).
# A screening worker against a list of today's size holds about 400 MB; the bound is for
# growth nothing else caps. 0: never replaced.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = (
    env_int("CELERY_WORKER_MAX_MEMORY_PER_CHILD", 768 * 1024, minimum=0) or None)
# Celery closes a worker's database connection around every task unless this is set; a
# new PostgreSQL backend per task cost more CPU than an enrichment run's own queries. The
# connection is recycled after this many tasks, and dropped earlier if it broke or outlived
# DB_CONN_MAX_AGE (config/celery.py, as Django does around a request).
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000, minimum=0)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Periodic work, synced into the database by the beat scheduler (the audit digests are
# installed by audit's migration 0003). Times are UTC.
CELERY_BEAT_SCHEDULE = {
    "lists-refresh-hourly": {"task": "lists.refresh_all",
                             "schedule": _celery_crontab(minute=7)},
    "enrichment-resume-stale": {"task": "enrichment.resume_stale", "schedule": 60.0},
    # Background sealing's safety net: chains pending entries a crashed process left behind.
    "audit-seal-pending": {"task": "audit.seal_pending", "schedule": 15.0},
    # Screening batches whose worker died (no progress for SCREENING_BATCH_STALE_SECONDS).
    "screening-resume-stale-batches": {"task": "screening.batch_resume_stale",
                                       "schedule": 300.0},
}
SCREENING_BATCH_STALE_SECONDS = env_int("SCREENING_BATCH_STALE_SECONDS", 600)
# A queued batch runs as slices of this many rows, one task each, on every worker process
# at once; 0 runs it as one task.
SCREENING_BATCH_SLICE_ROWS = env_int("SCREENING_BATCH_SLICE_ROWS", 2000, minimum=0)
# Built matcher indexes, signed with SECRET_KEY, so that every process but the first loads
# the active lists' index instead of building it (screening/index_store.py); empty: off.
# Off by default under VIGIL_ENV=test, where tests rewrite list rows in place.
SCREENING_INDEX_DIR = os.environ.get(  # set and empty: off
    "SCREENING_INDEX_DIR", "" if VIGIL_ENV == "test" else str(VAR_DIR / "matcher-index"))
SCREENING_INDEX_KEEP = env_int("SCREENING_INDEX_KEEP", 4, minimum=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# The cache holds login-failure counters and rate-limit buckets: shared (Redis) whenever
# several processes serve the portal. CACHE_URL=locmem:// keeps it in process.
CACHE_URL = env_str("CACHE_URL", REDIS_URL or "locmem://")
if CACHE_URL.startswith("redis"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "vigil"),
        }
    }
elif CACHE_URL.startswith("locmem"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured("Environment variable CACHE_URL must be redis://... or locmem://")

# --- Auth -------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5, minimum=1)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
else:
    SESSION_COOKIE_SECURE = False
    CSRF_COOKIE_SECURE = False

# --- API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.accounts.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["config.permissions.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "config.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["config.permissions.IntegrationRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"integration": env_str("API_INTEGRATION_RATE", "6000/min")},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SPECTACULAR_SETTINGS = {
    "TITLE": "Vigil API",
    "DESCRIPTION": "Sanctions screening, transaction monitoring, enrichment, cases and audit.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Distinct choice sets that share a field name get stable, meaningful names.
    "ENUM_NAME_OVERRIDES": {
        "ListedEntityTypeEnum": "screening.lists.choices.EntityType",
        "RunStatusEnum": "enrichment.choices.RunStatus",
        "ScreeningUseEnum": ["onboarding", "payments"],
        "CustomerEntityTypeEnum": "cases.choices.EntityType",
        "CustomerScreeningStateEnum": "screening.selectors.CUSTOMER_SCREENING_STATES",
        # the case state kept the name it had before another "state" enum appeared
        "StateEnum": "cases.choices.CaseState",
    },
}

# --- Static, i18n -------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "/media/"
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Vigil ------------------------------------------------------------------------------
VIGIL_RELEASE = "1.0.0"
AUDIT_DIGEST_DIR = Path(env_str("AUDIT_DIGEST_DIR", str(VAR_DIR / "digests")))
AUDIT_SIGNING_KEY = env_str("AUDIT_SIGNING_KEY", "")
AUDIT_SIGNING_KEY_FILE = env_str("AUDIT_SIGNING_KEY_FILE", "")
# How ledger entries join the hash chain (docs/audit.md, "Sealing"):
# - inline: each transaction chains its own entries under one lock held until it commits
#   (an entry's sequence number is known inside the transaction; appends are serialised).
# - background (PostgreSQL): each transaction writes its entries as pending rows, without
#   the lock; a sealer in every process chains committed pending rows in batches right
#   after commit (plus the `audit.seal_pending` beat sweep). Many times the throughput.
AUDIT_SEAL_MODE = env_choice(
    "AUDIT_SEAL_MODE", "background" if PRODUCTION and _db["ENGINE"].endswith("postgresql")
    else "inline", {"inline", "background"})
if AUDIT_SEAL_MODE == "background" and not _db["ENGINE"].endswith("postgresql"):
    raise ImproperlyConfigured("AUDIT_SEAL_MODE=background needs PostgreSQL (DATABASE_URL)")
# Who seals in background mode: "thread", a sealer thread in every writing process woken
# at commit (nothing extra to run), or "process", one dedicated `manage.py audit_sealer`
# process polling every AUDIT_SEALER_POLL_MS (writers then do no sealing work at all).
AUDIT_SEALER = env_choice("AUDIT_SEALER", "thread", {"thread", "process"})
AUDIT_SEALER_POLL_MS = env_int("AUDIT_SEALER_POLL_MS", 50, minimum=1)
AUDIT_SEAL_BATCH = env_int("AUDIT_SEAL_BATCH", 5000)
# A woken sealer waits this long first, so commits arriving together are chained together.
# 200 ms: fewer, larger passes disturb writers less. With 16 writers paced at 1,000
# writes/s the audited p99 was 9.7-10.7 ms in three runs at 200 ms, against 9.1-92 ms at
# 50 ms and 36 ms at 10 ms; the price is ~75 ms median commit-to-chained lag.
AUDIT_SEAL_DELAY_MS = env_int("AUDIT_SEAL_DELAY_MS", 200, minimum=0)
# Verification reports pending entries older than this as a stalled sealer.
AUDIT_SEAL_MAX_LAG_SECONDS = env_int("AUDIT_SEAL_MAX_LAG_SECONDS", 120)
TRANSACTION_STREAM = env_str("TRANSACTION_STREAM", "transactions")
# Account shards of the feed: producers write to <TRANSACTION_STREAM>:<crc32(account) % N>.
TRANSACTION_STREAM_SHARDS = env_int("TRANSACTION_STREAM_SHARDS", 1)
if not 1 <= TRANSACTION_STREAM_SHARDS <= 1024:
    raise ImproperlyConfigured("Environment variable TRANSACTION_STREAM_SHARDS must be 1..1024")

# --- Logging: structured JSON lines carrying the request id --------------------------------
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR"})
LOG_FORMAT = env_choice("LOG_FORMAT", "json" if PRODUCTION else "console", {"json", "console"})
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {
            "()": "config.logging.formatter_factory",
            "fmt": LOG_FORMAT,
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "structured",
                    "stream": sys.stderr},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "celery": {"level": "INFO"},
    },
}
from config.logging import configure_structlog  # noqa: E402

configure_structlog()
