"""Admin building blocks every payments admin page shares: money in dollars,
history rows that are never edited."""

from django.contrib import admin

from core.money import format_cents


def dollars(field: str, description: str):
    """An admin column or read-only field showing the integer-cents ``field`` in
    dollars ("$4.99"), sortable by it: money reads in dollars all over the admin."""

    @admin.display(description=description, ordering=field)
    def show(model_admin, obj):
        cents = getattr(obj, field)
        return "—" if cents is None else format_cents(cents, getattr(obj, "currency", "USD"))

    return show


def in_dollars(model) -> list[str]:
    """Every field of ``model`` for a read-only page, ``x_cents`` shown as the admin's
    ``x`` (a ``dollars`` column) instead of a bare number of cents."""
    return [f.name.removesuffix("_cents") for f in model._meta.fields]


class HistoryInline(admin.TabularInline):
    """A read-only list of rows that are history (ledger, events, actions): never edited here."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields or [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request, obj=None):
        return False
