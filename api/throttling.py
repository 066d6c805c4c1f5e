"""Per-key limits through the store's own rate limits (core.ratelimit, RATE_LIMIT_API)."""

from rest_framework.throttling import BaseThrottle

from core import ratelimit

from .models import ApiKey


class PerKeyThrottle(BaseThrottle):
    def allow_request(self, request, view):
        key = request.auth
        if not isinstance(key, ApiKey):
            return True  # refused by authentication anyway
        usage = ratelimit.consume(request, "api", account=f"api-key:{key.pk}")
        self._wait = usage.retry_after
        return usage.allowed

    def wait(self):
        return max(getattr(self, "_wait", 60), 1)
