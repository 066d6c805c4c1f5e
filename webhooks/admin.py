from django.contrib import admin

from .models import Delivery, Endpoint


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "author", "enabled", "failing_since", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["url", "author__display_name"]
    raw_id_fields = ["author"]
    exclude = ["secret", "previous_secret"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "message_id",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
    ]
    list_filter = ["status"]
    raw_id_fields = ["event", "endpoint"]
    readonly_fields = ["message_id"]
