"""Settings of the bare floor: Django's own basic middleware and nothing of the product.

Only what a new project would keep: security, sessions, common and CSRF
middleware (no auth, messages, clickjacking, CSP, WhiteNoise, allauth or the
product's own middleware), the DjangoTemplates backend with the request context
processor, and the bench database. It reads the same environment bench/run sets
for the product (DATABASE_URL, CONN_MAX_AGE, SECRET_KEY, ALLOWED_HOSTS,
HTTPS_ONLY, BEHIND_PROXY), so both serve under the same production-like terms.
"""

import os
from pathlib import Path

import environ

BENCH_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1").split(",")

# sessions: SessionMiddleware needs its app (the product's migrations made the
# django_session table); bench.bare: the unmanaged model of the floor's query.
INSTALLED_APPS = ["django.contrib.sessions", "bench.bare"]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]

ROOT_URLCONF = "bench.bare.urls"
WSGI_APPLICATION = "bench.bare.wsgi.application"

DATABASES = {"default": environ.Env.db_url_config(os.environ["DATABASE_URL"])}
DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("CONN_MAX_AGE", "0"))

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The product floor's template, so both floors render the same bytes.
        "DIRS": [BENCH_DIR / "templates"],
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The same transport security as the product under HTTPS_ONLY behind a proxy
# (Django's SecurityMiddleware settings only).
if os.environ.get("HTTPS_ONLY", "").lower() in {"1", "true", "yes", "on"}:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
if os.environ.get("BEHIND_PROXY", "").lower() in {"1", "true", "yes", "on"}:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
