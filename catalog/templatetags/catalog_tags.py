import uuid

from django import template
from django.utils.safestring import mark_safe

from catalog.contact import recipients
from catalog.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text):
    """{{ book.about|markdown }}: CommonMark rendered and sanitised."""
    return mark_safe(render_markdown(text))


@register.simple_tag
def contact_recipients(authors, author, user):
    """The authors a reader may e-mail from this page: the book's ``authors`` or the
    author page's ``author``, those who take messages, not the reader themselves."""
    return recipients(authors or ([author] if author else []), user=user)


@register.simple_tag
def new_form_token():
    """A fresh token per rendered form: its POST is acted on once (never in a cached page:
    call it only where the page is for one signed-in reader)."""
    return str(uuid.uuid4())
