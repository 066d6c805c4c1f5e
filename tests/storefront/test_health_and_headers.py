import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_cache_and_broker(client):
    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True
    assert set(data["checks"]) == {"database", "cache", "broker"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_says_503_when_the_cache_is_down(client, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}

    response = client.get(reverse("healthz"))

    assert response.status_code == 503 and response.json()["checks"]["cache"]["ok"] is False


def test_pages_carry_a_content_security_policy_without_inline_scripts(client):
    response = client.get(reverse("home"))

    policy = response["Content-Security-Policy"]
    script_src = next(part for part in policy.split(";") if part.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
