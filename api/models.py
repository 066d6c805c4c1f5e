"""Personal API keys, the log of their calls and the answers kept for idempotency keys."""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class ApiKey(models.Model):
    """An author's key. Only its prefix (to find it) and the SHA-256 of the whole
    token (to check it) are stored: the token itself is shown once, at creation."""

    class Scope(models.TextChoices):
        READ_SALES = "read_sales", "Read sales and earnings"
        MANAGE_BOOKS = "manage_books", "Manage books (blurb, prices, installments)"
        PUBLISH = "publish", "Upload, preview and publish releases"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    hashed_secret = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def scope_labels(self) -> list[str]:
        return [self.Scope(s).label for s in self.scopes if s in self.Scope.values]


class ApiCall(models.Model):
    """One request made with a key: who (the key's name as it was), what, and the answer."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="calls")
    key_name = models.CharField(max_length=100)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=300)
    status = models.PositiveSmallIntegerField()
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API call"

    def __str__(self):
        return f"{self.key_name}: {self.method} {self.path} → {self.status}"


class IdempotentRequest(models.Model):
    """The first answer to a request sent with an ``Idempotency-Key`` header, replayed
    to every retry with the same key and the same request; ``status`` is null while
    the first request is still running."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="api_idempotency_once_per_key")
        ]

    def __str__(self):
        return f"{self.key} → {self.status or 'running'}"
