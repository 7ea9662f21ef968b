"""One settings module for every environment: the environment decides.

Names follow the original product's table (DJANGO_*), plus the platform's own
(PLATFORM_DOMAIN, STRIPE_*, PLATFORM_FEE_*). Development defaults just work; with
DJANGO_DEBUG off the secrets become mandatory and the secure defaults switch on.
"""

from __future__ import annotations

import ipaddress
import os
from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured, ValidationError

from tenants.origins import origin
from tenants.validators import fee_validate

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# Set by the test runs: `make test` (devtools.devstack) and pytest itself (tests/testing_env.py,
# loaded by pyproject's addopts before pytest-django reads these settings).
TESTING = env.bool("DJANGO_TESTING", default=False)


def required(name: str, dev_default: str) -> str:
    """A secret: optional in development, mandatory in production."""
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG or TESTING:
        return dev_default
    raise ImproperlyConfigured(f"{name} must be set when DJANGO_DEBUG is off.")


SECRET_KEY = required("DJANGO_SECRET_KEY", "CHANGEME!!!-dev-only-not-for-production-use-0123456789")

# --- The platform -------------------------------------------------------------------------
# Stores live at <subdomain>.PLATFORM_DOMAIN; the main site at PLATFORM_DOMAIN itself.
PLATFORM_DOMAIN = env.str("PLATFORM_DOMAIN", default="localhost").lower()
PLATFORM_NAME = env.str("PLATFORM_NAME", default="product_purchase")
# Port the public URLs carry in development (stores at http://alice.localhost:8000);
# `make run` sets it from DEVSTACK_WEB_PORT. tenants.origins builds every absolute URL.
PLATFORM_PORT = env.str("PLATFORM_PORT", default="8000" if DEBUG else "")
PLATFORM_SCHEME = env.str("PLATFORM_SCHEME", default="http" if DEBUG else "https")

# The platform's own hosts. Never `*`: a store's custom domain passes Django's host check
# once the domain table holds it verified (tenants.middleware.VerifiedDomainHostMiddleware),
# and any other host gets the "no such store" page.
_PLATFORM_HOSTS = [PLATFORM_DOMAIN, f".{PLATFORM_DOMAIN}", "127.0.0.1"]
ALLOWED_HOSTS = [h for h in env.list("DJANGO_ALLOWED_HOSTS", default=_PLATFORM_HOSTS) if h]
ALLOWED_HOSTS = ALLOWED_HOSTS or _PLATFORM_HOSTS
if "*" in ALLOWED_HOSTS and not DEBUG:
    raise ImproperlyConfigured(
        "DJANGO_ALLOWED_HOSTS must name the platform's hosts, not '*': custom domains "
        "are let in by the domain table (see deploy/README.md)."
    )

# --- Apps ---------------------------------------------------------------------------------
SHARED_APPS = [
    "django_tenants",
    "tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "payments.platform",
    "sellers",
    "console",
]
TENANT_APPS = [
    "catalog",
    "payments",
]
INSTALLED_APPS = list(SHARED_APPS) + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Store"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
PUBLIC_SCHEMA_URLCONF = "config.urls_public"
ROOT_URLCONF = "config.urls_tenants"
# One `SET search_path` per request instead of one per cursor.
TENANT_LIMIT_SET_CALLS = True
# New stores replay the DDL recorded from migrating this template schema instead of
# running every migration: see tenants.provisioning.
STORE_TEMPLATE_SCHEMA = "store_template"
DEFAULT_NOT_FOUND_TENANT_VIEW = "tenants.views.store_not_found"

MIDDLEWARE = [
    # Verified custom domains pass the host check; DJANGO_ALLOWED_HOSTS is the platform's.
    "tenants.middleware.VerifiedDomainHostMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Outside the store routing, so the pages it answers by itself (unknown store,
    # suspended store) get the same headers as every other page.
    "config.middleware.SecurityHeadersMiddleware",
    # A body over the upload limit is refused from its Content-Length, unread.
    "catalog.uploads.UploadLimitMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tenants.middleware.StoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # A session is accepted only on the hosts it belongs to (tenants.sessions).
    "tenants.middleware.SessionHostMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "tenants.middleware.StoreStatusMiddleware",
]

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
                "config.context_processors.platform",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

