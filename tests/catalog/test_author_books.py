import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.models import Book, Release
from catalog.signals import release_published
from tests.factories import AuthorFactory, BookFactory, UserFactory, book_form_data

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def epub_bytes(first="mimetype"):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        if first == "mimetype":
            archive.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
        archive.writestr("META-INF/container.xml", "<container/>")
        if first != "mimetype":
            archive.writestr("mimetype", "application/epub+zip")
    return out.getvalue()


def test_an_author_creates_a_draft_book_owning_all_its_royalties(client, author):
    response = client.post(reverse("catalog:book_create"), book_form_data())

    book = Book.objects.get()
    assert response["Location"] == reverse("catalog:manage_book", args=["my-new-book"])
    assert (book.slug, book.status, book.minimum_price_cents, book.suggested_price_cents) == (
        "my-new-book",
        "draft",
        999,
        1999,
    )
    assert [(a.author, a.royalty_share) for a in book.authorships.all()] == [(author, 100)]
    assert book.published_at is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("minimum_price", "abc", "Enter a price like 24.99."),
        ("minimum_price", "-5", "The price cannot be negative."),
        ("minimum_price", "1e9", "Enter a price like 24.99."),
        ("minimum_price", "0.5", "The minimum is $0 (free) or at least $0.99."),
        ("suggested_price", "5", "The suggested price must be at least the minimum."),
        ("suggested_price", "100000", "Prices go up to $500.00."),
        ("minimum_price", "", "This field is required."),
        ("title", "", "This field is required."),
        ("installments_completed", "16", "Cannot exceed the installments planned."),
    ],
)
def test_bad_book_input_is_a_form_error_and_saves_nothing(client, author, field, value, message):
    data = book_form_data(installments_planned="15", **{field: value})

    response = client.post(reverse("catalog:book_create"), data)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Book.objects.exists()


def test_slugs_are_unique_and_stay_once_published(client, author):
    BookFactory(slug="taken")
    response = client.post(reverse("catalog:book_create"), book_form_data(slug="taken"))
    assert "Another book uses this address already." in response.content.decode()

    client.post(reverse("catalog:book_create"), book_form_data(status="completed"))
    book = Book.objects.get(slug="my-new-book")
    client.post(
        reverse("catalog:book_edit", args=[book.slug]),
        book_form_data(title="Renamed", slug="renamed", status="completed"),
    )
    book.refresh_from_db()
    assert (book.title, book.slug) == ("Renamed", "my-new-book")


@pytest.mark.parametrize(
    "url_name",
    ["manage_book", "book_edit", "book_coauthors", "book_toc", "release_create", "sample_files"],
)
def test_authors_manage_only_their_own_books(client, url_name):
    book = BookFactory()
    url = reverse(f"catalog:{url_name}", args=[book.slug])

    assert client.get(url)["Location"].startswith(reverse("account_login"))
    client.force_login(UserFactory())
    assert client.get(url).status_code == 403
    client.force_login(AuthorFactory().user)
    assert client.get(url).status_code == 403
    client.force_login(book.author_list[0].user)
    assert client.get(url).status_code == 200
    client.force_login(UserFactory(is_staff=True))
    assert client.get(url).status_code == 200
    assert client.get(reverse(f"catalog:{url_name}", args=["no-such-book"])).status_code == 404


def test_readers_without_an_author_profile_are_sent_to_create_one(client):
    client.force_login(UserFactory())
    assert client.get(reverse("catalog:my_books"))["Location"] == reverse("catalog:author_profile")
    assert client.get(reverse("catalog:book_create")).status_code == 403


def test_co_authors_shares_must_sum_to_100(client, author):
    partner = AuthorFactory(slug="partner")
    book = BookFactory(authors=[author, partner])
    url = reverse("catalog:book_coauthors", args=[book.slug])

    def post(rows):
        # As the page sends it: a row per current author.
        data = {"form-TOTAL_FORMS": str(len(rows)), "form-INITIAL_FORMS": str(len(rows))}
        for i, (who, share) in enumerate(rows):
            data[f"form-{i}-author"] = who
            data[f"form-{i}-share"] = str(share)
        return client.post(url, data)

    assert (
        "must add up to 100% (they add up to 110%)"
        in post([(author.slug, 60), ("partner", 50)]).content.decode()
    )
    assert (
        "You must stay one of the book&#x27;s authors." in post([("partner", 100)]).content.decode()
    )
    assert "only once" in post([(author.slug, 50), (author.user.email, 50)]).content.decode()

    response = post([(author.slug, 60), (partner.user.email, 40)])

    assert response.status_code == 302
    assert [(a.author, a.royalty_share) for a in book.authorships.all()] == [
        (author, 60),
        (partner, 40),
    ]


