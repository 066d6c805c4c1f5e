import uuid
from html import escape

from django import template
from django.utils.safestring import mark_safe

from catalog.cards import cards_html
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


@register.simple_tag
def book_cards(books):
    """{% book_cards books %}: the cards of a list of books, each rendered once per
    catalog generation and cached (catalog/cards.py)."""
    return cards_html(books)


@register.simple_tag
def select_options(choices, selected):
    """{% select_options choices selected %}: the <option>s of ``(value, label)``
    pairs, the one whose value is ``selected`` marked. A loop in Python with the
    standard library's escaping, not in the template: the catalog's filters are a
    few dozen options on a page rendered on every page-cache miss."""
    return mark_safe(
        "".join(
            f'<option value="{escape(str(value))}"{" selected" if value == selected else ""}>'
            f"{escape(str(label))}</option>"
            for value, label in choices
        )
    )
