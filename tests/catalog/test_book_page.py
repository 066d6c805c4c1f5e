import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from catalog import services
from catalog.models import Book
from core.pagecache import bump_generation
from tests.factories import AuthorFactory, BookFactory, CategoryFactory, UserFactory

pytestmark = pytest.mark.django_db


def page(client, book):
    response = client.get(reverse("catalog:book", args=[book.slug]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_book_page_shows_what_the_reader_needs_to_decide(client):
    author = AuthorFactory(display_name="Ada Writer", bio="Writes **well**.")
    book = BookFactory(
        title="Scaling Stories",
        subtitle="How it really happened",
        minimum_price_cents=1499,
        suggested_price_cents=2499,
        page_count=186,
        authors=[author],
    )
    book.categories.add(CategoryFactory(name="Architecture"))

    html = page(client, book)

    assert "<h1>Scaling Stories</h1>" in html
    assert "How it really happened" in html
    assert "Minimum price" in html and "$14.99" in html
    assert "Suggested price" in html and "$24.99" in html
    assert 'value="24.99"' in html  # suggested preselected on the slider and the input
    assert "Author earns <strong data-author-earns>$19.99</strong>" in html
    assert "186 pages" in html and "Architecture" in html
    assert "<strong>well</strong>" in html and author.get_absolute_url() in html
    assert 'property="og:title" content="Scaling Stories"' in html
    assert "Earn $8.00 on a $10 Purchase, and $16.00 on a $20 Purchase" in html
    assert reverse("refund_policy") in html and reverse("formats") in html
    assert reverse("payments:checkout", args=[book.slug]) in html


def test_in_progress_books_show_installments_and_completed_books_do_not(client):
    book = BookFactory(
        status="in_progress",
        installments_completed=9,
        installments_planned=15,
        early_access_note="Parts IV and V are coming.",
    )
    html = page(client, book)
    assert "Installments completed <strong>9 / 15</strong>" in html
    assert "Parts IV and V are coming." in html

    book.status = "completed"
    book.save()
    html = page(client, book)
    assert "Installments completed" not in html and "Parts IV and V" not in html


def test_a_free_book_says_so_and_offers_it_for_nothing(client):
    book = BookFactory(minimum_price_cents=0, suggested_price_cents=0)

    html = page(client, book)

    assert '<p class="price-big">Free</p>' in html
    assert 'name="amount" value="0"' in html
    assert "Author earns" not in html


def test_markdown_is_rendered_and_sanitised(client):
    book = BookFactory(
        about='## Inside\n\n<script>alert("x")</script> [click](javascript:alert(1)) <img src=x onerror=alert(1)>',
        blurb="**bold** pitch",
    )

    html = page(client, book)

    assert "<h2>Inside</h2>" in html and "<strong>bold</strong> pitch" in html
    assert '<script>alert("x")</script>' not in html
    assert 'href="javascript' not in html  # the link text stays, harmless, as text
    assert "<img src=x onerror" not in html and "&lt;img src=x onerror" in html


def test_the_table_of_contents_keeps_parts_chapters_and_a_preface_in_order(client):
    book = BookFactory()
    services.replace_toc(
        book=book,
        lines=services.parse_toc(
            "Preface [sample]\n# Part I — Context\n- Chapter 1: Scale\n- Chapter 2: Monolith\n# Part II — Flow\n- Chapter 4: Data\nAfterword"
        ),
    )

    html = page(client, book)

    order = [
        "Preface",
        "Part I — Context",
        "Chapter 1: Scale",
        "Chapter 2: Monolith",
        "Part II — Flow",
        "Chapter 4: Data",
        "Afterword",
    ]
    positions = [html.index(title) for title in order]
    assert positions == sorted(positions)
    assert '<h3 class="toc-part">Part I — Context</h3>' in html
    assert 'Preface <span class="badge ok">in sample</span>' in html


def test_the_toc_text_format_round_trips():
    text = "Preface [sample]\n# Part I\n- One\n- Two [sample]\nAfterword"
    book = BookFactory()
    services.replace_toc(book=book, lines=services.parse_toc(text))
    assert services.toc_as_text(book) == text


def test_a_dash_chapter_without_a_part_is_a_clear_error():
    with pytest.raises(Exception, match="needs a part above it"):
        services.parse_toc("- Orphan chapter")


def test_translations_link_both_ways_and_list_languages(client):
    original = BookFactory(title="A Evolução", language="pt-br")
    english = BookFactory(title="The Evolution", language="en", translation_of=original)
    spanish = BookFactory(title="La Evolución", language="es", translation_of=original)

    html = page(client, english)
    assert (
        f'This book is a translation into English of <a href="{original.get_absolute_url()}">A Evolução</a> '
        "which was originally written in Brazilian Portuguese." in html
    )
    assert "La Evolución" in html and "Spanish" in html

    html = page(client, original)
    assert "The Evolution" in html and "La Evolución" in html
    assert "Translations" in html and "Languages" in html
    assert spanish.get_absolute_url() in html


def test_drafts_are_seen_only_by_their_authors_and_staff(client):
    author = AuthorFactory()
    draft = BookFactory(status="draft", authors=[author])
    url = reverse("catalog:book", args=[draft.slug])

    assert client.get(url).status_code == 404
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404
    client.force_login(AuthorFactory().user)
    assert client.get(url).status_code == 404
    client.force_login(author.user)
    assert "Draft: only you" in client.get(url).content.decode()
    client.force_login(UserFactory(is_staff=True))
    assert client.get(url).status_code == 200


def test_retired_books_leave_the_catalog_but_not_their_page_for_nobody(client):
    retired = BookFactory(status="retired", title="Old Book")

    assert "Old Book" not in client.get(reverse("catalog:list")).content.decode()
    assert client.get(reverse("catalog:book", args=[retired.slug])).status_code == 404


def test_unknown_slug_is_404(client):
    assert client.get(reverse("catalog:book", args=["no-such-book"])).status_code == 404


def test_free_sample_downloads_need_no_login(client):

    book = BookFactory(slug="the-book")
    services.set_sample_file(
        book=book, fmt="pdf", upload=ContentFile(b"%PDF-1.4 sample %%EOF", name="x.pdf")
    )

    html = page(client, book)
    assert reverse("catalog:sample_download", args=[book.slug, "pdf"]) in html
    response = client.get(reverse("catalog:sample_download", args=[book.slug, "pdf"]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="the-book-sample.pdf"'
    assert b"".join(response.streaming_content).startswith(b"%PDF-")
    assert (
        client.get(reverse("catalog:sample_download", args=[book.slug, "epub"])).status_code == 404
    )
    assert (
        client.get(reverse("catalog:sample_download", args=[book.slug, "exe"])).status_code == 404
    )


def test_the_sample_can_be_read_online(client):
    book = BookFactory(sample_markdown="# Preface\n\nHello <script>x()</script>")

    response = client.get(reverse("catalog:sample", args=[book.slug]))

    html = response.content.decode()
    assert "<h1>Preface</h1>" in html and "<script>x()" not in html
    assert client.get(reverse("catalog:sample", args=[BookFactory().slug])).status_code == 404


def test_the_author_page_lists_their_listed_books(client):
    author = AuthorFactory(display_name="Ada Writer")
    BookFactory(title="Listed One", authors=[author])
    BookFactory(title="Secret Draft", status="draft", authors=[author])
    BookFactory(title="Someone Else's")

    html = client.get(author.get_absolute_url()).content.decode()

    assert "Listed One" in html and "Secret Draft" not in html and "Someone Else" not in html


def test_credits_appear_only_when_enabled(client, settings):
    book = BookFactory()
    settings.CREDITS_ENABLED = False
    assert "Buy With Credits" not in page(client, book)
    settings.CREDITS_ENABLED = True
    bump_generation()  # a settings change comes with a deploy; cached pages go with it
    assert "Buy With Credits" in page(client, book)


def make_catalog(n):
    category = CategoryFactory()
    books = []
    for _ in range(n):
        authors = [AuthorFactory(), AuthorFactory()]
        book = BookFactory(authors=authors)
        book.categories.add(category)
        services.replace_toc(book=book, lines=services.parse_toc("Preface\n# Part\n- One\n- Two"))
        books.append(book)
    original = books[0]
    for book in books[1:]:
        Book.objects.filter(pk=book.pk).update(translation_of=original)
    return books


@pytest.mark.parametrize("n", [1, 50])
def test_the_book_page_costs_the_same_queries_with_1_or_50_books(
    client, django_assert_max_num_queries, n
):
    books = make_catalog(n)
    with django_assert_max_num_queries(8):
        page(client, books[0])
    with django_assert_max_num_queries(8):
        page(client, books[-1])


@pytest.mark.parametrize("n", [1, 50])
def test_the_catalog_page_costs_the_same_queries_with_1_or_50_books(
    client, django_assert_max_num_queries, n
):
    make_catalog(n)
    with django_assert_max_num_queries(6):
        response = client.get(reverse("catalog:list"))
    assert response.status_code == 200


@pytest.mark.parametrize("n", [1, 50])
def test_the_home_page_costs_the_same_queries_with_1_or_50_books(
    client, django_assert_max_num_queries, n
):
    make_catalog(n)
    with django_assert_max_num_queries(8):
        assert client.get(reverse("home")).status_code == 200


def test_anonymous_pages_come_from_the_cache_until_the_book_changes(
    client, django_assert_max_num_queries
):
    book = BookFactory(title="First Title")
    url = reverse("catalog:book", args=[book.slug])
    assert client.get(url)["X-Page-Cache"] == "miss"

    with django_assert_max_num_queries(0):
        response = client.get(url)
    assert response["X-Page-Cache"] == "hit" and "First Title" in response.content.decode()

    book.title = "Second Title"
    book.save()
    assert "Second Title" in client.get(url).content.decode()


def test_logged_in_readers_never_get_the_anonymous_cached_page(client):
    book = BookFactory()
    url = reverse("catalog:book", args=[book.slug])
    client.get(url)
    client.get(url)  # the anonymous copy is cached
    client.force_login(UserFactory())
    # Rendered for the reader (and cached for their session only: core/reader_pages.py).
    response = client.get(url)
    assert response["X-Page-Cache"] == "miss" and "Log out" in response.content.decode()


def test_the_language_filter_lists_each_language_once(client):
    for _ in range(3):
        BookFactory(language="en")
    BookFactory(language="pt-br")

    html = client.get(reverse("catalog:list")).content.decode()

    assert html.count('<option value="en"') == 1 and html.count('<option value="pt-br"') == 1


def test_unknown_query_parameters_share_the_cached_page(client):
    book = BookFactory()
    url = reverse("catalog:book", args=[book.slug])
    assert client.get(url, {"utm_source": "a"})["X-Page-Cache"] == "miss"
    assert client.get(url, {"utm_source": "b"})["X-Page-Cache"] == "hit"
