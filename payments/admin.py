"""The payments admin. Money reads in dollars (admin_columns.dollars); history is
read-only; orders, credits and refunds change only through their services. The
refund queue and its decision log are in refund_admin.py."""

from django import forms
from django.contrib import admin, messages
from django.shortcuts import render

from core.money import format_cents

from . import (
    gift_admin,  # noqa: F401  (registers gifts and team licences)
    payouts,
    refund_admin,  # noqa: F401  (registers the refund queue and its log)
    refunds,
)
from .admin_columns import HistoryInline, dollars, in_dollars
from .models import (
    Coupon,
    CouponRedemption,
    CreditEntry,
    CreditLot,
    LedgerEntry,
    LedgerTransaction,
    Membership,
    Order,
    Payment,
    Payout,
    PayoutAccount,
    PayoutBatch,
    WebhookEvent,
)


class LedgerTransactionInline(HistoryInline):
    model = LedgerTransaction
    fields = ["kind", "created_at", "memo", "entries_summary"]

    @admin.display(description="Entries")
    def entries_summary(self, txn):
        return ", ".join(str(e) for e in txn.entries.all())


class WebhookEventInline(HistoryInline):
    model = WebhookEvent
    fields = ["type", "event_id", "received_at", "outcome"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "buyer",
        "product",
        "book",
        "credits",
        "amount",
        "royalty",
        "status",
        "gateway",
        "created_at",
        "paid_at",
    ]
    list_filter = ["status", "product", "gateway", "created_at", "book"]
    search_fields = ["public_id", "buyer__email", "book__title", "gateway_reference"]
    date_hierarchy = "created_at"
    list_select_related = ["buyer", "book"]
    inlines = [LedgerTransactionInline, WebhookEventInline]
    actions = ["refund_orders"]
    # Orders change only through services (payments, refunds): never by hand.
    fields = readonly_fields = in_dollars(Order)
    amount = dollars("amount_cents", "Amount")
    royalty = dollars("royalty_cents", "Author royalty")

    @admin.action(description="Refund the selected orders (admins may refund outside the window)")
    def refund_orders(self, request, queryset):
        done = 0
        for order in queryset:
            try:
                result = refunds.refund_order(
                    order_id=order.pk, actor=request.user, as_admin=True, note="admin refund"
                )
            except refunds.RefundError as exc:
                self.message_user(request, f"Order {order.pk}: {exc}", messages.ERROR)
                continue
            done += result.outcome == refunds.Outcome.REFUNDED
        self.message_user(request, f"Refunded {done} order(s).")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CartOrderInline(HistoryInline):
    model = Order
    fields = ["public_id", "book", "amount", "royalty", "status", "paid_at"]
    amount = dollars("amount_cents", "Amount")
    royalty = dollars("royalty_cents", "Author royalty")


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    """A cart's one gateway payment and its lines (each line is refunded as an order)."""

    list_display = ["pk", "buyer", "amount", "status", "gateway", "guest_checkout", "created_at"]
    list_filter = ["status", "gateway", "guest_checkout", "created_at"]
    search_fields = ["public_id", "buyer__email", "gateway_reference"]
    list_select_related = ["buyer"]
    inlines = [CartOrderInline]
    fields = readonly_fields = in_dollars(Payment)
    amount = dollars("amount_cents", "Amount")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LedgerEntryInline(HistoryInline):
    model = LedgerEntry
    fields = ["account", "author", "amount", "kind", "available_at", "created_at"]
    amount = dollars("amount_cents", "Amount")


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(admin.ModelAdmin):
    list_display = ["pk", "kind", "order", "created_at", "memo"]
    list_filter = ["kind", "created_at"]
    search_fields = ["order__public_id", "memo"]
    list_select_related = ["order__buyer", "order__book"]
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
    list_select_related = ["order__buyer", "order__book"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in WebhookEvent._meta.fields]

    def has_add_permission(self, request):
        return False


class PayoutInline(HistoryInline):
    model = Payout
    fields = [
        "author",
        "amount",
        "method",
        "destination",
        "status",
        "external_reference",
        "sent_at",
    ]
    amount = dollars("amount_cents", "Amount")


@admin.register(PayoutBatch)
class PayoutBatchAdmin(admin.ModelAdmin):
    list_display = ["period", "created_at", "payout_count", "total"]
    inlines = [PayoutInline]

    @admin.display(description="Payouts")
    def payout_count(self, batch):
        return batch.payouts.count()

    @admin.display(description="Total")
    def total(self, batch):
        return format_cents(sum(p.amount_cents for p in batch.payouts.all()))


