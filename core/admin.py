from django.contrib import admin
from django.db.models import Q
from django.utils import timezone

from .models import EmailDelivery
from .outbox import CLAIM_TIMEOUT
from .tasks import deliver_email


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(admin.ModelAdmin):
    list_display = ["key", "to", "subject", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["status"]
    search_fields = ["key", "to", "subject"]
    readonly_fields = [f.name for f in EmailDelivery._meta.fields]
    actions = ["retry"]

    def has_add_permission(self, request):
        # Rows are written by the outbox (core.outbox) only: each has the unique key
        # its sender gave it, which a hand-made row could not have.
        return False

    @admin.action(description="Retry sending the selected e-mails")
    def retry(self, request, queryset):
        # Never touch a row a worker is sending right now: that could send it twice.
        busy = Q(claimed_at__gte=timezone.now() - CLAIM_TIMEOUT)
        retry = queryset.exclude(status=EmailDelivery.Status.SENT).exclude(busy)
        ids = list(retry.values_list("pk", flat=True))
        queryset.filter(pk__in=ids).update(status=EmailDelivery.Status.QUEUED, claimed_at=None)
        for pk in ids:
            deliver_email.delay(pk)
        self.message_user(request, f"Queued {len(ids)} e-mail(s) again.")