# --- Database -----------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/product_purchase"
    )
}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("TEST", {})["NAME"] = env.str(
    "DJANGO_TEST_DATABASE_NAME", default="test_product_purchase"
)
# Store databases ("cells", tenants/cells.py): the control database above is the cell named
# "default"; STORE_CELLS adds others as `name=postgres://…` (space or comma separated), each
# the alias `cell_<name>`. Unset: one database, as before. STORE_CELL_CAP stores per cell
# (STORE_CELL_CAPS="default=500,b=3000" per cell; 0 takes no new stores), deploy/README.md.
STORE_CELLS: dict[str, str] = {}
for _item in env.str("STORE_CELLS", default="").replace(",", " ").split():
    _name, _, _url = _item.partition("=")
    _name = _name.strip().lower()
    if not _name.isidentifier() or _name == "default" or not _url:
        raise ImproperlyConfigured(
            f"STORE_CELLS: {_item!r} is not name=postgres://… (a name of letters, digits "
            "and _, not 'default')."
        )
    STORE_CELLS[_name] = _url
    DATABASES[f"cell_{_name}"] = {
        **environ.Env.db_url_config(_url),
        "ENGINE": "django_tenants.postgresql_backend",
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"NAME": f"{DATABASES['default']['TEST']['NAME']}_cell_{_name}"},
    }
STORE_CELL_CAP = env.int("STORE_CELL_CAP", default=2000)
STORE_CELL_CAPS = {k: int(v) for k, v in env.dict("STORE_CELL_CAPS", default={}).items()}
# Every set_tenant on the control connection also switches the store's cell connection.
EXTRA_SET_TENANT_METHOD_PATH = "tenants.cells.on_set_tenant"
# django-tenants insists on its router being listed; CellRouter answers first, for every model.
DATABASE_ROUTERS = ("tenants.cells.CellRouter", "django_tenants.routers.TenantSyncRouter")
# Refuse a database reached through a pooler in transaction/statement mode: the schema is a
# session-level search_path (tenants.pooling; deploy/README.md, "Connection pooling").
DATABASE_POOLING_CHECK = env.bool("DJANGO_DATABASE_POOLING_CHECK", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, Celery ------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if TESTING:
    # The suite uses a Redis database of its own (see devtools.devstack), never the app's.
    REDIS_URL = env.str("TEST_REDIS_URL", default="")
if env.str("DJANGO_CACHES", default=""):
    CACHES = {"default": env.cache_url("DJANGO_CACHES")}
elif REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # A cache outage degrades pages instead of failing them.
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if TESTING:
    # Test sessions running side by side share one Redis database; keep their keys apart.
    # A test session's own servers and workers inherit DJANGO_CACHE_PREFIX (tests/live.py).
    CACHES["default"]["KEY_PREFIX"] = "t-" + env.str(
        "DJANGO_CACHE_PREFIX",
        default=f"{env.str('DJANGO_TEST_DATABASE_NAME', default='test')}-{os.getpid()}",
    )
# Host routing reads its cache before any schema is chosen: same store, plain keys.
CACHES["routing"] = {
    **CACHES["default"],
    "KEY_PREFIX": CACHES["default"].get("KEY_PREFIX", "") + "routing",
}
# Cached store pages: plain keys that name the store's schema themselves (tenants.pagecache).
CACHES["pages"] = {
    **CACHES["default"],
    "KEY_PREFIX": CACHES["default"].get("KEY_PREFIX", "") + "pages",
}
# Those pages answered in front of Django (config.edge), when the pages cache is Redis.
PAGE_EDGE = env.bool("DJANGO_PAGE_EDGE", default=True)
# Every other key carries the active schema, so one store's cache never answers another's.
CACHES["default"]["KEY_FUNCTION"] = "django_tenants.cache.make_key"
CACHES["default"]["REVERSE_KEY_FUNCTION"] = "django_tenants.cache.reverse_key"

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL or None)
# Without a broker, tasks run in the request (development without Redis).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL or TESTING)
CELERY_TASK_EAGER_PROPAGATES = True
# A worker killed mid-task leaves the message on the broker: tasks are idempotent.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# An unacknowledged task (its worker died) goes back to the queue after this many seconds;
# longer than any task runs, or a slow task would run twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
}
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="product_purchase")
CELERY_TIMEZONE = "UTC"

# --- Auth ---------------------------------------------------------------------------------
AUTH_USER_MODEL = "sellers.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
}
ACCOUNT_ADAPTER = "sellers.adapters.AccountAdapter"
ACCOUNT_FORMS = {"signup": "sellers.forms.SignupForm"}
ACCOUNT_EMAIL_SUBJECT_PREFIX = env.str("DJANGO_EMAIL_SUBJECT_PREFIX", default="[product_purchase] ")
ACCOUNT_DEFAULT_HTTP_PROTOCOL = PLATFORM_SCHEME
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "sellers:home"
ACCOUNT_LOGOUT_REDIRECT_URL = "/"

