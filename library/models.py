from django.conf import settings
from django.db import models


class EntitlementQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class Entitlement(models.Model):
    """A reader owns a book: every current and future release of it.

    Granted when an order is paid (any amount, $0 included) and revoked when it is
    refunded; a revoked row is kept (history) and re-activated by a new purchase.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="entitlements"
    )
    book = models.ForeignKey("catalog.Book", on_delete=models.PROTECT, related_name="entitlements")
    granted_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = EntitlementQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "book"], name="entitlement_unique")]
        indexes = [models.Index(fields=["user", "-granted_at"])]

    def __str__(self):
        return f"{self.user} owns {self.book}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
