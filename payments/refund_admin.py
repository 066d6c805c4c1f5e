"""The refund queue in the admin: requests waiting for review first, with what an
admin needs to decide, approved or denied in bulk through payments.refund_queue;
and the log of every decision with its actor."""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import BadRequest
from django.shortcuts import render
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.timesince import timesince

from core.money import format_cents

from . import refund_queue, refunds
from .admin_columns import HistoryInline, dollars
from .models import Refund, RefundAction


class RefundActionInline(HistoryInline):
    model = RefundAction
    fields = ["at", "actor", "action", "note"]


class QueueFilter(admin.SimpleListFilter):
    """The queue opens on the requests waiting for review; any status, or all, on demand."""

    title = "queue"
    parameter_name = "status"
    DEFAULT = Refund.Status.REQUESTED.value

    def lookups(self, request, model_admin):
        return [
            (self.DEFAULT, "Waiting for review"),
            *[(value, label) for value, label in Refund.Status.choices if value != self.DEFAULT],
            ("all", "All refunds"),
        ]

    def value(self):
        return super().value() or self.DEFAULT

    def queryset(self, request, queryset):
        value = self.value()
        if value == "all":
            return queryset
        if value not in Refund.Status.values:
            raise IncorrectLookupParameters(f"No refund status {value!r}.")
        return queryset.filter(status=value)

    def choices(self, changelist):
        for value, label in self.lookup_choices:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }


