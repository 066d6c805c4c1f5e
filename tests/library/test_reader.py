"""Reading a book online: the chapters of the current version, for owners only."""

import io
import zipfile

import pytest
from django.urls import reverse

from library import reader
from library.epub_text import UnreadableEpub, read_chapters
from library.models import ReadingPosition, ReleaseChapter
from payments import refunds
from tests.factories import BookFactory, UserFactory
from tests.library.reading import FIRST, IMAGES, SECOND, epub_of, png, publish_epub
from tests.library.test_library import buy

pytestmark = pytest.mark.django_db


@pytest.fixture
def book():
    book = BookFactory(slug="stack", title="Behind the Stack")
    publish_epub(book, "1.0", FIRST, images=IMAGES)
    return book


@pytest.fixture
def owner(client, book):
    user = UserFactory()
    user.order = buy(user, book)
    client.force_login(user)
    return user


def chapter_url(book, number):
    return reverse("library:read_chapter", args=[book.slug, number])


def test_the_chapters_are_the_manuscripts_in_order_without_cover_title_or_contents():
    chapters = read_chapters(epub_of(FIRST, images=IMAGES))
    assert [(c.number, c.title) for c in chapters] == [
        (1, "Introduction"),
        (2, "Streaming"),
        (3, "Caching"),
        (4, "Old Appendix"),
    ]
    assert "How the bytes flow." in chapters[1].html
    assert '<img src="../files/OEBPS/images/' in chapters[1].html


