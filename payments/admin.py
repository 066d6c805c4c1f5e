from django import forms
from django.contrib import admin, messages
from django.shortcuts import render
from django.utils.html import format_html_join

from core.money import format_cents

from . import payouts, refunds
from .models import (
    CreditEntry,
    CreditLot,
    LedgerEntry,
    LedgerTransaction,
    Membership,
    Order,
    Payout,
    PayoutAccount,
    PayoutBatch,
    Refund,
    RefundAction,
    WebhookEvent,
)


class HistoryInline(admin.TabularInline):
    """A read-only list of rows that are history (ledger, events, actions): never edited here."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields or [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request, obj=None):
        return False


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
        "amount_cents",
        "royalty_cents",
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

    def get_readonly_fields(self, request, obj=None):
        # Orders change only through services (payments, refunds): never by hand.
        return [f.name for f in Order._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LedgerEntryInline(HistoryInline):
    model = LedgerEntry
    fields = ["account", "author", "amount_cents", "currency", "kind", "available_at", "created_at"]


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


class RefundActionInline(HistoryInline):
    model = RefundAction
    fields = ["at", "actor", "action", "note"]


class DenyForm(forms.Form):
    note = forms.CharField(
        label="Reason (e-mailed to the reader)", widget=forms.Textarea(attrs={"rows": 4})
    )


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "order",
        "buyer",
        "amount",
        "status",
        "gateway_status",
        "auto_approved",
        "requested_at",
        "refunded_at",
    ]
    list_filter = ["status", "gateway_status", "auto_approved", "requested_at"]
    search_fields = [
        "order__public_id",
        "order__buyer__email",
        "order__book__title",
        "gateway_refund_id",
    ]
    list_select_related = ["order__buyer", "order__book"]
    inlines = [RefundActionInline]
    actions = ["approve", "deny", "retry"]
    readonly_fields = [
        "order", "amount_cents", "status", "reason", "auto_approved", "decision_note", "gateway_refund_id",
        "gateway_status", "last_error", "attempts", "processing_since", "requested_by", "requested_at", "decided_at", "refunded_at", "reader_history",
    ]  # fmt: skip

    @admin.display(description="Buyer")
    def buyer(self, refund):
        return refund.order.buyer

    @admin.display(description="Amount")
    def amount(self, refund):
        return format_cents(refund.amount_cents)

    @admin.display(description="The reader's refunds")
    def reader_history(self, refund):
        history = Refund.objects.filter(order__buyer=refund.order.buyer_id).select_related(
            "order__book"
        )
        return format_html_join(
            "\n", "<div>{} · {} · {} · {}</div>",
            ((r.requested_at.date(), r.order.title, format_cents(r.amount_cents), r.get_status_display()) for r in history),
        )  # fmt: skip

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Approve and refund")
    def approve(self, request, queryset):
        done = 0
        for refund in queryset:
            result = refunds.approve_and_execute(refund_id=refund.pk, admin=request.user)
            done += result.outcome == refunds.Outcome.REFUNDED
        self.message_user(request, f"Refunded {done} of {queryset.count()}.")

    @admin.action(description="Deny (the reason is e-mailed to the reader)")
    def deny(self, request, queryset):
        form = DenyForm(request.POST if "note" in request.POST else None)
        if form.is_valid():
            for refund in queryset:
                refunds.deny_refund(
                    refund_id=refund.pk, admin=request.user, note=form.cleaned_data["note"]
                )
            self.message_user(request, f"Denied {queryset.count()} refund request(s).")
            return None
        return render(
            request,
            "admin/payments/refund/deny.html",
            {
                **self.admin_site.each_context(request),
                "refunds": queryset,
                "form": form,
                "title": "Deny refunds",
            },
        )

    @admin.action(description="Retry failed refunds")
    def retry(self, request, queryset):
        done = 0
        for refund in queryset.filter(status=Refund.Status.FAILED):
            result = refunds.execute_refund(refund_id=refund.pk, actor=request.user)
            done += result.outcome == refunds.Outcome.REFUNDED
        self.message_user(request, f"Refunded {done} on retry.")


class PayoutInline(HistoryInline):
    model = Payout
    fields = [
        "author",
        "amount_cents",
        "method",
        "destination",
        "status",
        "external_reference",
        "sent_at",
    ]


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

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Payout._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Amount")
    def amount(self, payout):
        return format_cents(payout.amount_cents)

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
    fields = ["created_at", "kind", "credits", "value_cents", "order"]


class ReadOnlyHistoryAdmin(admin.ModelAdmin):
    """Credits move only through payments/credits.py: never edited by hand."""

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CreditLot)
class CreditLotAdmin(ReadOnlyHistoryAdmin):
    list_display = ["pk", "owner", "source", "credits", "cash_cents", "created_at"]
    list_filter = ["source", "created_at"]
    search_fields = ["owner__email"]
    list_select_related = ["owner"]
    inlines = [CreditEntryInline]


@admin.register(CreditEntry)
class CreditEntryAdmin(ReadOnlyHistoryAdmin):
    list_display = ["created_at", "owner", "kind", "credits", "value_cents", "lot", "order"]
    list_filter = ["kind", "created_at"]
    search_fields = ["owner__email"]
    list_select_related = ["owner", "lot", "order"]


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