class SentForm(forms.Form):
    reference = forms.CharField(
        label="External reference (PayPal or bank transaction id)", max_length=200
    )


class FailedForm(forms.Form):
    reason = forms.CharField(label="Why it failed", max_length=300)


@admin.register(Payout)
class PayoutAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "batch",
        "author",
        "amount",
        "method",
        "status",
        "external_reference",
        "sent_at",
    ]
    list_filter = ["status", "batch", "method"]
    search_fields = ["author__display_name", "author__user__email", "external_reference"]
    list_select_related = ["batch", "author"]
    actions = ["mark_sent", "mark_failed"]
    fields = readonly_fields = in_dollars(Payout)
    amount = dollars("amount_cents", "Amount")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _with_form(self, request, queryset, form_class, action, title, apply):
        form = form_class(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            changed = sum(bool(apply(payout, form.cleaned_data)) for payout in queryset)
            self.message_user(request, f"{changed} payout(s) updated.")
            return None
        return render(
            request,
            "admin/payments/payout/action.html",
            {
                **self.admin_site.each_context(request),
                "payouts": queryset,
                "form": form,
                "action": action,
                "title": title,
            },
        )

    @admin.action(description="Mark as sent (with the external reference)")
    def mark_sent(self, request, queryset):
        return self._with_form(
            request, queryset, SentForm, "mark_sent", "Mark payouts sent",
            lambda p, data: payouts.mark_sent(payout_id=p.pk, reference=data["reference"], admin=request.user),
        )  # fmt: skip

    @admin.action(description="Mark as failed (the money becomes available again)")
    def mark_failed(self, request, queryset):
        return self._with_form(
            request, queryset, FailedForm, "mark_failed", "Mark payouts failed",
            lambda p, data: payouts.mark_failed(payout_id=p.pk, reason=data["reason"], admin=request.user),
        )  # fmt: skip


@admin.register(PayoutAccount)
class PayoutAccountAdmin(admin.ModelAdmin):
    list_display = ["author", "method", "masked", "updated_at"]
    search_fields = ["author__display_name"]
    readonly_fields = ["author", "updated_at"]


class CreditEntryInline(HistoryInline):
    model = CreditEntry
    fields = ["created_at", "kind", "credits", "value", "order"]
    value = dollars("value_cents", "Value")


class ReadOnlyHistoryAdmin(admin.ModelAdmin):
    """Credits move only through payments/credits.py: never edited by hand."""

    def get_fields(self, request, obj=None):
        return in_dollars(self.model)

    def get_readonly_fields(self, request, obj=None):
        return in_dollars(self.model)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CreditLot)
class CreditLotAdmin(ReadOnlyHistoryAdmin):
    list_display = ["pk", "owner", "source", "credits", "cash", "created_at"]
    list_filter = ["source", "created_at"]
    search_fields = ["owner__email"]
    list_select_related = ["owner"]
    inlines = [CreditEntryInline]
    cash = dollars("cash_cents", "Cash paid")


@admin.register(CreditEntry)
class CreditEntryAdmin(ReadOnlyHistoryAdmin):
    list_display = ["created_at", "owner", "kind", "credits", "value", "lot", "order"]
    list_filter = ["kind", "created_at"]
    search_fields = ["owner__email"]
    list_select_related = ["owner", "lot", "order__buyer", "order__book"]
    value = dollars("value_cents", "Value")


@admin.register(Membership)
class MembershipAdmin(ReadOnlyHistoryAdmin):
    list_display = [
        "user",
        "plan",
        "status",
        "gateway",
        "current_period_end",
        "cancel_at_period_end",
    ]
    list_filter = ["plan", "status", "gateway", "cancel_at_period_end"]
    search_fields = ["user__email", "subscription_reference", "customer_reference"]
    list_select_related = ["user"]


class CouponRedemptionInline(HistoryInline):
    model = CouponRedemption
    fields = ["created_at", "reader", "order", "amount", "over_limit"]
    amount = dollars("amount_cents", "Sale")


@admin.register(Coupon)
class CouponAdmin(ReadOnlyHistoryAdmin):
    """Authors create coupons on their book's page (payments/coupon_views.py); uses are
    counted under the coupon's lock when orders are paid: never edited by hand."""

    list_display = [
        "code",
        "book",
        "bundle",
        "kind",
        "value",
        "starts_at",
        "ends_at",
        "uses",
        "max_uses",
    ]
    list_filter = ["kind", "starts_at"]
    search_fields = ["code", "book__title", "bundle__title"]
    list_select_related = ["book", "bundle"]
    inlines = [CouponRedemptionInline]