def hostile_epub(body: str, *, opf_extra: str = "") -> bytes:
    """An uploaded EPUB made by someone else's tool (or by an attacker)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("mimetype", "application/epub+zip")
        z.writestr(
            "META-INF/container.xml",
            '<?xml version="1.0"?><container xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
            '<rootfiles><rootfile full-path="content.opf"/></rootfiles></container>',
        )
        z.writestr(
            "content.opf",
            f'<?xml version="1.0"?>{opf_extra}<package xmlns="http://www.idpf.org/2007/opf"><manifest>'
            '<item id="a" href="text/one.xhtml" media-type="application/xhtml+xml"/>'
            '<item id="b" href="text/two.xhtml" media-type="application/xhtml+xml"/>'
            '</manifest><spine><itemref idref="a"/><itemref idref="b"/></spine></package>',
        )
        z.writestr(
            "text/one.xhtml",
            f"<html><head><title>One</title><style>body{{display:none}}</style></head><body>{body}</body></html>",
        )
        z.writestr("text/two.xhtml", "<html><body><h1>Two</h1><p id='end'>Fin.</p></body></html>")
    return out.getvalue()


def test_an_uploaded_epub_is_sanitised():
    chapters = read_chapters(
        hostile_epub(
            "<h1>One</h1><script>alert(1)</script><p onclick='x()' style='color:red'>Hi "
            "<a href='javascript:alert(2)'>js</a> <a href='two.xhtml#end'>next</a> "
            "<a href='https://example.com/'>out</a></p><img src='http://tracker.example/p.png'>"
            "<iframe src='https://evil.example/'></iframe><form><input name='q'></form>"
        )
    )
    html = chapters[0].html
    assert chapters[0].title == "One" and chapters[1].title == "Two"
    for bad in ("script", "alert", "onclick", "style", "javascript", "tracker", "iframe", "input"):
        assert bad not in html
    assert 'href="../2/#c-end"' in html  # a link to the next chapter, to its page
    assert 'href="https://example.com/"' in html
    assert 'id="c-end"' in chapters[1].html


def test_an_epub_declaring_entities_or_not_a_zip_is_refused():
    bomb = '<!DOCTYPE p [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
    with pytest.raises(UnreadableEpub):
        read_chapters(hostile_epub("<p>x</p>", opf_extra=bomb))
    with pytest.raises(UnreadableEpub):
        read_chapters(b"PK not really")


def test_the_owner_reads_every_chapter_with_contents_and_previous_next(client, owner, book):
    contents = client.get(reverse("library:read", args=[book.slug]))
    html = contents.content.decode()
    assert contents["Cache-Control"].startswith("private") or "private" in contents["Cache-Control"]
    for title, _ in FIRST:
        assert title in html
    page = client.get(chapter_url(book, 2)).content.decode()
    assert "How the bytes flow." in page
    assert 'rel="prev"' in page and "Introduction" in page
    assert 'rel="next"' in page and "Caching" in page
    last = client.get(chapter_url(book, 4)).content.decode()
    assert 'rel="next"' not in last


def test_images_come_out_of_the_epub_for_owners_only(client, owner, book):
    html = client.get(chapter_url(book, 2)).content.decode()
    path = html.split('src="../files/')[1].split('"')[0]
    url = reverse("library:read_image", args=[book.slug, path])
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response.content == IMAGES["images/d.png"]
    assert (
        client.get(reverse("library:read_image", args=[book.slug, "OEBPS/nav.xhtml"])).status_code
        == 404
    )
    assert (
        client.get(reverse("library:read_image", args=[book.slug, "../x.png"])).status_code == 404
    )
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("who", ["anonymous", "another reader", "refunded owner"])
def test_nobody_else_reads_anything(client, book, who):
    urls = [
        reverse("library:read", args=[book.slug]),
        reverse("library:read_resume", args=[book.slug]),
        chapter_url(book, 1),
    ]
    if who == "another reader":
        buy(UserFactory(), book)
        client.force_login(UserFactory())
    elif who == "refunded owner":
        reader_ = UserFactory()
        order = buy(reader_, book)
        client.force_login(reader_)
        assert client.get(chapter_url(book, 1)).status_code == 200
        refunds.refund_order(order_id=order.pk, actor=reader_)
    for url in urls:
        response = client.get(url)
        if who == "anonymous":
            assert response.status_code == 302 and "/accounts/login/" in response["Location"]
        else:
            assert response.status_code == 404
            assert b"How the bytes flow" not in response.content
    # an unknown book answers the same
    assert client.get(reverse("library:read", args=["no-such-book"])).status_code in (302, 404)


def test_the_reader_comes_back_to_the_chapter_they_were_reading(client, owner, book):
    resume = reverse("library:read_resume", args=[book.slug])
    assert client.get(resume)["Location"] == reverse("library:read", args=[book.slug])
    assert "Read online" in client.get(reverse("library:index")).content.decode()
    client.get(chapter_url(book, 2))
    client.get(chapter_url(book, 2))  # a reload writes nothing new
    assert ReadingPosition.objects.filter(user=owner, book=book).count() == 1
    assert client.get(resume)["Location"] == chapter_url(book, 2)
    assert "Continue reading" in client.get(reverse("library:index")).content.decode()
    contents = client.get(reverse("library:read", args=[book.slug])).content.decode()
    assert "Continue reading: Streaming" in contents

    # A new version puts a chapter before it: the reader still lands on "Streaming".
    publish_epub(book, "2.0", [("Preface", "New."), *SECOND], images=IMAGES)
    assert client.get(resume)["Location"] == chapter_url(book, 3)


def test_a_chapter_the_new_version_lacks_goes_back_to_the_contents(client, owner, book):
    publish_epub(book, "2.0", FIRST[:2], images=IMAGES)
    response = client.get(chapter_url(book, 4))
    assert response["Location"] == reverse("library:read", args=[book.slug])


def test_a_release_is_read_once_whoever_asks(owner, book, django_assert_max_num_queries):
    release = book.current_release
    first = reader.index_release(release.pk)
    again = reader.index_release(release.pk)
    assert first.pk == again.pk
    assert ReleaseChapter.objects.filter(release=release).count() == 4


def test_a_version_without_a_readable_epub_says_so(client, owner, book):
    from django.core.files.base import ContentFile

    from catalog import services as catalog

    release = catalog.create_release(
        book=book, version="2.0", files={"epub": ContentFile(b"PK broken", name="b.epub")}
    )
    catalog.publish_release(release=release)
    page = client.get(reverse("library:read", args=[book.slug]))
    assert page.status_code == 200 and b"could not be read" in page.content
    assert client.get(chapter_url(book, 1)).status_code == 404


@pytest.mark.parametrize("chapters", [3, 30])
def test_a_chapter_page_costs_the_same_queries_however_long_the_book(
    client, django_assert_max_num_queries, chapters
):
    book = BookFactory()
    publish_epub(book, "1.0", [(f"Chapter {n}", f"Text {n}.") for n in range(chapters)])
    user = UserFactory()
    buy(user, book)
    client.force_login(user)
    client.get(chapter_url(book, 2))  # indexed on the first visit
    with django_assert_max_num_queries(6):
        assert client.get(chapter_url(book, 2)).status_code == 200


def test_a_chapter_page_fits_a_phone(client, owner, book):
    html = client.get(chapter_url(book, 2)).content.decode()
    assert 'name="viewport"' in html and 'class="chapter-text"' in html
    assert png() != b""
