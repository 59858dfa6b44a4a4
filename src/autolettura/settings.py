"""Settings, read only from the environment (and an optional .env file).

Every variable is listed in `.env.example`. Defaults are for development: SQLite under
`var/`, tasks in-process, an in-memory cache.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import dj_database_url

from autolettura.env import (
    ConfigurationError,
    envbool,
    envchoice,
    envdecimal,
    envint,
    envint_list,
    envlist,
    envrange,
    envstr,
    load_dotenv,
)

BASE_DIR = Path(envstr("AUTOLETTURA_HOME", str(Path.cwd())))
load_dotenv(BASE_DIR / ".env")
VAR_DIR = BASE_DIR / "var"

DEBUG = envbool("DEBUG", False)
SECRET_KEY = envstr("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and envbool("AUTOLETTURA_REQUIRE_SECRET_KEY", False):
        raise ConfigurationError("SECRET_KEY must be set in production")
    SECRET_KEY = "development-only-secret-key-do-not-use-in-production"
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "autolettura.customers",
    "autolettura.readings",
    "autolettura.accounts",
    "autolettura.billing",
    "autolettura.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "autolettura.urls"
WSGI_APPLICATION = "autolettura.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
_default_sqlite = f"sqlite:///{VAR_DIR / 'autolettura.sqlite3'}"
DATABASE_URL = envstr("DATABASE_URL", _default_sqlite)
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
except ValueError as exc:
    raise ConfigurationError(f"DATABASE_URL={DATABASE_URL!r}: {exc}") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead of failing
    # with "database is locked" halfway through a transaction.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 30}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (throttling counters) ---------------------------------------------------------
CACHE_URL = envstr("CACHE_URL", "")
if CACHE_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ------------------------------------------------------------------------------
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL", "")
# With no broker, tasks run in the calling process: one command runs the whole product.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TIMEZONE = "Europe/Rome"

# --- Auth ----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation ------------------------------------------------------------------
LANGUAGE_CODE = "it"
LANGUAGES = [("it", "Italiano"), ("en", "English")]
LOCALE_PATHS = [Path(__file__).resolve().parent / "locale"]
USE_I18N = True
TIME_ZONE = "Europe/Rome"
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = VAR_DIR / "media"

# --- The utility -----------------------------------------------------------------------------
AUTOLETTURA_UTILITY_NAME = envstr("AUTOLETTURA_UTILITY_NAME", "Acque di Valmora")
AUTOLETTURA_RECEIPT_PREFIX = envstr("AUTOLETTURA_RECEIPT_PREFIX", "AL")

# R5: the self-reading window policy.
AUTOLETTURA_WINDOW_MONTHS = envint_list(
    "AUTOLETTURA_WINDOW_MONTHS", [2, 4, 6, 8, 10, 12], low=1, high=12
)
AUTOLETTURA_WINDOW_DAYS = envrange("AUTOLETTURA_WINDOW_DAYS", (15, 30), low=1, high=31)
AUTOLETTURA_WINDOW_POLICY = envchoice("AUTOLETTURA_WINDOW_POLICY", "strict", ("strict", "lenient"))

# R6: plausibility.
AUTOLETTURA_METER_DIGITS = envint("AUTOLETTURA_METER_DIGITS", 5, minimum=1)
AUTOLETTURA_METER_Q4_M3H = envdecimal("AUTOLETTURA_METER_Q4_M3H", Decimal("3.125"))
AUTOLETTURA_SOFT_LIMIT_FACTOR = envdecimal("AUTOLETTURA_SOFT_LIMIT_FACTOR", Decimal("3"))
AUTOLETTURA_SOFT_LIMIT_MARGIN_M3 = envdecimal("AUTOLETTURA_SOFT_LIMIT_MARGIN_M3", Decimal("20"))

# R9: CMA.
AUTOLETTURA_CMA_TREND = envdecimal("AUTOLETTURA_CMA_TREND", Decimal("1.0"))
AUTOLETTURA_CMA_MIN_DAYS = envint("AUTOLETTURA_CMA_MIN_DAYS", 300, minimum=1)
AUTOLETTURA_CMA_DEFAULT_DOMESTIC_RESIDENT = envdecimal(
    "AUTOLETTURA_CMA_DEFAULT_DOMESTIC_RESIDENT", Decimal("150")
)
AUTOLETTURA_CMA_DEFAULT_DOMESTIC_OTHER = envdecimal(
    "AUTOLETTURA_CMA_DEFAULT_DOMESTIC_OTHER", Decimal("80")
)
AUTOLETTURA_CMA_DEFAULT_BUSINESS = envdecimal("AUTOLETTURA_CMA_DEFAULT_BUSINESS", Decimal("300"))

# R11: billing. Periods end on the last day of these months (`bimonthly`), or as many times
# a year as the regulator's table gives for the supply's CMA (`cma`).
AUTOLETTURA_BILLING_POLICY = envchoice(
    "AUTOLETTURA_BILLING_POLICY", "bimonthly", ("bimonthly", "cma")
)
AUTOLETTURA_BILLING_MONTHS = envint_list(
    "AUTOLETTURA_BILLING_MONTHS", [2, 4, 6, 8, 10, 12], low=1, high=12
)
AUTOLETTURA_BILL_DUE_DAYS = envint("AUTOLETTURA_BILL_DUE_DAYS", 20, minimum=0)
# R11: a bill is issued at the latest this many days after its period ends.
AUTOLETTURA_BILL_MAX_DELAY_DAYS = envint("AUTOLETTURA_BILL_MAX_DELAY_DAYS", 45, minimum=1)

# Throttling of anonymous submissions (requests per minute).
AUTOLETTURA_THROTTLE_PER_ADDRESS = envint("AUTOLETTURA_THROTTLE_PER_ADDRESS", 30, minimum=1)
AUTOLETTURA_THROTTLE_PER_SUPPLY = envint("AUTOLETTURA_THROTTLE_PER_SUPPLY", 10, minimum=1)
AUTOLETTURA_THROTTLE_TOKEN_PER_ADDRESS = envint(
    "AUTOLETTURA_THROTTLE_TOKEN_PER_ADDRESS", 10, minimum=1
)
# Number of proxies in front of the app whose X-Forwarded-For entries are trusted.
AUTOLETTURA_TRUSTED_PROXIES = envint("AUTOLETTURA_TRUSTED_PROXIES", 0, minimum=0)
AUTOLETTURA_TOKEN_TTL_DAYS = envint("AUTOLETTURA_TOKEN_TTL_DAYS", 30, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
}
