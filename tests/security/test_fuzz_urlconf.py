"""Property tests over the whole URLconf: whatever a stranger, a reader, an author
or staff puts in the query string of any page, or in any field of any form a page
shows, the answer is never a 5xx.

Every URL pattern of the project (ours, allauth's, the admin's) is resolved with
real objects (a book's slug, an order's public id, a release, a chapter, a build,
signed tokens), then fetched with hypothesis-made query strings: the views' real
parameter names and any others, values that are text, raw bytes (broken UTF-8,
encoded surrogates), NUL, huge numbers and impossible dates. The forms are found
the way a reader finds them, in the pages: every <form method=post> the GETs
rendered is posted back with hypothesis-made values in each of its fields.
Bounded: a modest number of examples, no deadline, no example database.
"""

import re
import uuid
from html.parser import HTMLParser
from urllib.parse import quote_from_bytes, urlsplit

import pytest
from django.core.files.base import ContentFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.exceptions import NoReverseMatch
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from accounts.login_links import make_token
from catalog import contact, manuscript
from catalog import services as catalog
from catalog.models import Build
from library.tokens import download_token, unsubscribe_token
from payments import services as payments
from tests.factories import AuthorFactory, BookFactory, UserFactory

pytestmark = pytest.mark.django_db

FUZZ = examples(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Not a bug: /healthz answers 503 when a service it checks is down (locally, Redis).
MAY_BE_UNAVAILABLE = {"healthz"}

PARAMETER_NAMES = [
    "q", "page", "sort", "range", "start", "end", "author", "category", "language",
    "plan", "setup_intent", "amount", "checkout_token", "next", "fmt", "status",
    "o", "p", "e", "all", "_changelist_filters", "status__exact", "id__in",
    "book__id__exact", "created_at__gte", "_to_field", "_popup",
]  # fmt: skip
EDGE_VALUES = [
    "\x00", "a\x00b", "\ud800", "\udfff", "9999-12-31", "0001-01-01", "2026-02-30",
    "-1", "0", "99999999999999999999999999", "1e309", "NaN", "custom", "all", "last",
    "../../etc/passwd", "<script>alert(1)</script>", "' OR 1=1 --", "%", "%%00",
    "\r\nX-Injected: 1", " ", "x" * 3000, "١٢", "2026-01-01T00:00:00", "true", "[]",
]  # fmt: skip

text_values = st.one_of(st.sampled_from(EDGE_VALUES), st.text(max_size=40))
raw_values = st.one_of(
    text_values.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=20),  # not UTF-8 at all
)
query_strings = st.lists(
    st.tuples(
        st.one_of(st.sampled_from(PARAMETER_NAMES), st.text(max_size=8)).map(
            lambda t: t.encode("utf-8", "surrogatepass")
        ),
        raw_values,
    ),
    max_size=5,
).map(lambda pairs: "&".join(f"{quote_from_bytes(k)}={quote_from_bytes(v)}" for k, v in pairs))


# --- the URLconf, resolved --------------------------------------------------------


def all_patterns(resolvers=None, namespace=""):
    """(full name, kwargs' names, callback) of every pattern."""
    for entry in get_resolver().url_patterns if resolvers is None else resolvers:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from all_patterns(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern):
            regex = entry.pattern.regex
            yield (f"{namespace}{entry.name}" if entry.name else None, list(regex.groupindex))
            # (unnamed patterns: /admin/login/ and the admin's catch-all, reached via names)


def world():
    """The objects the URLs name, and the four kinds of visitor."""
    reader, staff = UserFactory(), UserFactory(is_staff=True, is_superuser=True)
    author = AuthorFactory()
    book = BookFactory(authors=[author], minimum_price_cents=0, suggested_price_cents=500)
    release = catalog.create_release(
        book=book, version="1.0", notes="First.",
        files={"pdf": ContentFile(b"%PDF-1.4 %%EOF", name="b.pdf")},
    )  # fmt: skip
    catalog.publish_release(release=release)
    order = payments.place_order(
        buyer=reader, book=book, amount_cents=500, checkout_token=uuid.uuid4()
    )
    payments.mark_paid(order_id=order.pk, amount_cents=500)
    chapter = manuscript.add_chapter(book=book, title="One", markdown="Hello.")
    build = Build.objects.create(book=book, kind="preview", status="failed")
    values = {
        "slug": book.slug,
        "public_id": order.public_id,
        "release_id": release.pk,
        "chapter_id": chapter.pk,
        "build_id": build.pk,
        "fmt": "pdf",
        "app_label": "catalog",
        "object_id": str(book.pk),
    }
    special = {
        "catalog:author": {"slug": author.slug},
        "library:download_link": {"token": download_token(user_id=reader.pk, book_id=book.pk)},
        "library:unsubscribe": {"token": unsubscribe_token(user_id=reader.pk, book_id=book.pk)},
        "catalog:block_sender": {"token": contact.block_token(author=author, sender=reader)},
        "catalog:unblock_sender": {"user_id": reader.pk},
        "accounts:login_link": {"token": make_token(reader, next_url="/")},
    }
    urls = []
    for name, kwargs in all_patterns():
        if name is None:
            continue
        filled = {k: special.get(name, {}).get(k, values.get(k, "x")) for k in kwargs}
        try:
            urls.append((name, reverse(name, kwargs=filled)))
        except NoReverseMatch:
            continue  # e.g. an admin object URL for another app label: its siblings cover it
    visitors = {"anonymous": None, "reader": reader, "author": author.user, "staff": staff}
    return urls, visitors


