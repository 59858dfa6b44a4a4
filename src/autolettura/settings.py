"""Settings, read only from the environment (and an optional .env file).

Every variable is listed in `.env.example`. Defaults are for development: SQLite under
`var/`, tasks in-process, an in-memory cache.
"""

from __future__ import annotations

from collections.abc import Callable as _Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import dj_database_url
from celery.schedules import crontab as _crontab

from autolettura.env import (
    ConfigurationError,
    envbool,
    envchoice,
    envdecimal,
    envint,
    envint_list,
    envlist,
    envparsed,
    envrange,
    envstr,
    installation_secret_key,
    load_dotenv,
)
from autolettura.rules import contacts as _contacts
from autolettura.rules import hours as _hours
from autolettura.rules import usercode as _usercode


def _public_base_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")) or raw.endswith("/") or " " in raw:
        raise ValueError(raw)
    return raw


_OBLIGATION_KINDS = (
    "BILL_ISSUED",
    "BILLS_A_YEAR",
    "REVIEW_TOLD",
    "EMERGENCY_ON_SITE",
    "READING_ATTEMPTS",
    "VISIT_NOTICE",
)


def _obligation_kinds(raw: str) -> tuple[str, ...]:
    if raw.strip().lower() == "none":
        return ()
    kinds = tuple(k.strip().upper() for k in raw.split(",") if k.strip())
    if not kinds or any(k not in _OBLIGATION_KINDS for k in kinds):
        raise ValueError(raw)
    return kinds


BASE_DIR = Path(envstr("AUTOLETTURA_HOME", str(Path.cwd())))
load_dotenv(BASE_DIR / ".env")
VAR_DIR = BASE_DIR / "var"

DEBUG = envbool("DEBUG", False)
SECRET_KEY = envstr("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and envbool("AUTOLETTURA_REQUIRE_SECRET_KEY", False):
        raise ConfigurationError("SECRET_KEY must be set in production")
    # No key in the code: one machine's installation makes its own once, and all of its
    # processes read it. Several machines must share one, so they set SECRET_KEY.
    SECRET_KEY = installation_secret_key(VAR_DIR / "secret-key")
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
    "autolettura.payments",
    "autolettura.outbox",
    "autolettura.demo",
    "axes",
    "autolettura.portal",
    "autolettura.webapp",
    "autolettura.service",
    "autolettura.channels",
    "autolettura.backoffice",
    "autolettura.lifecycle",
    "autolettura.photos",
    "autolettura.regulation",
    "autolettura.rounds",
    "autolettura.identity",
    "autolettura.telemetry",
    # The API docs' Swagger UI from this site's static files rather than a CDN (the CSP).
    "ninja",
]

MIDDLEWARE = [
    # First: times the whole request for /metrics.
    "autolettura.metrics.MetricsMiddleware",
    # Every error under /api/v1/ in the API's JSON format (an unknown address, a 405, a 500).
    "autolettura.api.ApiErrorsMiddleware",
    # A database that cannot be reached: 503 with Retry-After ("not recorded, send it again").
    "autolettura.unavailable.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "autolettura.security.ContentSecurityPolicyMiddleware",
    # The portal's CSS, scripts and fonts, served by the app itself (no CDN, no extra server).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django's sessions, signed-in user and flash messages, passed by on the API's
    # operations, which use none of them (autolettura.api.API_OPERATIONS).
    "autolettura.api.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Before anything reads the body: a request larger than AUTOLETTURA_REQUEST_MAX_MB is
    # answered 413, in the client's language, without reading it.
    "autolettura.request_limits.RequestBodyLimitMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "autolettura.api.AuthenticationMiddleware",
    "autolettura.api.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a sign-in refused for repeated failures into the lockout page.
    "axes.middleware.AxesMiddleware",
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
                "autolettura.portal.context_processors.portal",
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
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A persistent connection the server dropped (a restart, a failover) is found and replaced
    # before a request uses it: once the database is back, the next request succeeds.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # The same backend with a health check that asks the server nothing unless the socket
    # says something happened (autolettura/postgresql/base.py): no SELECT 1 per request.
    DATABASES["default"]["ENGINE"] = "autolettura.postgresql"
    # A server that cannot be reached fails the request in seconds (503), not after TCP's
    # own timeout; a connect_timeout in DATABASE_URL wins.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    # The statements every submission runs are prepared on the server on their first use on
    # a connection (autolettura/postgresql/base.py). psycopg prepares nothing while the
    # threshold is None (Django's default); Django's own cursors bind on the client and are
    # never prepared either way. Off (false) behind a pooler that cannot keep prepared
    # statements: PgBouncer in transaction mode before 1.21, or without
    # max_prepared_statements (docs/deploy.md).
    if envbool("AUTOLETTURA_PREPARED_STATEMENTS", True):
        DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 1)
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

