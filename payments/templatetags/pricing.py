"""Template access to the royalty rule, so catalog pages show figures computed by it."""

import json

from django import template
from django.utils.html import escape

from payments.pricing import price_range as _price_range
from payments.royalties import royalty_for, rule_parameters

register = template.Library()


@register.filter
def royalty(price_cents):
    """{{ 1000|royalty|money }} -> "$8.00"."""
    return royalty_for(int(price_cents))


@register.simple_tag
def price_range(book):
    return _price_range(book)


@register.simple_tag
def royalty_rule_json():
    """The rule's numbers as a data attribute for static/js/pricing.js."""
    return escape(json.dumps(rule_parameters()))
