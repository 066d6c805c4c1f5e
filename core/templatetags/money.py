from django import template

from core.money import format_cents, format_plain

register = template.Library()


@register.filter
def money(cents, currency="USD"):
    """{{ order.amount_cents|money }} -> "$24.99"."""
    if cents in (None, ""):
        return ""
    return format_cents(int(cents), currency)


@register.filter
def plain_amount(cents):
    """{{ book.suggested_price_cents|plain_amount }} -> "24.99" (form values)."""
    if cents in (None, ""):
        return ""
    return format_plain(int(cents))