# One login for the main domain and every store subdomain: cookies on the parent domain.
# Browsers refuse parent-domain cookies for `localhost` (and custom domains can never
# share them): there the session is per host and sellers.handoff signs the seller in.
SESSION_COOKIE_DOMAIN = (
    env.str(
        "DJANGO_SESSION_COOKIE_DOMAIN",
        default=f".{PLATFORM_DOMAIN}" if "." in PLATFORM_DOMAIN else "",
    )
    or None
)
if SESSION_COOKIE_DOMAIN and SESSION_COOKIE_DOMAIN.lower().lstrip(".") != PLATFORM_DOMAIN:
    # A wider cookie domain would carry the platform's session to hosts it does not serve
    # (a seller's custom domain under the same parent, say).
    raise ImproperlyConfigured(
        f"DJANGO_SESSION_COOKIE_DOMAIN must be .{PLATFORM_DOMAIN} (the platform's own "
        "domain and its store subdomains) or empty."
    )
CSRF_COOKIE_DOMAIN = SESSION_COOKIE_DOMAIN
SESSION_COOKIE_HTTPONLY = env.bool("DJANGO_SESSION_COOKIE_HTTPONLY", default=True)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_TRUSTED_ORIGINS = env.list(
    "DJANGO_CSRF_TRUSTED_ORIGINS",
    default=[
        origin(PLATFORM_DOMAIN, scheme=PLATFORM_SCHEME, port=PLATFORM_PORT),
        origin(f"*.{PLATFORM_DOMAIN}", scheme=PLATFORM_SCHEME, port=PLATFORM_PORT),
    ],
)

