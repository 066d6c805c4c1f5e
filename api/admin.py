from django.contrib import admin

from .models import ApiCall, ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__email"]
    readonly_fields = ["user", "prefix", "hashed_secret", "scopes", "created_at", "last_used_at"]
    fields = [*readonly_fields[:2], "name", *readonly_fields[2:], "revoked_at"]

    def has_add_permission(self, request):
        return False  # keys are made by their author, who alone sees the token


@admin.register(ApiCall)
class ApiCallAdmin(admin.ModelAdmin):
    """Every call made with a key, by the key's name: read-only."""

    list_display = ["created_at", "key_name", "method", "path", "status", "request_id"]
    list_filter = ["status", "method"]
    search_fields = ["key_name", "path", "request_id", "api_key__prefix"]
    date_hierarchy = "created_at"
    list_select_related = ["api_key"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