def test_the_shares_form_adds_no_one_without_an_invitation(client, author):
    """Naming an author who is not on the book, by slug or e-mail, is refused with
    the same words as an address nobody has: new co-authors are invited instead."""
    book = BookFactory(authors=[author])
    stranger = AuthorFactory(slug="stranger")
    url = reverse("catalog:book_coauthors", args=[book.slug])

    def post(who):
        data = {"form-TOTAL_FORMS": "2", "form-INITIAL_FORMS": "0"}
        data.update({"form-0-author": author.slug, "form-0-share": "50"})
        data.update({"form-1-author": who, "form-1-share": "50"})
        return client.post(url, data)

    for who in ("stranger", stranger.user.email, "nobody", "nobody@example.com"):
        response = post(who)
        assert response.status_code == 200
        assert "Not one of this book&#x27;s authors." in response.content.decode()
    assert [a.author for a in book.authorships.all()] == [author]


def test_uploading_and_publishing_a_release_announces_it_once(
    client, author, django_capture_on_commit_callbacks
):
    book = BookFactory(authors=[author])
    received = []
    release_published.connect(
        lambda sender, **kw: received.append(kw["release"].version), weak=False, dispatch_uid="t"
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                reverse("catalog:release_create", args=[book.slug]),
                {
                    "version": "0.9",
                    "notes": "First cut",
                    "publish": "on",
                    "pdf": SimpleUploadedFile("whatever.pdf", PDF),
                    "epub": SimpleUploadedFile("b.epub", epub_bytes()),
                },
            )
        assert response.status_code == 302
        release = Release.objects.get()
        book.refresh_from_db()
        assert book.current_release == release and release.is_published
        assert sorted(f.format for f in release.files.all()) == ["epub", "pdf"]
        assert all("whatever" not in f.file.name for f in release.files.all())

        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("catalog:release_publish", args=[book.slug, release.pk]))
        assert received == ["0.9"]
    finally:
        release_published.disconnect(dispatch_uid="t")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"pdf": ("book.pdf", b"GIF89a not a pdf")}, "This file is not a PDF."),
        ({"epub": ("book.epub", PDF)}, "This file is not an EPUB."),
        ({"epub": ("book.epub", epub_bytes(first="container"))}, "no mimetype entry first"),
        ({}, "Upload at least one file: PDF or EPUB."),
    ],
)
def test_fake_files_are_refused_by_content(client, author, files, message):
    book = BookFactory(authors=[author])
    data = {"version": "1.0", "notes": ""}
    data.update({fmt: SimpleUploadedFile(name, content) for fmt, (name, content) in files.items()})

    response = client.post(reverse("catalog:release_create", args=[book.slug]), data)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Release.objects.exists()


def test_oversized_files_are_refused(client, author, settings):
    settings.MAX_BOOK_FILE_BYTES = 10
    book = BookFactory(authors=[author])

    response = client.post(
        reverse("catalog:release_create", args=[book.slug]),
        {"version": "1.0", "pdf": SimpleUploadedFile("b.pdf", PDF)},
    )

    assert "The PDF is too large" in response.content.decode()
    assert not Release.objects.exists()


def test_a_version_label_is_used_once(client, author):
    book = BookFactory(authors=[author])
    url = reverse("catalog:release_create", args=[book.slug])
    client.post(url, {"version": "1.0", "pdf": SimpleUploadedFile("b.pdf", PDF)})

    response = client.post(url, {"version": "1.0", "pdf": SimpleUploadedFile("b.pdf", PDF)})

    assert "Version 1.0 exists already" in response.content.decode()
    assert Release.objects.count() == 1


def test_an_unpublished_release_is_not_current_until_published(client, author):
    book = BookFactory(authors=[author])
    client.post(
        reverse("catalog:release_create", args=[book.slug]),
        {"version": "2.0", "pdf": SimpleUploadedFile("b.pdf", PDF)},
    )
    book.refresh_from_db()
    assert book.current_release is None

    release = Release.objects.get()
    client.post(reverse("catalog:release_publish", args=[book.slug, release.pk]))
    book.refresh_from_db()
    assert book.current_release == release


def test_another_author_cannot_publish_my_release(client, author):
    book = BookFactory(authors=[author])
    client.post(
        reverse("catalog:release_create", args=[book.slug]),
        {"version": "2.0", "pdf": SimpleUploadedFile("b.pdf", PDF)},
    )
    release = Release.objects.get()
    client.force_login(AuthorFactory().user)

    assert (
        client.post(reverse("catalog:release_publish", args=[book.slug, release.pk])).status_code
        == 403
    )
    release.refresh_from_db()
    assert not release.is_published


def test_editing_the_table_of_contents(client, author):
    book = BookFactory(authors=[author])
    url = reverse("catalog:book_toc", args=[book.slug])

    client.post(url, {"toc": "Preface\n# Part I\n- One [sample]"})

    assert [(e.kind, e.title, e.in_part, e.in_sample) for e in book.toc_entries.all()] == [
        ("chapter", "Preface", False, False),
        ("part", "Part I", False, False),
        ("chapter", "One", True, True),
    ]
    assert "needs a part above it" in client.post(url, {"toc": "- orphan"}).content.decode()


def test_a_cover_must_be_a_real_image(client, author):
    response = client.post(
        reverse("catalog:book_create"),
        book_form_data(cover=SimpleUploadedFile("cover.png", b"<html>not an image</html>")),
    )

    assert "Upload a valid image" in response.content.decode()
    assert not Book.objects.exists()