# Proxies in front of the app that append to X-Forwarded-For (nginx in deploy/: 1). Rate
# limits and download logs key on the client address they report.
TRUSTED_PROXY_COUNT = env.int("DJANGO_TRUSTED_PROXY_COUNT", default=0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT

# --- Security -----------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = env.bool("DJANGO_SECURE_CONTENT_TYPE_NOSNIFF", default=True)
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# The storefront loads nothing from third parties; Stripe Checkout is a redirect.
CONTENT_SECURITY_POLICY = env.str(
    "DJANGO_CONTENT_SECURITY_POLICY",
    default=(
        "default-src 'self'; img-src 'self' data: blob: https:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; form-action 'self' https: http:; frame-ancestors 'none'; "
        "base-uri 'self'; object-src 'none'"
    ),
)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Email --------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env.str(
    "DJANGO_DEFAULT_FROM_EMAIL", default="product_purchase <noreply@product-purchase.example>"
)
SERVER_EMAIL = env.str("DJANGO_SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
EMAIL_SUBJECT_PREFIX = env.str("DJANGO_EMAIL_SUBJECT_PREFIX", default="[product_purchase] ")
MAILGUN_API_KEY = env.str("DJANGO_MAILGUN_API_KEY", default="")
if MAILGUN_API_KEY:
    EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    ANYMAIL = {
        "MAILGUN_API_KEY": MAILGUN_API_KEY,
        "MAILGUN_SENDER_DOMAIN": required("DJANGO_MAILGUN_SERVER_NAME", ""),
    }
elif env.str("DJANGO_EMAIL_FILE_PATH", default=""):
    # One file per message (the end-to-end tests read the emails a real server sent).
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = env.str("DJANGO_EMAIL_FILE_PATH")
elif env.str("DJANGO_EMAIL_URL", default=""):
    # smtp://user:password@host:587, smtp+tls://…, smtps://…, consolemail://, filemail:///path
    _email = env.email_url("DJANGO_EMAIL_URL")
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST = _email["EMAIL_HOST"] or "localhost"
    EMAIL_PORT = _email["EMAIL_PORT"] or 25
    EMAIL_HOST_USER = _email["EMAIL_HOST_USER"] or ""
    EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"] or ""
    EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
    if _email["EMAIL_FILE_PATH"]:
        EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"]
elif DEBUG or TESTING:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
else:
    raise ImproperlyConfigured("Set DJANGO_MAILGUN_API_KEY or DJANGO_EMAIL_URL in production.")

# --- Storage ------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("DJANGO_MEDIA_ROOT", default=str(BASE_DIR / ".run" / "media")))
MEDIA_URL = "/media/"
AWS_STORAGE_BUCKET_NAME = env.str("DJANGO_AWS_STORAGE_BUCKET_NAME", default="")
AWS_ACCESS_KEY_ID = env.str("DJANGO_AWS_ACCESS_KEY_ID", default="")
AWS_SECRET_ACCESS_KEY = env.str("DJANGO_AWS_SECRET_ACCESS_KEY", default="")
AWS_S3_ENDPOINT_URL = env.str("DJANGO_AWS_S3_ENDPOINT_URL", default="") or None
AWS_S3_REGION_NAME = env.str("DJANGO_AWS_S3_REGION_NAME", default="us-east-1")
# Paid files are never public: every URL is a short-lived signature.
AWS_QUERYSTRING_AUTH = True
AWS_QUERYSTRING_EXPIRE = 600
AWS_DEFAULT_ACL = None
AWS_S3_FILE_OVERWRITE = False
# How local files are delivered when not on S3: "stream" (development) or "nginx"
# (X-Accel-Redirect to the internal location in deploy/nginx).
PROTECTED_MEDIA_DELIVERY = env.str(
    "PROTECTED_MEDIA_DELIVERY", default="stream" if DEBUG else "nginx"
)
PROTECTED_MEDIA_INTERNAL_URL = "/_protected/"
if AWS_STORAGE_BUCKET_NAME:
    _private = {"BACKEND": "catalog.storage.StoreS3Storage", "OPTIONS": {}}
else:
    _private = {"BACKEND": "catalog.storage.StoreFileSystemStorage", "OPTIONS": {}}
STORAGES = {
    "default": _private,
    "private": _private,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# The one upload limit, in MiB ("MB" as Windows and nginx count them; catalog/pdf.py says
# why). Django refuses a bigger request before reading it and stops a bigger file mid-way
# (catalog/uploads.py); nginx's client_max_body_size gets the same PDF_MAX_UPLOAD_MB.
PDF_MAX_UPLOAD_MB = env.int("PDF_MAX_UPLOAD_MB", default=200)
PDF_MAX_UPLOAD_BYTES = PDF_MAX_UPLOAD_MB * 1024 * 1024
FILE_UPLOAD_HANDLERS = [
    "catalog.uploads.LimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
PDF_MAX_PAGES = env.int("PDF_MAX_PAGES", default=5_000)
# A PDF with a broken cross-reference table is rebuilt (a full scan) only up to this size.
PDF_REPAIR_MAX_BYTES = env.int("PDF_REPAIR_MAX_BYTES", default=64 * 1024 * 1024)
# What a PDF may expand to when its streams are decoded (catalog/pdf.py says why): per
# stream, and for the whole file RATIO x its size, within [MIN, MAX].
PDF_DECODED_STREAM_MAX_BYTES = env.int("PDF_DECODED_STREAM_MAX_BYTES", default=256 * 1024 * 1024)
PDF_DECODED_RATIO = env.int("PDF_DECODED_RATIO", default=100)
PDF_DECODED_MIN_BYTES = env.int("PDF_DECODED_MIN_BYTES", default=128 * 1024 * 1024)
PDF_DECODED_MAX_BYTES = env.int("PDF_DECODED_MAX_BYTES", default=2048 * 1024 * 1024)
# Objects: a cross-reference may list at most size // 8 of them (at least this many), and
# the file may hold at most PDF_MAX_OBJECTS; the whole check stops after this many seconds.
PDF_XREF_MIN_ENTRIES = env.int("PDF_XREF_MIN_ENTRIES", default=50_000)
PDF_MAX_OBJECTS = env.int("PDF_MAX_OBJECTS", default=500_000)
PDF_CHECK_MAX_SECONDS = env.float("PDF_CHECK_MAX_SECONDS", default=20.0)
COVER_MAX_UPLOAD_BYTES = env.int("COVER_MAX_UPLOAD_BYTES", default=10 * 1024 * 1024)
# pdfium draws covers in a child process with this address-space limit (catalog/cover.py).
COVER_RENDER_MEMORY_BYTES = env.int("COVER_RENDER_MEMORY_BYTES", default=768 * 1024 * 1024)

# --- Stripe -------------------------------------------------------------------------------
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
# No key and no base: development talks to the local stand-in (devtools/stripe_standin).
STRIPE_STANDIN = not STRIPE_SECRET_KEY or bool(STRIPE_API_BASE)
if not STRIPE_SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured("STRIPE_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    STRIPE_SECRET_KEY = "sk_test_standin"  # noqa: S105 - the local stand-in accepts any test key
    STRIPE_API_BASE = STRIPE_API_BASE or "http://127.0.0.1:12111"
# Each webhook endpoint registered at Stripe has its own signing secret (deploy/README.md):
# the Connect endpoint's (STRIPE_WEBHOOK_SECRET, the older name, is its fallback) and the
# platform account's own. Production needs the Connect one under either name.
STRIPE_CONNECT_WEBHOOK_SECRET = env.str("STRIPE_CONNECT_WEBHOOK_SECRET", default="")
STRIPE_WEBHOOK_SECRET = (
    env.str("STRIPE_WEBHOOK_SECRET", default="")
    if STRIPE_CONNECT_WEBHOOK_SECRET
    else required("STRIPE_WEBHOOK_SECRET", "whsec_standin_dev_secret")
)
STRIPE_ACCOUNT_WEBHOOK_SECRET = env.str("STRIPE_ACCOUNT_WEBHOOK_SECRET", default="")
# The country preselected for a seller's Stripe account when the browser's language
# says none (payments/countries.py).
STRIPE_DEFAULT_COUNTRY = env.str("STRIPE_DEFAULT_COUNTRY", default="US").upper()
STRIPE_WEBHOOK_TOLERANCE = 300
STRIPE_TIMEOUT = env.float("STRIPE_TIMEOUT", default=10.0)
PLATFORM_FEE_PERCENT = Decimal(env.str("PLATFORM_FEE_PERCENT", default="5.0"))
PLATFORM_FEE_FIXED = env.int("PLATFORM_FEE_FIXED", default=30)
# Fixed part per currency where minor units differ in size ("jpy=50,gbp=20").
PLATFORM_FEE_FIXED_OVERRIDES = {
    k.lower(): int(v)
    for k, v in env.dict("PLATFORM_FEE_FIXED_OVERRIDES", default={"jpy": "50"}).items()
}
# The platform default obeys the same bounds as a store's override (one validator).
try:
    for _fixed in (PLATFORM_FEE_FIXED, *PLATFORM_FEE_FIXED_OVERRIDES.values()):
        fee_validate(fee_percent=PLATFORM_FEE_PERCENT, fee_fixed=_fixed)
except ValidationError as _exc:
    raise ImproperlyConfigured(f"PLATFORM_FEE_*: {'; '.join(_exc.messages)}") from None
# Refunds from the dashboard give the platform fee back to the seller (Stripe's
# refund_application_fee): the buyer got nothing, so the platform keeps nothing.
PLATFORM_REFUND_APPLICATION_FEE = env.bool("PLATFORM_REFUND_APPLICATION_FEE", default=True)

# --- i18n, logging ------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Observability: logs, metrics, errors (config/logs.py, metrics.py, sentry.py) -----------
# One line per event: JSON in production, plain in development; both carry the request id,
# the store's schema and the Stripe event id, and both are scrubbed of emails and tokens.
from config.logs import logging_config  # noqa: E402

LOG_FORMAT = env.str("DJANGO_LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = logging_config(
    json=LOG_FORMAT == "json", level=env.str("DJANGO_LOG_LEVEL", default="INFO")
)
# Celery's worker keeps Django's logging (JSON lines, ids) instead of installing its own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# X-Request-ID on every response, request metrics, /metrics (outermost, so it times all).
METRICS_ENABLED = env.str("DJANGO_METRICS", default="on").lower() not in ("off", "0", "false")
if METRICS_ENABLED:
    MIDDLEWARE.insert(0, "config.observability.RequestObservabilityMiddleware")
# /metrics on the main domain answers a bearer token or a peer in these networks (a request
# a proxy forwarded never counts as from the network). Neither set: /metrics is a 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = [
    ipaddress.ip_network(net.strip(), strict=False)
    for net in env.list(
        "METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"] if DEBUG else []
    )
    if net.strip()
]
# Internal host names a scraper uses to reach the app directly (compose: "django").
METRICS_HOSTS = [h.lower() for h in env.list("METRICS_HOSTS", default=[])]
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from config.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="development" if DEBUG else "production"),
        release=env.str("SENTRY_RELEASE", default=""),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )

# Development and tests serve static files straight from the app folders.
WHITENOISE_USE_FINDERS = DEBUG or TESTING
WHITENOISE_AUTOREFRESH = DEBUG or TESTING
if WHITENOISE_USE_FINDERS:
    import warnings

    warnings.filterwarnings("ignore", message="No directory at", module="whitenoise.base")
