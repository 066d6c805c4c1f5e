import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def test_home_page_has_the_store_chrome(client):
    page = client.get(reverse("home")).content.decode()

    assert '<a class="brand" href="/">Storefront</a>' in page
    assert 'role="search"' in page and 'name="q"' in page
    assert "Log in" in page and "Sign up" in page
    assert 'name="viewport"' in page


def test_unknown_page_is_a_plain_404(client):
    assert client.get("/no-such-page/").status_code == 404


PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 20 + "a-long-random-production-secret-value-1234567890",
    "ALLOWED_HOSTS": "books.example.com",
    "DATABASE_URL": "sqlite:////tmp/storefront-deploy-check.sqlite3",
    "HTTPS_ONLY": "true",
    "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example.com:587",
}


def run_manage(*args, env):
    # A clean environment: nothing from the test run (DJANGO_ALLOW_ASYNC_UNSAFE, CI's
    # DATABASE_URL, ...) may leak into what production would see.
    full_env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_a_production_environment():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_without_a_real_secret_key_and_https():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k not in {"SECRET_KEY", "HTTPS_ONLY"}}

    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode != 0
    assert "security.W009" in result.stderr + result.stdout  # insecure SECRET_KEY
    assert "security.W004" in result.stderr + result.stdout  # no HSTS
