"""/healthz: is this instance able to serve? Database, cache and broker, each timed."""

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from core.logs import get_request_id

log = logging.getLogger(__name__)


def _check(fn) -> dict:
    started = time.monotonic()
    try:
        fn()
    except Exception as exc:  # any failure is the answer we report
        return {
            "ok": False,
            "error": type(exc).__name__,
            "ms": round((time.monotonic() - started) * 1000),
        }
    return {"ok": True, "ms": round((time.monotonic() - started) * 1000)}


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _cache():
    cache.set("healthz", "1", 10)
    if cache.get("healthz") != "1":
        raise RuntimeError("cache did not return what it stored")


def _broker():
    if not settings.REDIS_URL:
        return  # eager Celery: no broker to ask
    from storefront.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


@never_cache
def healthz(request):
    checks = {"database": _check(_database), "cache": _check(_cache), "broker": _check(_broker)}
    healthy = all(c["ok"] for c in checks.values())
    if not healthy:
        failing = sorted(name for name, check in checks.items() if not check["ok"])
        log.warning("healthz: unhealthy (%s)", ", ".join(failing), extra={"checks": checks})
    return JsonResponse(
        {"ok": healthy, "checks": checks, "request_id": get_request_id()},
        status=200 if healthy else 503,
    )
