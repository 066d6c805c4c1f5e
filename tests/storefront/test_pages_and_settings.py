import os
import re
import secrets
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
    "PAYMENT_GATEWAY": "stripe",
    "STRIPE_SECRET_KEY": "sk_live_example",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_example",
    "STRIPE_WEBHOOK_SECRET": "whsec_example",
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


def test_check_deploy_fails_on_the_demo_gateway_unless_the_store_is_a_demo_on_purpose():
    env = {k: v for k, v in PRODUCTION_ENV.items() if not k.startswith(("PAYMENT", "STRIPE"))}

    # The default fail level: an error, not a warning an operator may scroll past.
    forgotten = run_manage("check", "--deploy", env=env)
    demo_store = run_manage("check", "--deploy", env={**env, "DEMO_STORE": "true"})
    make_run = run_manage("check", env={"DEBUG": "true"})

    assert forgotten.returncode != 0
    assert "payments.E001" in forgotten.stderr and "DEMO_STORE=true" in forgotten.stderr
    assert demo_store.returncode == 0, demo_store.stdout + demo_store.stderr
    assert make_run.returncode == 0, make_run.stdout + make_run.stderr


# --- docs/deploy.md: the settings table and the sample environment ---------------------

DEPLOY_GUIDE = ROOT / "docs" / "deploy.md"
# env("NAME", ...), env.str("NAME", ...), env.db(\n "NAME" ...): every variable settings read.
_ENV_READ = re.compile(r"\benv(?:\.\w+)?\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']")


def variables_read_by_settings() -> set[str]:
    return set(_ENV_READ.findall((ROOT / "storefront" / "settings.py").read_text()))


def documented_variables() -> set[str]:
    """The first column of the deploy guide's tables: | `NAME` | default | meaning |."""
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", DEPLOY_GUIDE.read_text(), re.MULTILINE))


def sample_environment() -> dict[str, str]:
    """The deploy guide's /etc/storefront/env block, commented lines left out."""
    block = re.search(r"```sh\n# /etc/storefront/env\n(.*?)```", DEPLOY_GUIDE.read_text(), re.S)
    assert block, "docs/deploy.md has no /etc/storefront/env sample"
    pairs = (line.split("=", 1) for line in block[1].splitlines() if line and line[0] != "#")
    return dict(pairs)


def test_every_setting_read_from_the_environment_is_in_the_deploy_guide_s_table():
    read = variables_read_by_settings()

    assert len(read) > 40  # the pattern still finds them
    assert read - documented_variables() == set(), "add these to the table in docs/deploy.md"


def test_the_sample_environment_sets_only_variables_the_settings_read():
    assert set(sample_environment()) - variables_read_by_settings() == set()


def test_check_deploy_is_clean_with_the_deploy_guide_s_sample_environment():
    env = {**sample_environment(), "SECRET_KEY": secrets.token_urlsafe(64)}

    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
