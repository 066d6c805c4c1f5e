from django.contrib import admin

from .models import Entitlement


@admin.register(Entitlement)
class EntitlementAdmin(admin.ModelAdmin):
    list_display = ["user", "book", "granted_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["user__email", "book__title"]
    raw_id_fields = ["user", "book"]
    date_hierarchy = "granted_at"