# --- The customer area: sign-in, lockout, sessions ------------------------------------------
# Sign-in with the e-mail or the username. django-axes counts failures per username and
# address together, and refuses that pair for a while past the limit.
AUTHENTICATION_BACKENDS = [
    "autolettura.portal.backends.AxesLockoutBackend",
    "autolettura.portal.backends.EmailOrUsernameBackend",
]
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGOUT_REDIRECT_URL = "portal:home"
AXES_FAILURE_LIMIT = envint("AUTOLETTURA_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=envint("AUTOLETTURA_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "autolettura.portal.backends.axes_username"
AXES_CLIENT_IP_CALLABLE = "autolettura.throttling.client_address"
AXES_LOCKOUT_TEMPLATE = "portal/locked_out.html"
AXES_VERBOSE = False
# Served over TLS (true in production): cookies are then only sent over HTTPS.
AUTOLETTURA_HTTPS = envbool("AUTOLETTURA_HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = LANGUAGE_COOKIE_SECURE = AUTOLETTURA_HTTPS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = LANGUAGE_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = envint("AUTOLETTURA_SESSION_HOURS", 8, minimum=1) * 3600
# Over TLS: browsers are told to use HTTPS only for a year (HSTS), plain HTTP is redirected,
# and a reverse proxy terminating TLS says so in X-Forwarded-Proto (it must set that header
# itself, overwriting the client's). /livez, /healthz and /metrics stay on plain HTTP for local
# probes.
SECURE_HSTS_SECONDS = 365 * 24 * 3600 if AUTOLETTURA_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("AUTOLETTURA_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = envbool("AUTOLETTURA_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = envbool("AUTOLETTURA_SSL_REDIRECT", AUTOLETTURA_HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^livez$", r"^healthz$", r"^metrics$"]
if envbool("AUTOLETTURA_TRUST_X_FORWARDED_PROTO", AUTOLETTURA_HTTPS):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Preloading is a commitment for the whole domain, made by its owner at hstspreload.org: off
# unless asked for, and then check --deploy need not remind us.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
# Sign-ups and added supplies an hour per client address, and password-reset requests an
# hour per address (each sends an e-mail). Wrong codes are counted as failures, below.
AUTOLETTURA_THROTTLE_SIGNUP_PER_ADDRESS = envint(
    "AUTOLETTURA_THROTTLE_SIGNUP_PER_ADDRESS", 20, minimum=1
)

# --- E-mail (sign-up confirmation, password reset, outcomes) ---------------------------------
# Default: printed on the console (development). Production: the SMTP backend and its host.
EMAIL_BACKEND = envstr("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = envstr(
    "DEFAULT_FROM_EMAIL", "Sportello Online <noreply@acquedivalmora.example>"
)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ConfigurationError("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be true")
# The domain of the Message-ID of every mail sent; empty: DEFAULT_FROM_EMAIL's domain.
AUTOLETTURA_EMAIL_DOMAIN = envstr("AUTOLETTURA_EMAIL_DOMAIN", "")

# OAuth 2.0 for the mail servers (XOAUTH2), for IMAP (AUTOLETTURA_IMAP_AUTH=xoauth2) and SMTP
# (EMAIL_BACKEND=autolettura.mail_oauth.OAuth2SmtpBackend): Microsoft 365 takes no password.
# A static access token, or a refresh token exchanged at the provider's token endpoint.
AUTOLETTURA_EMAIL_OAUTH_ACCESS_TOKEN = envstr("AUTOLETTURA_EMAIL_OAUTH_ACCESS_TOKEN", "")
AUTOLETTURA_EMAIL_OAUTH_TOKEN_URL = envstr("AUTOLETTURA_EMAIL_OAUTH_TOKEN_URL", "")
AUTOLETTURA_EMAIL_OAUTH_CLIENT_ID = envstr("AUTOLETTURA_EMAIL_OAUTH_CLIENT_ID", "")
AUTOLETTURA_EMAIL_OAUTH_CLIENT_SECRET = envstr("AUTOLETTURA_EMAIL_OAUTH_CLIENT_SECRET", "")
AUTOLETTURA_EMAIL_OAUTH_REFRESH_TOKEN = envstr("AUTOLETTURA_EMAIL_OAUTH_REFRESH_TOKEN", "")
AUTOLETTURA_EMAIL_OAUTH_SCOPE = envstr("AUTOLETTURA_EMAIL_OAUTH_SCOPE", "")

# --- E-mail channel: the readings mailbox, polled over IMAP ----------------------------------
# Empty host: no mailbox is read. SSL is IMAP over TLS (port 993); without it, STARTTLS on
# port 143, or (only for a server on this machine) a plain connection. Replies leave by the
# SMTP server above.
AUTOLETTURA_IMAP_HOST = envstr("AUTOLETTURA_IMAP_HOST", "")
AUTOLETTURA_IMAP_SSL = envbool("AUTOLETTURA_IMAP_SSL", True)
AUTOLETTURA_IMAP_STARTTLS = envbool("AUTOLETTURA_IMAP_STARTTLS", False)
AUTOLETTURA_IMAP_PORT = envint(
    "AUTOLETTURA_IMAP_PORT", 993 if AUTOLETTURA_IMAP_SSL else 143, minimum=1
)
AUTOLETTURA_IMAP_USER = envstr("AUTOLETTURA_IMAP_USER", "")
AUTOLETTURA_IMAP_PASSWORD = envstr("AUTOLETTURA_IMAP_PASSWORD", "")
AUTOLETTURA_IMAP_AUTH = envchoice("AUTOLETTURA_IMAP_AUTH", "password", ("password", "xoauth2"))
AUTOLETTURA_IMAP_FOLDER = envstr("AUTOLETTURA_IMAP_FOLDER", "INBOX")
AUTOLETTURA_IMAP_POLL_SECONDS = envint("AUTOLETTURA_IMAP_POLL_SECONDS", 60, minimum=10)
if AUTOLETTURA_IMAP_SSL and AUTOLETTURA_IMAP_STARTTLS:
    raise ConfigurationError(
        "AUTOLETTURA_IMAP_SSL and AUTOLETTURA_IMAP_STARTTLS cannot both be true"
    )
if (AUTOLETTURA_IMAP_AUTH == "xoauth2" or EMAIL_BACKEND.endswith(".OAuth2SmtpBackend")) and not (
    AUTOLETTURA_EMAIL_OAUTH_ACCESS_TOKEN
    or (
        AUTOLETTURA_EMAIL_OAUTH_TOKEN_URL
        and AUTOLETTURA_EMAIL_OAUTH_CLIENT_ID
        and AUTOLETTURA_EMAIL_OAUTH_REFRESH_TOKEN
    )
):
    raise ConfigurationError(
        "OAuth 2.0 for the mail servers (AUTOLETTURA_IMAP_AUTH=xoauth2 or the OAuth2 SMTP "
        "backend) needs AUTOLETTURA_EMAIL_OAUTH_ACCESS_TOKEN, or "
        "AUTOLETTURA_EMAIL_OAUTH_TOKEN_URL, AUTOLETTURA_EMAIL_OAUTH_CLIENT_ID and "
        "AUTOLETTURA_EMAIL_OAUTH_REFRESH_TOKEN"
    )

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
# Production serves the static files `collectstatic` puts in STATIC_ROOT: each under a name
# with a hash of its content, so browsers keep it for a year without asking again (a new
# version has a new name), and compressed ahead with Brotli and gzip. `collectstatic` must
# then run after every install or upgrade: a page naming a file it did not collect fails.
# With DEBUG (development), files are served as they are in the apps' folders, as edited.
STATIC_FILES_HASHED = envbool("AUTOLETTURA_STATIC_FILES_HASHED", not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if STATIC_FILES_HASHED
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not STATIC_FILES_HASHED
WHITENOISE_AUTOREFRESH = DEBUG
# WhiteNoise warns at every start when STATIC_ROOT is missing; `collectstatic` fills it.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Meter photos are at most 5 MB (checked by reading_submit); a bigger upload goes to a
# temporary file rather than memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- SPID and CIE sign-in (autolettura.identity) --------------------------------------------
# The public address of the Sportello Online as identity providers reach it (https://...):
# the service provider's metadata, requests and assertion consumer are under it. Empty: the
# SPID and CIE buttons are not shown and their pages answer 404.
AUTOLETTURA_SPID_BASE_URL = envstr("AUTOLETTURA_SPID_BASE_URL", "").rstrip("/")
# The service provider's entityID, as registered with AgID (default: the base address).
AUTOLETTURA_SPID_ENTITY_ID = envstr("AUTOLETTURA_SPID_ENTITY_ID", "")
# The key and certificate that sign the metadata and requests (`autolettura spid_keys`).
AUTOLETTURA_SPID_KEY_FILE = Path(
    envstr("AUTOLETTURA_SPID_KEY_FILE", str(VAR_DIR / "spid" / "sp.key"))
)
AUTOLETTURA_SPID_CERT_FILE = Path(
    envstr("AUTOLETTURA_SPID_CERT_FILE", str(VAR_DIR / "spid" / "sp.crt"))
)
# The SPID level asked for (1, 2 or 3); CIE sign-ins ask for level 3 at least as strong.
AUTOLETTURA_SPID_LEVEL = envchoice("AUTOLETTURA_SPID_LEVEL", "2", ("1", "2", "3"))
# The identity providers offered by the button: their metadata files (from AgID's registry,
# kept up to date by the operator), separated by commas.
AUTOLETTURA_SPID_IDP_METADATA = envlist("AUTOLETTURA_SPID_IDP_METADATA", [])
# CIE's identity provider (the Ministry of the Interior's): its metadata file. Empty: no CIE.
AUTOLETTURA_CIE_IDP_METADATA = envlist("AUTOLETTURA_CIE_IDP_METADATA", [])
# The utility as the SPID rules (Avviso SPID n. 29 v3) and CIE want it in the metadata: the
# IPA code of a public administration, its VAT number and fiscal code, the contact e-mail
# and phone, the ISTAT/cadastral code of its municipality (CIE) and its web site.
AUTOLETTURA_SPID_IPA_CODE = envstr("AUTOLETTURA_SPID_IPA_CODE", "")
AUTOLETTURA_SPID_VAT_NUMBER = envstr("AUTOLETTURA_SPID_VAT_NUMBER", "")
AUTOLETTURA_SPID_FISCAL_CODE = envstr("AUTOLETTURA_SPID_FISCAL_CODE", "")
AUTOLETTURA_SPID_CONTACT_EMAIL = envstr("AUTOLETTURA_SPID_CONTACT_EMAIL", "")
AUTOLETTURA_SPID_CONTACT_PHONE = envstr("AUTOLETTURA_SPID_CONTACT_PHONE", "")
AUTOLETTURA_SPID_MUNICIPALITY = envstr("AUTOLETTURA_SPID_MUNICIPALITY", "")
AUTOLETTURA_SPID_ORGANIZATION_URL = envstr("AUTOLETTURA_SPID_ORGANIZATION_URL", "")
# SPID and CIE sign-ins started, and answers posted, per client address in an hour (each one
# runs xmlsec1: a flood would load the machine).
AUTOLETTURA_SPID_PER_ADDRESS_HOUR = envint("AUTOLETTURA_SPID_PER_ADDRESS_HOUR", 200, minimum=1)
# The xmlsec1 program that signs and checks signatures (Debian's xmlsec1).
AUTOLETTURA_XMLSEC1 = envstr("AUTOLETTURA_XMLSEC1", "/usr/bin/xmlsec1")

# --- The utility -----------------------------------------------------------------------------
AUTOLETTURA_UTILITY_NAME = envstr("AUTOLETTURA_UTILITY_NAME", "Acque di Valmora")
AUTOLETTURA_RECEIPT_PREFIX = envstr("AUTOLETTURA_RECEIPT_PREFIX", "AL")
# Where customers send readings by e-mail and by WhatsApp (shown on the portal and bills).
AUTOLETTURA_READINGS_EMAIL = envstr("AUTOLETTURA_READINGS_EMAIL", "letture@acquedivalmora.example")
AUTOLETTURA_WHATSAPP_NUMBER = envstr("AUTOLETTURA_WHATSAPP_NUMBER", "+39 320 000 0333")
# The number customers send readings to by SMS, as printed (the format comes with it).
AUTOLETTURA_SMS_NUMBER = envstr("AUTOLETTURA_SMS_NUMBER", "+39 320 000 0444")
# The counters (sportelli) where the paper form is handed in: `name|address|hours`, separated
# by `;`; hours as `DAYS HH:MM-HH:MM[,HH:MM-HH:MM]` groups separated by `/` (1 Monday, 7
# Sunday). Closed on public holidays. `none` for none.
AUTOLETTURA_COUNTERS = envparsed(
    "AUTOLETTURA_COUNTERS",
    _contacts.parse_counters(
        "Sportello di Valmora|Piazza del Municipio 1, 15090 Valmora|"
        "1-5 08:30-12:30/2,4 14:30-16:30;"
        "Sportello di San Rocco|Via della Chiesa 6, Frazione San Rocco, 15090 Valmora|3 09:00-12:00"
    ),
    _contacts.parse_counters,
    "counters as name|address|DAYS HH:MM-HH:MM, separated by ;, such as "
    "Sportello di Valmora|Piazza del Municipio 1, 15090 Valmora|1-5 08:30-12:30/4 14:30-16:30",
)

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


def _pagopa_code(digits: int) -> _Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip()
        if value and not (value.isascii() and value.isdigit() and len(value) == digits):
            raise ValueError(raw)
        return value

    return parse


AUTOLETTURA_BILL_DUE_DAYS = envint("AUTOLETTURA_BILL_DUE_DAYS", 20, minimum=0)
# R11: a bill is issued at the latest this many days after its period ends.
AUTOLETTURA_BILL_MAX_DELAY_DAYS = envint("AUTOLETTURA_BILL_MAX_DELAY_DAYS", 45, minimum=1)

# R16, R17: pagoPA. Every bill to pay gets a pagoPA notice of the creditor (the utility) with
# this 11-digit fiscal code; empty, bills carry no notice. The aux digit is 3 (IUVs made by
# the creditor), with the 2-digit segregation code pagoPA assigned to the creditor.
AUTOLETTURA_PAGOPA_CREDITOR_FISCAL_CODE = envparsed(
    "AUTOLETTURA_PAGOPA_CREDITOR_FISCAL_CODE",
    "",
    _pagopa_code(11),
    "the creditor's fiscal code: 11 digits, or empty",
)
AUTOLETTURA_PAGOPA_AUX_DIGIT = int(envchoice("AUTOLETTURA_PAGOPA_AUX_DIGIT", "3", ("3",)))
AUTOLETTURA_PAGOPA_SEGREGATION_CODE = envparsed(
    "AUTOLETTURA_PAGOPA_SEGREGATION_CODE", "01", _pagopa_code(2), "2 digits"
)
# pagoPA checkout's "carts" address: the portal's "Paga" button posts the bill's notice
# there and sends the customer where it answers.
AUTOLETTURA_PAGOPA_CHECKOUT_URL = envstr(
    "AUTOLETTURA_PAGOPA_CHECKOUT_URL", "https://api.platform.pagopa.it/checkout/ec/v1/carts"
)
# Where checkout's pages are: the customer is sent there only (or to the carts API's own
# site), and the bills' page lets its "Paga" form lead there.
AUTOLETTURA_PAGOPA_CHECKOUT_SITE = envstr(
    "AUTOLETTURA_PAGOPA_CHECKOUT_SITE", "https://checkout.pagopa.it"
)
# A folder where the reporting flows (XML) are dropped; the daily import reads them and
# moves each into imported/ or refused/ beside. Empty: the daily import does nothing.
AUTOLETTURA_PAGOPA_FLOWS_DIR = envstr("AUTOLETTURA_PAGOPA_FLOWS_DIR", "")

# R13: the info line's weekly sessions (Europe/Rome wall clock) and ISO weekdays (1 Monday,
# 7 Sunday); it is closed on Italian public holidays and on the patron saint's day (MM-DD,
# `none` for none). The fault line is open at all hours.
AUTOLETTURA_INFO_LINE_HOURS = envparsed(
    "AUTOLETTURA_INFO_LINE_HOURS",
    _hours.INFO_LINE.sessions,
    _hours.parse_sessions,
    "sessions HH:MM-HH:MM in order, separated by commas, such as 08:15-12:00,14:15-16:57",
)
AUTOLETTURA_INFO_LINE_DAYS = envparsed(
    "AUTOLETTURA_INFO_LINE_DAYS",
    _hours.INFO_LINE.weekdays,
    _hours.parse_weekdays,
    "weekdays 1 (Monday) to 7 (Sunday) as FIRST-LAST or a list, such as 1-5",
)
AUTOLETTURA_PATRON_DAY = envparsed(
    "AUTOLETTURA_PATRON_DAY",
    _hours.INFO_LINE.patron_day,
    _hours.parse_month_day,
    "a day as MM-DD, such as 11-10 for 10 November, or none",
)
AUTOLETTURA_PHONE_FAULTS = envstr("AUTOLETTURA_PHONE_FAULTS", "800 000 111")
AUTOLETTURA_PHONE_TOLL_FREE = envstr("AUTOLETTURA_PHONE_TOLL_FREE", "800 000 222")
# R13: fault reports. Tickets are PREFIX-YYYY-NNNNNN; a report's photo is at most this big.
AUTOLETTURA_FAULT_TICKET_PREFIX = envstr("AUTOLETTURA_FAULT_TICKET_PREFIX", "GU")
AUTOLETTURA_FAULT_PHOTO_MAX_MB = envint("AUTOLETTURA_FAULT_PHOTO_MAX_MB", 10, minimum=1)
# The most pixels a photo may have, in millions, judged before it is decoded (a small file
# can claim a huge picture); phones take up to about 50.
AUTOLETTURA_PHOTO_MAX_MEGAPIXELS = envint("AUTOLETTURA_PHOTO_MAX_MEGAPIXELS", 64, minimum=1)
# The largest request body, judged by its Content-Length before any of it is read
# (autolettura.request_limits): the largest photo and the form around it. nginx's
# client_max_body_size (docs/deploy.md) is the same.
AUTOLETTURA_REQUEST_MAX_MB = envint(
    "AUTOLETTURA_REQUEST_MAX_MB", AUTOLETTURA_FAULT_PHOTO_MAX_MB + 2, minimum=1
)

# The regulator's unique user code (16 digits) of each supply starts with the ISTAT codes of
# the region (2 digits, 01 Piemonte) and of the municipality (6 digits, 006003 Alessandria)
# the utility serves (ARERA, TIMSII 218/2016/R/idr as updated by 609/2021/R/idr). Codes
# already given keep their digits when these change.
AUTOLETTURA_ISTAT_REGION = envparsed(
    "AUTOLETTURA_ISTAT_REGION", "01", _usercode.parse_region, "2 digits from 01 to 20, such as 01"
)
AUTOLETTURA_ISTAT_MUNICIPALITY = envparsed(
    "AUTOLETTURA_ISTAT_MUNICIPALITY",
    "006003",
    _usercode.parse_municipality,
    "6 digits, such as 006003",
)

# What the bill must say (ARERA: the water bills' transparency rules, delibera 586/2012/R/idr
# as updated, TIMSII and RQSII): the utility's legal details, how to complain and reach the
# conciliation service, the water social bonus. Wording the utility may reword.
AUTOLETTURA_UTILITY_LEGAL_NAME = envstr("AUTOLETTURA_UTILITY_LEGAL_NAME", "Acque di Valmora S.p.A.")
AUTOLETTURA_UTILITY_VAT_NUMBER = envstr("AUTOLETTURA_UTILITY_VAT_NUMBER", "01234567890")
AUTOLETTURA_UTILITY_REGISTERED_OFFICE = envstr(
    "AUTOLETTURA_UTILITY_REGISTERED_OFFICE", "Piazza del Municipio 1, 15090 Valmora (AL)"
)
AUTOLETTURA_BILL_READING_ATTEMPTS_TEXT = envstr(
    "AUTOLETTURA_BILL_READING_ATTEMPTS_TEXT",
    "Per il tuo consumo medio annuo di {cma} m³ il gestore tenta la lettura del contatore "
    "almeno {attempts} volte l'anno.",
)
AUTOLETTURA_BILL_COMPLAINTS_TEXT = envstr(
    "AUTOLETTURA_BILL_COMPLAINTS_TEXT",
    "Reclami: scrivi al gestore dall'area clienti, per posta o allo sportello; ti risponde "
    "per iscritto entro 30 giorni lavorativi.",
)
AUTOLETTURA_BILL_CONCILIATION_TEXT = envstr(
    "AUTOLETTURA_BILL_CONCILIATION_TEXT",
    "Se la risposta non ti soddisfa, o non arriva entro 40 giorni, puoi rivolgerti "
    "gratuitamente al Servizio Conciliazione dell'ARERA (www.arera.it).",
)
AUTOLETTURA_BILL_SOCIAL_BONUS_TEXT = envstr(
    "AUTOLETTURA_BILL_SOCIAL_BONUS_TEXT",
    "Bonus sociale idrico: le famiglie in difficoltà economica lo ricevono in automatico "
    "con la Dichiarazione Sostitutiva Unica (ISEE); informazioni su www.arera.it.",
)
AUTOLETTURA_BILL_COMPENSATION_TEXT = envstr(
    "AUTOLETTURA_BILL_COMPENSATION_TEXT",
    "Questa bolletta ti accredita {amount} di indennizzo automatico per il mancato rispetto "
    "di uno standard di qualità fissato dall'ARERA.",
)

# TIMSII art. 7 (as updated by 609/2021/R/idr): the minimum reading attempts a year, 2 up to
# this CMA and 3 above it.
AUTOLETTURA_ARERA_READING_ATTEMPTS_CMA_M3 = envint(
    "AUTOLETTURA_ARERA_READING_ATTEMPTS_CMA_M3", 3000, minimum=1
)

# TIMSII art. 7 (218/2016/R/idr as updated by 609/2021/R/idr), standard SP: the customer is
# told of a reader's visit at least 2 and at most 5 working days before it (preavviso del
# tentativo di lettura). The notice goes out as soon as the visit is 5 working days away; a
# notice sent later than 2 working days before is late.
AUTOLETTURA_ARERA_VISIT_NOTICE_MIN_WORKING_DAYS = envint(
    "AUTOLETTURA_ARERA_VISIT_NOTICE_MIN_WORKING_DAYS", 2, minimum=1
)
AUTOLETTURA_ARERA_VISIT_NOTICE_MAX_WORKING_DAYS = envint(
    "AUTOLETTURA_ARERA_VISIT_NOTICE_MAX_WORKING_DAYS", 5, minimum=1
)
if (
    AUTOLETTURA_ARERA_VISIT_NOTICE_MAX_WORKING_DAYS
    < AUTOLETTURA_ARERA_VISIT_NOTICE_MIN_WORKING_DAYS
):
    raise ConfigurationError(
        "AUTOLETTURA_ARERA_VISIT_NOTICE_MAX_WORKING_DAYS must not be less than "
        "AUTOLETTURA_ARERA_VISIT_NOTICE_MIN_WORKING_DAYS"
    )
# A supply whose meter has a radio id and has sent its register within this many days is
# read remotely: its daily readings meet the minimum reading attempts (TIMSII art. 7), and
# the rounds plan it no visit.
AUTOLETTURA_ROUNDS_REMOTE_DAYS = envint("AUTOLETTURA_ROUNDS_REMOTE_DAYS", 7, minimum=1)

# --- The regulator (ARERA): obligations on a clock and automatic compensation ---------------
# Each number is the regulator's, kept as a setting because ARERA updates them.
# A bill is issued within AUTOLETTURA_BILL_MAX_DELAY_DAYS (45) of its period's end: RQSII
# (655/2015/R/idr, as updated by 609/2021/R/idr), "tempo di emissione della fattura".
# A self-reading that was not validated is told within this many working days: TIMSII
# (218/2016/R/idr as updated by 609/2021/R/idr), art. 7.
AUTOLETTURA_ARERA_REVIEW_TOLD_WORKING_DAYS = envint(
    "AUTOLETTURA_ARERA_REVIEW_TOLD_WORKING_DAYS", _hours.REVIEW_LIMIT_WORKING_DAYS, minimum=1
)
# An emergency (pronto intervento) is reached on site within this many hours: RQSII art. 63.
AUTOLETTURA_ARERA_EMERGENCY_HOURS = envint("AUTOLETTURA_ARERA_EMERGENCY_HOURS", 3, minimum=1)
# The base automatic compensation in euro, doubled beyond twice the standard's time and
# tripled beyond three times it: RQSII art. 72.
AUTOLETTURA_ARERA_COMPENSATION_BASE_EUR = envdecimal(
    "AUTOLETTURA_ARERA_COMPENSATION_BASE_EUR", Decimal("30")
)


# The obligations whose miss carries an automatic compensation (RQSII specific standards):
# BILL_ISSUED, BILLS_A_YEAR, REVIEW_TOLD, EMERGENCY_ON_SITE, READING_ATTEMPTS. The 3-hour
# emergency standard is a general one (a share of cases), with no compensation of its own.
# The first day the platform answers for the regulator's obligations (YYYY-MM-DD): periods
# that ended and years that closed before it were the previous system's, and owe nothing
# here. Empty: from each supply's billing start (`import-customers --billing-starts-on`).
def _clock_start(raw: str) -> date | None:
    return date.fromisoformat(raw.strip()) if raw.strip() else None


AUTOLETTURA_ARERA_FROM = envparsed(
    "AUTOLETTURA_ARERA_FROM", None, _clock_start, "a day as YYYY-MM-DD, or empty"
)
_COMPENSATED: tuple[str, ...] = ("BILL_ISSUED", "BILLS_A_YEAR")
AUTOLETTURA_ARERA_COMPENSATED = envparsed(
    "AUTOLETTURA_ARERA_COMPENSATED",
    _COMPENSATED,
    _obligation_kinds,
    "obligation kinds separated by commas, from BILL_ISSUED, BILLS_A_YEAR, REVIEW_TOLD, "
    "EMERGENCY_ON_SITE, READING_ATTEMPTS, VISIT_NOTICE, or none",
)

# Throttling of anonymous submissions (requests per minute).
AUTOLETTURA_THROTTLE_PER_ADDRESS = envint("AUTOLETTURA_THROTTLE_PER_ADDRESS", 30, minimum=1)
# Failed attempts at a secret an hour (wrong codes on any channel or at sign-up, a wrong
# password for an API token, a wrong contact for a fault ticket): a source (an address, a
# phone number, an e-mail address) is stopped after FAILURES_PER_SOURCE of them; a target (a
# supply code, an account, a ticket) with FAILURES_PER_TARGET of them is closed to the
# sources that failed on it, never to one that has not (autolettura.throttling.FailureLimit).
AUTOLETTURA_FAILURES_PER_SOURCE = envint("AUTOLETTURA_FAILURES_PER_SOURCE", 10, minimum=1)
AUTOLETTURA_FAILURES_PER_TARGET = envint("AUTOLETTURA_FAILURES_PER_TARGET", 10, minimum=1)
AUTOLETTURA_THROTTLE_TOKEN_PER_ADDRESS = envint(
    "AUTOLETTURA_THROTTLE_TOKEN_PER_ADDRESS", 10, minimum=1
)
# Photos of the meter read a minute per client address (POST /api/v1/meter-photo): reading
# one costs about a second of CPU.
AUTOLETTURA_THROTTLE_PHOTOS_PER_ADDRESS = envint(
    "AUTOLETTURA_THROTTLE_PHOTOS_PER_ADDRESS", 6, minimum=1
)
# Fault reports a minute per client address (many phones can share one mobile address).
AUTOLETTURA_THROTTLE_FAULTS_PER_ADDRESS = envint(
    "AUTOLETTURA_THROTTLE_FAULTS_PER_ADDRESS", 10, minimum=1
)
# Fault reports are anonymous and each one's confirmation goes to the contact typed in: at most
# this many confirmations a day to one phone number or e-mail address, so the fault line cannot
# be used to flood somebody with messages (or to run up SMS costs). The reports are all taken.
AUTOLETTURA_FAULT_CONFIRMATIONS_PER_CONTACT = envint(
    "AUTOLETTURA_FAULT_CONFIRMATIONS_PER_CONTACT", 5, minimum=1
)
# Number of proxies in front of the app whose X-Forwarded-For entries are trusted.
AUTOLETTURA_TRUSTED_PROXIES = envint("AUTOLETTURA_TRUSTED_PROXIES", 0, minimum=0)
AUTOLETTURA_TOKEN_TTL_DAYS = envint("AUTOLETTURA_TOKEN_TTL_DAYS", 30, minimum=1)

# plain: one readable line; json: one JSON object a line, for a log collector.
LOG_FORMAT = envchoice("LOG_FORMAT", "plain", ("plain", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "autolettura.logformat.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    # pysaml2's XML schemas say at INFO that they are loaded, at every start: not news.
    "loggers": {"xmlschema": {"level": "WARNING"}},
}

# GET /metrics: with a token, only for "Authorization: Bearer <token>"; without, only to
# requests from this machine that did not come through a proxy.
AUTOLETTURA_METRICS_TOKEN = envstr("AUTOLETTURA_METRICS_TOKEN", "")

# --- Outbound messages (the outbox) and the providers ------------------------------------
# Seconds any call to a provider may take.
AUTOLETTURA_PROVIDER_TIMEOUT = envint("AUTOLETTURA_PROVIDER_TIMEOUT", 10, minimum=1)
AUTOLETTURA_OUTBOX_MAX_ATTEMPTS = envint("AUTOLETTURA_OUTBOX_MAX_ATTEMPTS", 8, minimum=1)
# Seconds between two runs of the periodic flush (beat), which sends what no worker was
# asked to send (a broker outage) and retries failed sends.
AUTOLETTURA_OUTBOX_FLUSH_SECONDS = envint("AUTOLETTURA_OUTBOX_FLUSH_SECONDS", 60, minimum=1)
# SMS through Twilio's Messages API (or a provider speaking it at that base URL).
AUTOLETTURA_SMS_API_URL = envstr("AUTOLETTURA_SMS_API_URL", "https://api.twilio.com")
AUTOLETTURA_TWILIO_ACCOUNT_SID = envstr("AUTOLETTURA_TWILIO_ACCOUNT_SID", "")
AUTOLETTURA_TWILIO_AUTH_TOKEN = envstr("AUTOLETTURA_TWILIO_AUTH_TOKEN", "")
AUTOLETTURA_SMS_FROM = envstr("AUTOLETTURA_SMS_FROM", "")
# WhatsApp Business Cloud API (Graph API).
AUTOLETTURA_WHATSAPP_API_URL = envstr(
    "AUTOLETTURA_WHATSAPP_API_URL", "https://graph.facebook.com/v21.0"
)
AUTOLETTURA_WHATSAPP_TOKEN = envstr("AUTOLETTURA_WHATSAPP_TOKEN", "")
AUTOLETTURA_WHATSAPP_PHONE_NUMBER_ID = envstr("AUTOLETTURA_WHATSAPP_PHONE_NUMBER_ID", "")
# The webhook: the token Meta echoes in its verification handshake (chosen by you, typed in
# the app's webhook settings) and the app secret that signs every POST (X-Hub-Signature-256).
# Empty: the webhook refuses everything.
AUTOLETTURA_WHATSAPP_VERIFY_TOKEN = envstr("AUTOLETTURA_WHATSAPP_VERIFY_TOKEN", "")
AUTOLETTURA_WHATSAPP_APP_SECRET = envstr("AUTOLETTURA_WHATSAPP_APP_SECRET", "")
# The approved template that tells an outcome after the customer's 24 hours (Meta's rule);
# empty: such outcomes go by e-mail instead (readings/notifications.py).
AUTOLETTURA_WHATSAPP_OUTCOME_TEMPLATE = envstr("AUTOLETTURA_WHATSAPP_OUTCOME_TEMPLATE", "")
# The approved template that carries a window reminder after the customer's 24 hours;
# empty: such reminders go by the customer's other routes (backoffice/reminders.py).
AUTOLETTURA_WHATSAPP_REMINDER_TEMPLATE = envstr("AUTOLETTURA_WHATSAPP_REMINDER_TEMPLATE", "")
# The approved template that tells a smart meter's leak alert after the customer's 24 hours;
# empty: such alerts go by e-mail instead, or SMS without an address (telemetry/notifications.py).
AUTOLETTURA_WHATSAPP_LEAK_TEMPLATE = envstr("AUTOLETTURA_WHATSAPP_LEAK_TEMPLATE", "")

# --- The phone line (IVR): Twilio voice webhooks ---------------------------------------------
# The address the providers call this app at, as they sign it (no trailing slash): webhook
# signatures (X-Twilio-Signature) are checked against this URL plus the request's path.
AUTOLETTURA_PUBLIC_BASE_URL = envparsed(
    "AUTOLETTURA_PUBLIC_BASE_URL",
    "http://127.0.0.1:8000",
    _public_base_url,
    "an http:// or https:// address without a trailing slash, such as https://letture.example.it",
)
# Where the phone line transfers callers who ask for the info line while it is open (empty:
# no transfer, the caller hears the hours instead). Text-to-speech voices by language.
AUTOLETTURA_INFO_LINE_NUMBER = envstr("AUTOLETTURA_INFO_LINE_NUMBER", "")
AUTOLETTURA_PHONE_VOICE_IT = envstr("AUTOLETTURA_PHONE_VOICE_IT", "Polly.Bianca")
AUTOLETTURA_PHONE_VOICE_EN = envstr("AUTOLETTURA_PHONE_VOICE_EN", "Polly.Amy")

# --- Retention (the legal reason for each is in .env.example) ------------------------------
AUTOLETTURA_RETENTION_READINGS_YEARS = envint("AUTOLETTURA_RETENTION_READINGS_YEARS", 5, minimum=1)
AUTOLETTURA_RETENTION_BILLS_YEARS = envint("AUTOLETTURA_RETENTION_BILLS_YEARS", 10, minimum=1)
AUTOLETTURA_RETENTION_MESSAGES_DAYS = envint("AUTOLETTURA_RETENTION_MESSAGES_DAYS", 180, minimum=1)
AUTOLETTURA_RETENTION_DISCARDED_PHOTOS_DAYS = envint(
    "AUTOLETTURA_RETENTION_DISCARDED_PHOTOS_DAYS", 180, minimum=1
)
# Rows changed in one transaction: short transactions, never a long lock on busy tables.
AUTOLETTURA_RETENTION_BATCH = envint("AUTOLETTURA_RETENTION_BATCH", 1000, minimum=1)
# The customer's rights (GDPR): "Scarica i miei dati" prepares a zip kept under
# AUTOLETTURA_EXPORT_DIR and offered for this many days, then removed by the retention run.
AUTOLETTURA_EXPORT_DAYS = envint("AUTOLETTURA_EXPORT_DAYS", 7, minimum=1)
AUTOLETTURA_EXPORT_DIR = Path(envstr("AUTOLETTURA_EXPORT_DIR", str(VAR_DIR / "exports")))
# Requests for a data export, an hour, per account: each one renders every bill's PDF.
AUTOLETTURA_EXPORT_PER_HOUR = envint("AUTOLETTURA_EXPORT_PER_HOUR", 3, minimum=1)
# A reading removed at its horizon takes its inbound message with it: that message must be
# past its own (shorter) time by then.
if AUTOLETTURA_RETENTION_MESSAGES_DAYS > AUTOLETTURA_RETENTION_READINGS_YEARS * 365:
    raise ConfigurationError(
        "AUTOLETTURA_RETENTION_MESSAGES_DAYS must not be longer than "
        "AUTOLETTURA_RETENTION_READINGS_YEARS"
    )


def _no_topics(raw: str) -> list[str]:
    raise ValueError(raw)


CELERY_BEAT_SCHEDULE = {
    # Smart meters: yesterday's registers become readings and raw points past their
    # retention go, in the morning.
    "telemetry-daily": {
        "task": "autolettura.telemetry.tasks.telemetry_daily_task",
        "schedule": _crontab(hour=6, minute=15),
    },
    # Smart meters: leaks and alarms in the hours ended since the last run (flags and
    # bursts hour by hour, continuous flow once each night is over, at 5:00), so that a
    # customer hears within hours. At 20 past, once the hour's telegrams are in.
    "telemetry-alerts": {
        "task": "autolettura.telemetry.tasks.telemetry_alerts_task",
        "schedule": _crontab(minute=20),
    },
    # Sends what a worker never got (a broker outage) and retries failed sends.
    "outbox-flush": {
        "task": "autolettura.outbox.tasks.outbox_flush_task",
        "schedule": float(AUTOLETTURA_OUTBOX_FLUSH_SECONDS),
    },
    # Self-reading reminders (window opening, three days before it closes), every morning
    # on the Europe/Rome clock; idempotent, so a missed or repeated day does no harm.
    "send-reminders": {
        "task": "autolettura.backoffice.tasks.reminders_send_task",
        "schedule": _crontab(hour=8, minute=30),
    },
    # Removes the photos of WhatsApp drafts the customer left (a day without a message).
    "whatsapp-drafts-expire": {
        "task": "autolettura.channels.tasks.whatsapp_drafts_expire_task",
        "schedule": 3600.0,
    },
    # Reads the readings mailbox (a no-op while AUTOLETTURA_IMAP_HOST is empty).
    "email-fetch": {
        "task": "autolettura.channels.tasks.email_fetch_task",
        "schedule": float(AUTOLETTURA_IMAP_POLL_SECONDS),
    },
    # The regulator's obligations: made from the day's bills, readings and faults, moved
    # to late past their limit, and compensated; early, before the back office opens.
    "obligations-tick": {
        "task": "autolettura.regulation.tasks.obligations_tick_task",
        "schedule": _crontab(hour=5, minute=15),
    },
    # The readers' visits: announced 2 to 5 working days before (standard SP), the customer
    # invited to self-read after a failed one, a follow-up planned after two failures in a
    # row. Hourly in the day, so a failure recorded at noon is followed up that afternoon
    # and no text arrives at night; idempotent.
    "rounds-notices": {
        "task": "autolettura.rounds.tasks.rounds_notices_task",
        "schedule": _crontab(hour="8-20", minute=20),
    },
    # Reads the photos sent with readings that could not be read within the request
    # (AUTOLETTURA_PHOTO_READ_SECONDS), so that the operator sees what they show.
    "photos-read-late": {
        "task": "autolettura.readings.tasks.reading_photos_read_late_task",
        "schedule": 600.0,
    },
    # Removes or anonymises what is past its retention (autolettura.lifecycle), at night.
    "retention-run": {
        "task": "autolettura.lifecycle.tasks.retention_run_task",
        "schedule": _crontab(hour=3, minute=30),
    },
    # Imports the pagoPA reporting flows dropped in AUTOLETTURA_PAGOPA_FLOWS_DIR (PSPs send
    # them by the second working day after a payment), every morning.
    "pagopa-flows-import": {
        "task": "autolettura.payments.tasks.flows_import_task",
        "schedule": _crontab(hour=7, minute=0),
    },
}


# Reading the meter from a photo (issue 12): a reading proposed with at least this
# confidence (0 to 1) is one the channels may act on; below it they ask for the number.
def _confidence(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 1:
        raise ValueError(raw)
    return value


AUTOLETTURA_PHOTO_CONFIDENCE = envparsed(
    "AUTOLETTURA_PHOTO_CONFIDENCE", 0.9, _confidence, "a number above 0 and at most 1"
)
# New photos of the meter read an hour for one sender of WhatsApp or e-mail (a phone number,
# an e-mail address): each costs about a second of CPU. Past it a photo is kept, not read,
# and the customer is asked for the number. A photo read before is never counted.
AUTOLETTURA_PHOTOS_PER_SENDER_HOUR = envint("AUTOLETTURA_PHOTOS_PER_SENDER_HOUR", 10, minimum=1)
# How long a reading read from a WhatsApp photo waits for the customer's YES.
AUTOLETTURA_PHOTO_PROPOSAL_MINUTES = envint("AUTOLETTURA_PHOTO_PROPOSAL_MINUTES", 120, minimum=1)
# CPU threads one photo reading may use (ONNX Runtime's intra-op threads).
AUTOLETTURA_PHOTO_THREADS = envint("AUTOLETTURA_PHOTO_THREADS", 1, minimum=1)


# How long the portal and the API wait, within the customer's request, for a photo sent
# with a reading to be read. Past it the reading is taken without the photo's value (the
# photo is kept as evidence): a busy reader never keeps a customer waiting.
def _seconds(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 120:
        raise ValueError(raw)
    return value


AUTOLETTURA_PHOTO_READ_SECONDS = envparsed(
    "AUTOLETTURA_PHOTO_READ_SECONDS", 8.0, _seconds, "a number of seconds above 0, at most 120"
)
# --- Smart meters (issue 13): the MQTT consumer `autolettura telemetry` ----------------------
# Empty URL: no consumer runs. mqtt://[user:password@]host[:1883], or mqtts:// for TLS.
AUTOLETTURA_MQTT_URL = envstr("AUTOLETTURA_MQTT_URL", "")
AUTOLETTURA_MQTT_TOPICS = envparsed(
    "AUTOLETTURA_MQTT_TOPICS",
    ["wmbusmeters/#", "application/+/device/+/event/up"],
    lambda raw: [t.strip() for t in raw.split(",") if t.strip()] or _no_topics(raw),
    "topic filters separated by commas",
)
# Consumers in the same group share the stream (MQTT 5 `$share/GROUP/topic`); empty: each
# consumer gets every telegram.
AUTOLETTURA_MQTT_SHARE_GROUP = envstr("AUTOLETTURA_MQTT_SHARE_GROUP", "autolettura")
# The MQTT client id: stable per consumer, so that its session (and the telegrams the broker
# holds for it while it is down) survive a restart. Empty: autolettura-<host name>.
AUTOLETTURA_MQTT_CLIENT_ID = envstr("AUTOLETTURA_MQTT_CLIENT_ID", "")
# How long the broker keeps a stopped consumer's session and queued telegrams.
AUTOLETTURA_MQTT_SESSION_HOURS = envint("AUTOLETTURA_MQTT_SESSION_HOURS", 24, minimum=1)
# Telegrams stored per transaction, and the longest a telegram waits for its batch.
AUTOLETTURA_TELEMETRY_BATCH = envint("AUTOLETTURA_TELEMETRY_BATCH", 2000, minimum=1)
AUTOLETTURA_TELEMETRY_BATCH_MS = envint("AUTOLETTURA_TELEMETRY_BATCH_MS", 500, minimum=10)
# Raw points are kept this many days; hourly and daily totals this many years (the
# regulator keeps reading data five years).
AUTOLETTURA_TELEMETRY_RAW_DAYS = envint("AUTOLETTURA_TELEMETRY_RAW_DAYS", 90, minimum=2)
AUTOLETTURA_TELEMETRY_TOTALS_YEARS = envint("AUTOLETTURA_TELEMETRY_TOTALS_YEARS", 5, minimum=1)
# Leaks: water running every night (its lowest hour between 2 and 5 never zero) for this
# many nights in a row; a burst: an hour's consumption of at least this many litres.
AUTOLETTURA_LEAK_NIGHTS = envint("AUTOLETTURA_LEAK_NIGHTS", 3, minimum=1)
AUTOLETTURA_BURST_LITRES_PER_HOUR = envint("AUTOLETTURA_BURST_LITRES_PER_HOUR", 1500, minimum=1)