class ApproveForm(forms.Form):
    note = forms.CharField(
        label="Note for the log (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class DenyForm(forms.Form):
    note = forms.CharField(
        label="Reason (e-mailed to the reader and shown on their order page)",
        widget=forms.Textarea(attrs={"rows": 4}),
    )


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    """The refund queue: requests waiting for review first, oldest first, with what
    an admin needs to decide; approve or deny them in bulk (payments.refund_queue)."""

    list_display = [
        "number",
        "book",
        "reader",
        "amount",
        "reason_short",
        "age",
        "reader_history_short",
        "held_by_rule",
        "status",
        "decided",
    ]
    list_display_links = ["number"]
    list_filter = [QueueFilter, "gateway_status", "auto_approved", "requested_at"]
    search_fields = [
        "order__public_id",
        "order__buyer__email",
        "order__book__title",
        "gateway_refund_id",
    ]
    list_select_related = ["order__buyer", "order__book", "decided_by"]
    inlines = [RefundActionInline]
    actions = ["approve", "deny", "retry"]
    readonly_fields = [
        "order", "amount", "status", "reason", "held_by", "auto_approved", "decided_by", "decision_note",
        "gateway_refund_id", "gateway_status", "last_error", "attempts", "processing_since", "requested_by",
        "requested_at", "decided_at", "refunded_at", "reader_history",
    ]  # fmt: skip
    fields = readonly_fields

    def get_queryset(self, request):
        return refund_queue.with_reader_history(super().get_queryset(request))

    @staticmethod
    def _waiting(request) -> bool:
        """Is this the queue proper (the default list) rather than another status?"""
        return request.GET.get(QueueFilter.parameter_name, QueueFilter.DEFAULT) == (
            QueueFilter.DEFAULT
        )

    def get_list_display(self, request):
        # Requests waiting for review all have one status and no decision yet.
        if self._waiting(request):
            return [c for c in self.list_display if c not in ("status", "decided")]
        return self.list_display

    def get_ordering(self, request):
        # The queue is worked oldest first; other lists read newest first.
        return ["requested_at", "pk"] if self._waiting(request) else ["-requested_at"]

    def changelist_view(self, request, extra_context=None):
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if not all(pk.isdigit() for pk in selected):  # Django's admin would answer 500
            raise BadRequest("Select refund requests by their numbers.")
        title = "Refund requests waiting for review" if self._waiting(request) else "Refunds"
        return super().changelist_view(request, {"title": title, **(extra_context or {})})

    @admin.display(description="Request", ordering="pk")
    def number(self, refund):
        return f"#{refund.pk}"

    @admin.display(description="Book", ordering="order__book__title")
    def book(self, refund):
        return refund.order.title

    @admin.display(description="Reader", ordering="order__buyer__email")
    def reader(self, refund):
        return refund.order.buyer.email

    amount = dollars("amount_cents", "Amount")

    @admin.display(description="Reason")
    def reason_short(self, refund):
        return Truncator(refund.reason).chars(120) or "—"

    @admin.display(description="Age", ordering="requested_at")
    def age(self, refund):
        return timesince(refund.requested_at).split(",")[0]

    @admin.display(description="Refunded before")
    def reader_history_short(self, refund):
        count = getattr(refund, "refunded_before", 0)
        if not count:
            return "None"
        money = format_cents(refund.refunded_before_cents)
        return format_html(
            '<a href="?{}">{} · {}</a>',
            urlencode({"status": "all", "q": refund.order.buyer.email}),
            f"{count} refund{'s' if count != 1 else ''}",
            money,
        )

    @admin.display(description="Held by rule")
    def held_by_rule(self, refund):
        if refund.held_by:
            return refund.held_by
        return "None: approved automatically" if refund.auto_approved else "—"

    @admin.display(description="Decided by", ordering="decided_at")
    def decided(self, refund):
        if refund.decided_by_id:
            return f"{refund.decided_by.email}, {refund.decided_at:%b %-d %H:%M}"
        return "automatically" if refund.auto_approved else "—"

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

    def _decide(self, request, queryset, *, form_class, action, title, button, decide):
        """Both bulk decisions: a page that lists the selected refunds and asks for the
        reason; its POST (``confirm``) decides each through payments.refund_queue."""
        form = form_class(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            # The ids the page was shown with, not the list's current filter: a
            # second post of the same page then reports them as decided already.
            ids = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
            try:
                result = decide(ids, form.cleaned_data["note"])
            except refunds.RefundError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return None
            for line in result.messages():
                self.message_user(request, line)
            return None
        selected = queryset.select_related("order__buyer", "order__book")
        return render(
            request,
            "admin/payments/refund/decide.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "refunds": selected,
                "total": format_cents(sum(r.amount_cents for r in selected)),
                "form": form,
                "action": action,
                "title": title,
                "button": button,
            },
        )

    @admin.action(description="Approve and refund the selected requests", permissions=["change"])
    def approve(self, request, queryset):
        return self._decide(
            request, queryset, form_class=ApproveForm, action="approve",
            title="Approve and refund", button="Approve and refund",
            decide=lambda ids, note: refund_queue.approve_many(refund_ids=ids, admin=request.user, note=note),
        )  # fmt: skip

    @admin.action(description="Deny the selected requests (with a reason)", permissions=["change"])
    def deny(self, request, queryset):
        return self._decide(
            request, queryset, form_class=DenyForm, action="deny",
            title="Deny refunds", button="Deny and e-mail the readers",
            decide=lambda ids, note: refund_queue.deny_many(refund_ids=ids, admin=request.user, note=note),
        )  # fmt: skip

    @admin.action(description="Retry failed refunds", permissions=["change"])
    def retry(self, request, queryset):
        done = 0
        for refund in queryset.filter(status=Refund.Status.FAILED):
            result = refunds.execute_refund(refund_id=refund.pk, actor=request.user)
            done += result.outcome == refunds.Outcome.REFUNDED
        self.message_user(request, f"Refunded {done} on retry.")


@admin.register(RefundAction)
class RefundActionAdmin(admin.ModelAdmin):
    """The refund decisions log: who did what to which refund, never edited."""

    list_display = ["at", "refund", "actor", "action", "note"]
    list_filter = ["action", "at"]
    search_fields = ["refund__order__buyer__email", "actor__email", "action"]
    list_select_related = ["refund", "actor"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in RefundAction._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
