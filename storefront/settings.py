"""Storefront settings: one file, read from the environment.

Every value has an embedded default so ``make run`` works on a fresh machine:
SQLite and files under ``var/``, e-mail to the console, Celery eager, the
``demo`` payment gateway. Production sets ``DATABASE_URL``, ``REDIS_URL``,
``EMAIL_URL``, ``SECRET_KEY``, ``ALLOWED_HOSTS``, ``HTTPS_ONLY=true`` and the
``STRIPE_*`` keys (see docs/deploy.md).
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from core.logs import logging_config
from core.money import MIN_PAID_PRICE_CENTS, parse_price
from core.object_storage import ObjectStorage
from core.ratelimit import parse_rates


def _rates(text: str) -> str:
    """A rate limit, checked now: a typo stops the start instead of every limited request."""
    parse_rates(text)
    return text


def _credit_packs(text: str) -> dict[int, int]:
    """ "1:15.00,3:40.00" -> {1: 1500, 3: 4000}."""
    packs = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        credits, _, price = pair.partition(":")
        packs[int(credits)] = parse_price(price)
    if not packs or min(packs) < 1:
        raise ValueError("CREDIT_PACKS: each pack needs at least 1 credit")
    for credits, price in packs.items():
        _check_credit_value("CREDIT_PACKS", credits, price)
    return dict(sorted(packs.items()))


def _check_credit_value(name: str, credits: int, price_cents: int) -> None:
    """Every credit must be worth at least the card minimum (MIN_PAID_PRICE_CENTS): a lot of N
    credits for C cents gives each C // N (the last one the rest), so a pack or plan
    below that would sell books for less than any reader may pay."""
    if credits < 1 or price_cents // credits < MIN_PAID_PRICE_CENTS:
        raise ValueError(
            f"{name}: {credits} credit(s) for {price_cents} cents makes a credit worth less "
            f"than {MIN_PAID_PRICE_CENTS} cents, the smallest price a reader may pay"
        )


env = environ.Env()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))

# --- Core -------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=False)
# The fallback key is deliberately named "django-insecure-…": `check --deploy`
# flags it, so a production environment without SECRET_KEY cannot pass.
SECRET_KEY = env.str(
    "SECRET_KEY", default="django-insecure-storefront-local-development-key-do-not-deploy"
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The public origin used in links inside e-mails sent from tasks (no request there).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
STORE_NAME = env.str("STORE_NAME", default="Storefront")

INSTALLED_APPS = [
    "storefront.admin_site.StoreAdminConfig",  # django.contrib.admin, safer (admin_site.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "csp",
    "allauth",
    "accounts.signin_app.SignInConfig",  # allauth.account, named for the admin
    "core.apps.CoreConfig",
    "accounts",
    "catalog",
    "library",
    "payments",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from our static files
    "api",
    "webhooks",
    "demo",
]

MIDDLEWARE = [
    # First: every response and every log line of the request carries its id.
    "core.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Forgets the reader's cached pages after a request that may have changed them
    # (not a GET, or the session modified): core/reader_sources.py.
    "core.reader_sources.ReaderPagesMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.csp.CSPMiddleware",
    # Before any view: text the database cannot store is a 400 here, in one
    # place. After auth and CSP so the 400 page renders like any page, and after
    # CSRF, whose process_view reads the form first. docs/architecture.md.
    "core.input_guard.InputGuardMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "storefront.urls"
WSGI_APPLICATION = "storefront.wsgi.application"

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
                "storefront.context_processors.store",
                "payments.context_processors.payments",
            ],
        },
    },
]
# Django's form renderer, with the <input> widgets written without three templates
# each (core/forms_renderer.py; a changed widget template is rendered as a template).
FORM_RENDERER = "core.forms_renderer.InputsRenderer"

# --- Data -------------------------------------------------------------------

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'storefront.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A fresh clone has no var/: create the database's folder (and say clearly
    # which one when it cannot be), rather than sqlite3's "unable to open database file".
    _sqlite_dir = Path(DATABASES["default"]["NAME"]).parent
    try:
        _sqlite_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(
            f"Cannot create {_sqlite_dir} for the SQLite database ({exc}). "
            "Set VAR_DIR (or DATABASE_URL) to somewhere writable."
        ) from exc
    # The embedded default serves parallel requests too (two tabs paying, a double
    # click on refund): readers never block the writer (WAL), a transaction takes
    # the write lock when it begins (IMMEDIATE), so two never deadlock upgrading
    # from a read, and a writer waits up to 20 s for another instead of failing
    # with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Persistent connections by default: opening a PostgreSQL connection per request
    # cost more than most pages (bench/: 75-107 req/s instead of 300-900). Checked
    # before reuse, so a connection the server dropped is replaced, not an error.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Parameters are bound on the server (psycopg's server-side binding, not Django's
    # default of quoting them into the SQL in Python), and psycopg prepares a statement
    # once a connection has run it 5 times: PostgreSQL parses and plans each of a
    # purchase's or a page's statements once per connection, not on every request.
    # A purchase costs PostgreSQL half the CPU (bench/README.md). Plans come from the
    # tables' statistics: keep autovacuum on (PostgreSQL's default) or ANALYZE after
    # bulk loads (docs/deploy.md). Each connection keeps at most 100 (prepared_max).
    DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 5
    if env.bool("PGBOUNCER", default=False):
        # Behind PgBouncer in transaction pooling mode, a server connection is not
        # ours between transactions: no server-side cursors, no prepared statements
        # (parameters are still bound on the server: an unnamed statement is one
        # round trip, which transaction pooling carries).
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
DATABASES["default"].setdefault(
    "CONN_MAX_AGE",
    env.int(
        "CONN_MAX_AGE",
        default=60 if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" else 0,
    ),
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="storefront"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Files ------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = env.str("MEDIA_URL", default="/media/")
MEDIA_ROOT = VAR_DIR / "media"
# Book files never live under MEDIA_ROOT: they are served by views that check
# ownership (library app), so the "private" storage has no public URL.
PRIVATE_ROOT = VAR_DIR / "private"
FILE_UPLOAD_PERMISSIONS = 0o640

STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT, "base_url": MEDIA_URL},
    },
    "private": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": PRIVATE_ROOT, "base_url": None},
    },
    "staticfiles": {
        # Hashed names + gzip/brotli, served with far-future headers by WhiteNoise.
        # Needs `collectstatic` (make run / make test do it); plain storage while DEBUG.
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "core.staticfiles.StaticFilesStorage"
        ),
    },
}

# Object storage (S3-compatible) for book files and covers, when configured:
# STORAGE_URL=s3://bucket[/prefix]?endpoint_url=…&region=…&addressing_style=path|virtual
# or django-storages' own AWS_STORAGE_BUCKET_NAME with AWS_S3_ENDPOINT_URL,
# AWS_S3_REGION_NAME, AWS_S3_ADDRESSING_STYLE, AWS_S3_CUSTOM_DOMAIN. Credentials come
# from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or the machine's role), read by boto3.
# See core/object_storage.py. Unset: local files as above.
STORAGE_URL = env.str("STORAGE_URL", default="")
if STORAGE_URL:
    OBJECT_STORAGE = ObjectStorage.from_url(STORAGE_URL)
elif env.str("AWS_STORAGE_BUCKET_NAME", default=""):
    OBJECT_STORAGE = ObjectStorage(
        bucket=env.str("AWS_STORAGE_BUCKET_NAME"),
        prefix=env.str("AWS_LOCATION", default="").strip("/"),
        endpoint_url=env.str("AWS_S3_ENDPOINT_URL", default=""),
        region=env.str("AWS_S3_REGION_NAME", default=""),
        addressing_style=env.str("AWS_S3_ADDRESSING_STYLE", default=""),
        media_domain=env.str("AWS_S3_CUSTOM_DOMAIN", default=""),
    )
else:
    OBJECT_STORAGE = None
# How long a signed download URL of the private storage stays valid, in seconds.
PRIVATE_FILES_URL_EXPIRE = env.int("PRIVATE_FILES_URL_EXPIRE", default=60)
if OBJECT_STORAGE:
    STORAGES.update(OBJECT_STORAGE.storages(url_expire=PRIVATE_FILES_URL_EXPIRE))

# --- Accounts ---------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
# Django's and allauth's backends, reading the logged-in user from the cache
# (accounts/backends.py).
AUTHENTICATION_BACKENDS = [
    "accounts.backends.ModelBackend",
    "accounts.backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
# Mandatory in production; `make run` sets it to "optional" so the demo needs no inbox.
ACCOUNT_EMAIL_VERIFICATION = env.str(
    "ACCOUNT_EMAIL_VERIFICATION", default="optional" if DEBUG else "mandatory"
)
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_EMAIL_SUBJECT_PREFIX = f"[{STORE_NAME}] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if env.bool("HTTPS_ONLY", default=False) else "http"
# allauth's defaults, spelled out because they are part of our security story:
# failed logins are limited per IP and per account; resets per IP and per address.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "confirm_email": "1/3m/key",
    "change_password": "5/m/user",
}
ACCOUNT_FORMS = {"login": "accounts.forms.LoginForm", "signup": "accounts.forms.SignupForm"}
ACCOUNT_PREVENT_ENUMERATION = True  # allauth's default; see docs/architecture.md "Accounts"
# One-time sign-in links (accounts/login_links.py), e-mailed after a purchase with
# only an e-mail address: how long one works, in seconds (3 days).
LOGIN_LINK_MAX_AGE = env.int("LOGIN_LINK_MAX_AGE", default=3 * 86400)

# --- Abuse limits -----------------------------------------------------------
# The client's IP is REMOTE_ADDR unless our own proxies say otherwise: set the
# number of proxies in front of the app that append to X-Forwarded-For (nginx: 1),
# or a header they always overwrite. Everything that limits by IP uses
# core.ratelimit.client_ip, allauth included (accounts.adapter).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
TRUSTED_CLIENT_IP_HEADER = env.str("TRUSTED_CLIENT_IP_HEADER", default="") or None
# Our own limits (core/ratelimit.py), on top of allauth's above:
# amount/period/scope, scope "ip" or "account". Over a limit: a 429 page, nothing done.
RATE_LIMITS = {
    # Sign-up e-mails to one address (allauth limits sign-ups per IP).
    "signup": _rates(env.str("RATE_LIMIT_SIGNUP", default="5/h/account")),
    "refund": _rates(env.str("RATE_LIMIT_REFUND", default="30/h/ip,10/h/account")),
    # Failed logins to the Django admin (allauth does not cover /admin/login/).
    # Per API key (core.ratelimit's "account" is the key): 429 with Retry-After.
    "api": _rates(env.str("RATE_LIMIT_API", default="120/m/account")),
    "admin_login": _rates(env.str("RATE_LIMIT_ADMIN_LOGIN", default="10/m/ip,5/5m/account")),
    # Co-author invitations sent (each one e-mails an address the author typed).
    # New sign-in links asked for by e-mail address (accounts.views.login_link_request).
    "login_link": _rates(env.str("RATE_LIMIT_LOGIN_LINK", default="10/h/ip,3/h/account")),
    "invite": _rates(env.str("RATE_LIMIT_INVITE", default="30/h/account")),
    # Cart checkouts by visitors who are not signed in (each may make an account for
    # the address typed): per IP and per address (payments/cart_views.checkout).
    "guest_checkout": _rates(env.str("RATE_LIMIT_GUEST_CHECKOUT", default="30/h/ip,10/h/account")),
    # Gift and team-seat claims (each may make an account for the address the link went to).
    "gift_claim": _rates(env.str("RATE_LIMIT_GIFT_CLAIM", default="30/h/ip")),
    # "E-mail the author" messages sent (catalog/contact.py), per sender and per IP.
    "contact_author": _rates(
        env.str("RATE_LIMIT_CONTACT_AUTHOR", default="5/h/account,20/d/account,20/h/ip")
    ),
    # Books sent to a reader's e-reader (library/ereader.py): each is a large e-mail.
    "ereader_send": _rates(env.str("RATE_LIMIT_EREADER_SEND", default="10/h/account,30/h/ip")),
    # Verification codes e-mailed to an e-reader address (saving or re-sending one).
    "ereader_code": _rates(env.str("RATE_LIMIT_EREADER_CODE", default="5/h/account,20/h/ip")),
}

# --- E-mail -----------------------------------------------------------------

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
globals().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default=f"{STORE_NAME} <books@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

# --- Celery -----------------------------------------------------------------

CELERY_BROKER_URL = REDIS_URL or "memory://"
if CELERY_BROKER_URL.startswith("redis://"):  # one Redis client per channel (core/broker.py)
    CELERY_BROKER_TRANSPORT = "core.broker:Transport"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="storefront")
# Bulk work that may wait behind a burst of sales (every owner's stamped copies) goes to
# "<queue>.bulk" (storefront/celery.py: route_task), so receipts never queue behind it.
# A worker started without -Q consumes both; a deployment may give the bulk queue
# workers of its own at a lower CPU priority (docs/deploy.md).
CELERY_TASK_QUEUES = (
    Queue(CELERY_TASK_DEFAULT_QUEUE),
    Queue(f"{CELERY_TASK_DEFAULT_QUEUE}.bulk"),
)
CELERY_TASK_ROUTES = ("storefront.celery.route_task",)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# acks_late on Redis: a task whose worker died (SIGKILL, OOM, lost host) goes back to
# the queue once unacknowledged for this long. It must exceed the longest task and
# the longest retry countdown (10 min for e-mail), or a live task runs twice.
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # Look for such tasks every tenth of that, at most every 10 s (kombu: 100 s).
    "unacked_restore_interval": max(1, min(10, CELERY_VISIBILITY_TIMEOUT // 10)),
    "unacked_restore_throttle": 1,
}
CELERY_TIMEZONE = "UTC"
# Celery's Django fixup closes every database connection before and after each task
# (Celery 5.5+), so a worker opened a new PostgreSQL connection per task: a new
# server process with cold caches, more CPU than a receipt's own work. With a reuse
# count it leaves them alone, and storefront/celery.py applies Django's own rule of a
# request around each task instead: CONN_MAX_AGE, CONN_HEALTH_CHECKS, and a broken
# or mid-transaction connection dropped.
CELERY_DB_REUSE_MAX = 2**62

# --- Payments ---------------------------------------------------------------

PAYMENT_GATEWAY = env.str("PAYMENT_GATEWAY", default="demo")
# The demo gateway outside DEBUG only when this says the store is a demo on purpose
# (`check --deploy` fails otherwise: payments/checks.py).
DEMO_STORE = env.bool("DEMO_STORE", default=False)
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")  # localstripe in tests
# How long a webhook waits for a row lock another request holds before answering 503
# (PostgreSQL lock_timeout), so the gateway retries instead of the request hanging.
WEBHOOK_LOCK_TIMEOUT_MS = env.int("WEBHOOK_LOCK_TIMEOUT_MS", default=3000)
# Seconds to wait for each answer from Stripe. The client tries 3 times (2 retries,
# same idempotency key), so a call that cannot get through gives up after about
# 3 x 8 + 1.5 s: within gunicorn's 30 s, since refunds call Stripe in the request.
STRIPE_TIMEOUT = env.float("STRIPE_TIMEOUT", default=8.0)
REFUND_WINDOW_DAYS = 60

# --- Internationalisation ---------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security ---------------------------------------------------------------

HTTPS_ONLY = env.bool("HTTPS_ONLY", default=False)
# Sessions live in the database (they survive a cache flush) and are read from
# the cache: a logged-in page costs no session query. accounts.sessions is
# Django's cached_db that reads the signed-in user's cached row in the same round trip.
SESSION_ENGINE = "accounts.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if HTTPS_ONLY:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
if env.bool("BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp): no inline scripts anywhere; Stripe.js from
# Stripe, as its Payment Element requires, and only when Stripe is the gateway
# (the demo gateway's pages load nothing from another site).
_STRIPE = PAYMENT_GATEWAY == "stripe"
_STRIPE_JS = ["https://js.stripe.com"] if _STRIPE else []
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", *_STRIPE_JS],
        "frame-src": [*_STRIPE_JS, "https://hooks.stripe.com"] if _STRIPE else ["'none'"],
        "connect-src": ["'self'", *(["https://api.stripe.com"] if _STRIPE else [])],
        "img-src": [
            "'self'",
            "data:",
            *(OBJECT_STORAGE.media_origins() if OBJECT_STORAGE else []),
            *env.list("CSP_IMG_HOSTS", default=[]),
        ],
        # Inline style attributes (the Django admin uses some); never inline scripts.
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# The REST API (api/, /api/v1/): personal API keys only, errors as RFC 9457 problems.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.PerKeyThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.problems.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": f"{STORE_NAME} API",
    "DESCRIPTION": "Your books, releases, sales and earnings. Authenticate with a personal "
    "API key: `Authorization: Bearer <key>`. Errors are RFC 9457 problem details.",
    "VERSION": "v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
}

# One line per record, each with the request id (core/logs.py); JSON for log
# shippers in production, text for people at a terminal.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))

# Errors to Sentry, only when a DSN is set (nothing is imported otherwise).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from core.sentry import init_sentry

    init_sentry(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="production"),
        release=env.str("SENTRY_RELEASE", default="") or None,
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )

# --- Catalog ----------------------------------------------------------------

MAX_BOOK_FILE_BYTES = env.int("MAX_BOOK_FILE_BYTES", default=200 * 1024 * 1024)
MAX_IMAGE_BYTES = env.int("MAX_IMAGE_BYTES", default=5 * 1024 * 1024)
MAX_PHOTO_BYTES = env.int("MAX_PHOTO_BYTES", default=2 * 1024 * 1024)
# Covers and photos are re-encoded (catalog/images.py): more pixels than this are
# refused before decoding (decompression bombs); larger sides are scaled down.
MAX_IMAGE_PIXELS = env.int("MAX_IMAGE_PIXELS", default=40_000_000)
IMAGE_MAX_SIDE = env.int("IMAGE_MAX_SIDE", default=3000)
# The most a reader may pay for one book, and the top of the price slider's range.
MAX_PRICE_CENTS = env.int("MAX_PRICE_CENTS", default=500_00)
CREDITS_ENABLED = env.bool("CREDITS_ENABLED", default=True)
CATALOG_PAGE_SIZE = 24

# --- Library ----------------------------------------------------------------

# How protected downloads reach the reader: "django" (stream), "x-accel" (nginx) or
# "redirect" (signed URL of remote storage; the default with object storage).
# See catalog/files.py.
PRIVATE_FILES_SERVE = env.str(
    "PRIVATE_FILES_SERVE", default="redirect" if OBJECT_STORAGE else "django"
)
if PRIVATE_FILES_SERVE not in ("django", "x-accel", "redirect"):
    raise ValueError("PRIVATE_FILES_SERVE must be django, x-accel or redirect")
if PRIVATE_FILES_SERVE == "redirect" and not OBJECT_STORAGE:
    raise ValueError("PRIVATE_FILES_SERVE=redirect needs object storage (STORAGE_URL)")
if PRIVATE_FILES_SERVE == "x-accel" and OBJECT_STORAGE:
    raise ValueError("PRIVATE_FILES_SERVE=x-accel serves local files; use redirect with S3")
PRIVATE_FILES_ACCEL_PREFIX = env.str("PRIVATE_FILES_ACCEL_PREFIX", default="/_private/")
# E-mailed download links stay valid this long (and only while the reader owns the book).
DOWNLOAD_LINK_MAX_AGE = env.int("DOWNLOAD_LINK_MAX_AGE", default=14 * 24 * 3600)
UPDATE_EMAIL_CHUNK = env.int("UPDATE_EMAIL_CHUNK", default=500)
# Buyer-stamped files (library/stamping.py): owners per re-stamping task after a release;
# the largest original stamped inside a download request (a larger one is queued and the
# reader sees "preparing your copy"); a claim older than this is a dead worker's.
STAMP_CHUNK = env.int("STAMP_CHUNK", default=200)
STAMP_INLINE_MAX_BYTES = env.int("STAMP_INLINE_MAX_BYTES", default=64 * 1024 * 1024)
STAMP_STALE_SECONDS = env.int("STAMP_STALE_SECONDS", default=300)
LIBRARY_PAGE_SIZE = 24
# Send to e-reader (library/ereader.py): the largest EPUB we e-mail. Amazon's
# Send-to-Kindle takes e-mails up to 50 MB; the attachment grows by a third in
# base64, so the file itself must stay under about 36 MB to fit.
EREADER_MAX_BYTES = env.int("EREADER_MAX_BYTES", default=36 * 1024 * 1024)
# A verification code for an e-reader address: how long it is good, and how many
# wrong tries it takes before a new one must be asked for.
EREADER_CODE_MINUTES = env.int("EREADER_CODE_MINUTES", default=30)
EREADER_CODE_ATTEMPTS = env.int("EREADER_CODE_ATTEMPTS", default=5)

# --- Refunds ----------------------------------------------------------------

# More than this many refunds for one reader within the period go to manual review.
REFUND_AUTO_LIMIT = env.int("REFUND_AUTO_LIMIT", default=3)
REFUND_LIMIT_PERIOD_DAYS = env.int("REFUND_LIMIT_PERIOD_DAYS", default=90)
# Gateway calls a refund may make on its own (Celery beat retries failed ones).
REFUND_MAX_ATTEMPTS = env.int("REFUND_MAX_ATTEMPTS", default=5)

# --- Payouts ----------------------------------------------------------------

PAYOUT_MINIMUM_CENTS = env.int("PAYOUT_MINIMUM_CENTS", default=50_00)

# --- Credits and the Reader Membership -----------------------------------------
# One credit buys any one book that is not free. Prices are dollars ("40.00"),
# parsed by core.money like every other price. See payments/credits.py.

# Packs on sale, "credits:price" pairs.
CREDIT_PACKS = _credit_packs(env.str("CREDIT_PACKS", default="1:15.00,3:40.00,10:120.00"))
MEMBERSHIP_PLANS = {
    "monthly": {
        "price_cents": parse_price(env.str("MEMBERSHIP_MONTHLY_PRICE", default="12.99")),
        "credits": env.int("MEMBERSHIP_MONTHLY_CREDITS", default=1),
        "months": 1,
        # The Stripe Price (or legacy Plan) id of the plan, when PAYMENT_GATEWAY=stripe.
        "stripe_price": env.str("STRIPE_MEMBERSHIP_MONTHLY_PRICE", default=""),
    },
    "annual": {
        "price_cents": parse_price(env.str("MEMBERSHIP_ANNUAL_PRICE", default="129.00")),
        "credits": env.int("MEMBERSHIP_ANNUAL_CREDITS", default=12),
        "months": 12,
        "stripe_price": env.str("STRIPE_MEMBERSHIP_ANNUAL_PRICE", default=""),
    },
}
for _name, _plan in MEMBERSHIP_PLANS.items():
    _check_credit_value(f"MEMBERSHIP_{_name.upper()}", _plan["credits"], _plan["price_cents"])
# Unused membership credits roll over up to this many; the oldest beyond it expire
# when a new period's credits arrive. Bought packs never expire.
MEMBERSHIP_ROLLOVER_CAP = env.int("MEMBERSHIP_ROLLOVER_CAP", default=12)

CELERY_BEAT_SCHEDULE = {
    "renew-memberships": {"task": "payments.tasks.renew_memberships", "schedule": 3600},
    # The 1st of each month (UTC): one batch per calendar month; a rerun adds nothing.
    "monthly-payouts": {
        "task": "payments.tasks.create_monthly_payouts",
        "schedule": crontab(day_of_month=1, hour=6, minute=0),
    },
    "expire-stale-orders": {"task": "payments.tasks.expire_stale_orders", "schedule": 3600},
}
# Yesterday (UTC) against the gateways, once the day is over (`reconcile_gateway`).
CELERY_BEAT_SCHEDULE["retry-failed-refunds"] = {
    "task": "payments.tasks.retry_failed_refunds",
    "schedule": 15 * 60,
}
CELERY_BEAT_SCHEDULE["reconcile-gateways"] = {
    "task": "payments.tasks.reconcile_gateways",
    "schedule": crontab(hour=2, minute=30),
}
# Manuscript builds whose worker died stop showing "rendering" (catalog/manuscript.py).
CELERY_BEAT_SCHEDULE["fail-stale-builds"] = {
    "task": "catalog.tasks.fail_stale_builds",
    "schedule": 600,
}
# Deleted manuscript chapters stay restorable for 30 days, then go for good.
CELERY_BEAT_SCHEDULE["purge-deleted-chapters"] = {
    "task": "catalog.tasks.purge_deleted_chapters",
    "schedule": crontab(hour=3, minute=15),
}
# A release published while the broker refused its fan-out is announced later.
CELERY_BEAT_SCHEDULE["announce-missed-releases"] = {
    "task": "library.tasks.announce_missed_releases",
    "schedule": 600,
}
# Book page views: cache counters copied into catalog.BookDailyStats (catalog/stats.py).
# Book page views a web worker holds before adding them to the shared counters
# (catalog/stats.py): one cache round trip per second per worker instead of one per view.
BOOK_VIEWS_PUSH_SECONDS = env.float("BOOK_VIEWS_PUSH_SECONDS", default=0 if DEBUG else 1.0)
CELERY_BEAT_SCHEDULE["flush-book-views"] = {
    "task": "catalog.tasks.flush_book_views",
    "schedule": 300,
}
# Gifts whose delivery day came and no queued task delivered (payments/gift_delivery.py).
CELERY_BEAT_SCHEDULE["deliver-due-gifts"] = {
    "task": "payments.tasks.deliver_due_gifts",
    "schedule": 300,
}
CELERY_BEAT_SCHEDULE["requeue-stuck-emails"] = {
    "task": "core.tasks.requeue_stuck_emails",
    "schedule": 600,
}
# Outgoing webhooks (webhooks/): sent by Celery after commit, retried with backoff
# (doubling from the base, capped, with jitter) for WEBHOOKS_RETRY_FOR_SECONDS; an
# endpoint failing that long is disabled. Loopback targets (and plain http to them)
# only when allowed: under DEBUG, in tests, never in production.
WEBHOOKS_ALLOW_LOOPBACK = env.bool("WEBHOOKS_ALLOW_LOOPBACK", default=DEBUG)
WEBHOOKS_TIMEOUT_SECONDS = env.float("WEBHOOKS_TIMEOUT_SECONDS", default=5.0)
WEBHOOKS_RETRY_BASE_SECONDS = env.float("WEBHOOKS_RETRY_BASE_SECONDS", default=30.0)
WEBHOOKS_RETRY_MAX_SECONDS = env.float("WEBHOOKS_RETRY_MAX_SECONDS", default=6 * 3600.0)
WEBHOOKS_RETRY_FOR_SECONDS = env.int("WEBHOOKS_RETRY_FOR_SECONDS", default=3 * 24 * 3600)
CELERY_BEAT_SCHEDULE["send-due-webhooks"] = {
    "task": "webhooks.tasks.send_due_webhooks",
    "schedule": 60,
}
# Backoff of e-mail retries: 4 s, 8 s, 16 s, ... (tests with a real worker make it short).
EMAIL_RETRY_BASE_SECONDS = env.float("EMAIL_RETRY_BASE_SECONDS", default=4.0)

# --- Manuscripts --------------------------------------------------------------

MANUSCRIPT_ZIP_MAX_BYTES = env.int("MANUSCRIPT_ZIP_MAX_BYTES", default=20 * 1024 * 1024)
# Uncompressed total: refuses zip bombs.
MANUSCRIPT_UNZIPPED_MAX_BYTES = env.int("MANUSCRIPT_UNZIPPED_MAX_BYTES", default=100 * 1024 * 1024)
