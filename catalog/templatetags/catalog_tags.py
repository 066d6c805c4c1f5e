import uuid

from django import template
from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from catalog.contact import recipients
from catalog.markdown import render_markdown
from core.pagecache import TIMEOUT, generation

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
    """{% book_cards books %}: the cards of a list of books (catalog/_book_card.html).

    A card is the same on every page and for every reader until the catalog
    changes, so each is rendered once per catalog generation and cached; a list
    of 24 costs two cache round trips and renders only the cards not yet cached
    (a page-cache miss of a search rendered every card every time).
    """
    books = list(books)
    current = generation()
    keys = {f"card:{current}:{book.pk}": book for book in books}
    html = cache.get_many(list(keys))
    missing = {
        key: render_to_string("catalog/_book_card.html", {"book": book})
        for key, book in keys.items()
        if key not in html
    }
    if missing:
        cache.set_many(missing, TIMEOUT)
        html.update(missing)
    return mark_safe("".join(html[key] for key in keys))
