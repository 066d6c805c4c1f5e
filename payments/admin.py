from django.contrib import admin

from .models import LedgerEntry, LedgerTransaction, Order, WebhookEvent


class LedgerTransactionInline(admin.TabularInline):
    model = LedgerTransaction
    extra = 0
    can_delete = False
    fields = ["kind", "created_at", "memo", "entries_summary"]
    readonly_fields = fields

    @admin.display(description="Entries")
    def entries_summary(self, txn):
        return ", ".join(str(e) for e in txn.entries.all())

    def has_add_permission(self, request, obj=None):
        return False


class WebhookEventInline(admin.TabularInline):
    model = WebhookEvent
    extra = 0
    can_delete = False
    fields = ["type", "event_id", "received_at", "outcome"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "buyer",
        "book",
        "amount_cents",
        "royalty_cents",
        "status",
        "gateway",
        "created_at",
        "paid_at",
    ]
    list_filter = ["status", "gateway", "created_at", "book"]
    search_fields = ["public_id", "buyer__email", "book__title", "gateway_reference"]
    date_hierarchy = "created_at"
    list_select_related = ["buyer", "book"]
    inlines = [LedgerTransactionInline, WebhookEventInline]

    def get_readonly_fields(self, request, obj=None):
        # Orders change only through services (payments, refunds): never by hand.
        return [f.name for f in Order._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    extra = 0
    can_delete = False
    readonly_fields = ["account", "author", "amount_cents", "currency", "created_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(admin.ModelAdmin):
    list_display = ["pk", "kind", "order", "created_at", "memo"]
    list_filter = ["kind", "created_at"]
    search_fields = ["order__public_id", "memo"]
    inlines = [LedgerEntryInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in LedgerTransaction._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["gateway", "type", "event_id", "order", "received_at", "outcome"]
    list_filter = ["gateway", "type"]
    search_fields = ["event_id", "order__public_id"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in WebhookEvent._meta.fields]

    def has_add_permission(self, request):
        return False
