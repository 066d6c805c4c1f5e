from django import template
from django.utils.safestring import mark_safe

from catalog.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text):
    """{{ book.about|markdown }}: CommonMark rendered and sanitised."""
    return mark_safe(render_markdown(text))
