"""Gifts and team licences in the admin: read-only (they change through payments.gifts
and payments.team_licences); the orders behind them are refunded from the order admin."""

from django.contrib import admin

from .admin_columns import HistoryInline, dollars, in_dollars
from .models import Gift, Seat, TeamLicence


@admin.register(Gift)
class GiftAdmin(admin.ModelAdmin):
    list_display = ["pk", "title", "buyer", "recipient_email", "status", "deliver_at", "sends"]
    list_filter = ["status", "deliver_at"]
    search_fields = ["public_id", "buyer__email", "recipient_email", "title"]
    list_select_related = ["buyer"]
    # The claim token is the recipient's secret: not shown, not editable.
    fields = readonly_fields = [f.name for f in Gift._meta.fields if f.name != "claim_token"]

    def has_add_permission(self, request):
        return False


class SeatInline(HistoryInline):
    model = Seat
    fields = ["order", "email", "holder", "claimed_at", "closed_at", "invites"]


@admin.register(TeamLicence)
class TeamLicenceAdmin(admin.ModelAdmin):
    list_display = ["pk", "book", "manager", "seat_price", "created_at"]
    search_fields = ["public_id", "manager__email", "book__title"]
    list_select_related = ["book", "manager"]
    inlines = [SeatInline]
    fields = readonly_fields = in_dollars(TeamLicence)
    seat_price = dollars("seat_price_cents", "Per seat")

    def has_add_permission(self, request):
        return False