# Who a page is for: the deterministic sweeps visit each URL as that visitor (the
# random examples visit any URL as anyone).
OWNERS = [
    ("admin:", "staff"),
    ("catalog:author_", "author"),
    ("catalog:my_books", "author"),
    ("catalog:block", "author"),
    ("catalog:unblock", "author"),
    ("payments:insights", "author"),
    ("catalog:book_", "author"),
    ("catalog:manage", "author"),
    ("catalog:release", "author"),
    ("catalog:sample_files", "author"),
    ("catalog:manuscript", "author"),
    ("catalog:chapter", "author"),
    ("catalog:build", "author"),
    ("payments:earnings", "author"),
    ("payments:payout", "author"),
    ("library:", "reader"),
    ("payments:", "reader"),
    ("account", "reader"),
]


def owner_of(name: str) -> str:
    return next((kind for prefix, kind in OWNERS if name.startswith(prefix)), "anonymous")


def as_visitor(client, user):
    client.logout()
    if user is not None:
        client.force_login(user)


def assert_no_server_error(response, name, url):
    if name in MAY_BE_UNAVAILABLE and response.status_code == 503:
        return
    assert response.status_code < 500, (url, response.status_code)


# --- the forms, as pages show them -------------------------------------------------


class FormFinder(HTMLParser):
    """The POST forms of a page: their action and their fields' names and values."""

    def __init__(self):
        super().__init__()
        self.forms, self._form = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self._form = {"action": attrs.get("action") or "", "fields": {}}
            self.forms.append(self._form)
        elif self._form is not None and tag in ("input", "textarea", "select"):
            kind = (attrs.get("type") or "").lower()
            if attrs.get("name") and kind not in ("submit", "button", "file", "image"):
                self._form["fields"][attrs["name"]] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def forms_on(html: str, page_url: str) -> list[tuple[str, dict]]:
    finder = FormFinder()
    finder.feed(html)
    found = []
    for form in finder.forms:
        action = urlsplit(form["action"]).path or page_url
        if action.startswith("/") and not re.search(r"logout", action):
            found.append((action, form["fields"]))
    return found


# --- the properties ------------------------------------------------------------------

# Values that reach the views' own parsing (impossible pages, dates, sorts) ...
HOSTILE = "page=99999999999999999999&range=custom&start=0001-01-01&end=9999-12-31&sort=%27"
# ... and a NUL in every parameter the views read (the edge guard's, on every URL).
NUL_EVERYWHERE = "&".join(f"{name}=%00" for name in PARAMETER_NAMES)


def test_no_page_or_form_answers_a_5xx_to_anything_anyone_sends(client):
    urls, visitors = world()
    assert len(urls) >= 60  # ours, allauth's and the admin's were all found
    who = sorted(visitors)

    # Every URL once, as the visitor it is for, with a hostile query; its forms noted.
    forms = {}  # (visitor kind, action, field names) -> the fields' rendered values
    for name, url in urls:
        kind = owner_of(name)
        as_visitor(client, visitors[kind])
        assert_no_server_error(client.get(f"{url}?{NUL_EVERYWHERE}"), name, url)
        response = client.get(f"{url}?{HOSTILE}")
        assert_no_server_error(response, name, url)
        if response.status_code == 200 and "html" in response.get("Content-Type", ""):
            for action, fields in forms_on(response.content.decode(), url):
                forms[(kind, action, tuple(sorted(fields)))] = fields
    forms = [(key[0], key[1], fields) for key, fields in sorted(forms.items(), key=lambda i: i[0])]
    assert len(forms) >= 30  # the walk found the site's forms, not just a login box

    # Any URL, as anyone, with any query string.
    @FUZZ
    @given(target=st.sampled_from(urls), kind=st.sampled_from(who), query=query_strings)
    def one_visit(target, kind, query):
        name, url = target
        as_visitor(client, visitors[kind])

        response = client.get(f"{url}?{query}")

        assert_no_server_error(response, name, url)

    # Any form a page showed, posted back with any values in its fields.
    @FUZZ
    @given(target=st.sampled_from(forms), data=st.data())
    def one_post(target, data):
        kind, action, fields = target
        as_visitor(client, visitors[kind])
        values = {
            name: data.draw(st.one_of(st.just(default), text_values), label=name)
            for name, default in fields.items()
        }
        # A form post is UTF-8: a lone surrogate arrives as the bytes a browser would send.
        values = {
            k: v.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
            for k, v in values.items()
        }

        response = client.post(action, values)

        assert response.status_code < 500, (action, values, response.status_code)

    one_visit()
    one_post()
