"""Bundles, author side: made with the consent of every author whose book is in
it, listed only then (and only while every book is for sale), priced so that no
book's part of a sale falls below 99¢."""

import pytest
from django.urls import reverse

from catalog import bundles
from catalog.models import BookAuthor, Bundle, BundleConsent
from core.models import EmailDelivery
from tests.factories import AuthorFactory, BookFactory, listed_bundle

pytestmark = pytest.mark.django_db

NEW = reverse("catalog:bundle_create")


def bundle_data(books, **overrides):
    """What the bundle form posts for ``books``, with ``overrides``."""
    return {
        "title": "The Python Shelf",
        "slug": "python-shelf",
        "blurb": "Two books, one price.",
        "books": "\n".join(book.slug for book in books) if books else "",
        "minimum_price": "20",
        "suggested_price": "30",
        **overrides,
    }


@pytest.fixture
def shelf(author):
    """The signed-in author's book and another author's co-written book."""
    mine = BookFactory(authors=[author], suggested_price_cents=1999)
    others = [AuthorFactory(), AuthorFactory()]
    theirs = BookFactory(authors=others, suggested_price_cents=999)
    return mine, theirs, others


def page(client, slug="python-shelf"):
    return client.get(reverse("payments:bundle", args=[slug]))


def test_a_bundle_with_another_authors_book_waits_for_every_one_of_its_authors(
    client, author, shelf, django_capture_on_commit_callbacks
):
    mine, theirs, others = shelf
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(NEW, bundle_data([mine, theirs]))
    assert response.status_code == 302
    bundle = Bundle.objects.get(slug="python-shelf")
    assert [b.pk for b in bundles.books_of(bundle)] == [mine.pk, theirs.pk]
    asked = EmailDelivery.objects.filter(subject__contains="The Python Shelf")
    assert sorted(asked.values_list("to", flat=True)) == sorted(a.user.email for a in others)
    assert page(client).status_code == 404  # nobody else said yes yet

    for i, other in enumerate(others):
        client.force_login(other.user)
        consent = client.get(reverse("catalog:bundle_consent", args=["python-shelf"]))
        assert consent.status_code == 200
        client.post(reverse("catalog:bundle_consent", args=["python-shelf"]), {"answer": "accept"})
        assert page(client).status_code == (200 if i == len(others) - 1 else 404)


def test_a_declined_consent_keeps_the_bundle_off_the_store(client, author, shelf):
    mine, theirs, others = shelf
    bundle = listed_bundle([mine, theirs], by=author)
    assert page(client, bundle.slug).status_code == 200
    client.force_login(others[1].user)
    client.post(reverse("catalog:bundle_consent", args=[bundle.slug]), {"answer": "decline"})
    assert page(client, bundle.slug).status_code == 404
    mine_list = client.get(reverse("catalog:bundle_list"))
    assert "has not consented yet" in mine_list.content.decode()


def test_the_minimum_must_give_every_book_99_cents(client, author):
    mine = BookFactory(authors=[author], minimum_price_cents=999, suggested_price_cents=10000)
    cheap = BookFactory(authors=[author], minimum_price_cents=99, suggested_price_cents=100)
    # 99 · 10100 / 100 = $99.99: below that the cheap book's part would be < 99¢.
    response = client.post(NEW, bundle_data([mine, cheap], minimum_price="99.98"))
    assert response.status_code == 400
    assert "at least $99.99" in response.content.decode()
    assert not Bundle.objects.exists()
    assert (
        client.post(
            NEW, bundle_data([mine, cheap], minimum_price="99.99", suggested_price="120")
        ).status_code
        == 302
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("minimum_price", "1e3", "price"),
        ("minimum_price", "-5", "price"),
        ("suggested_price", "10", "below the minimum"),
        ("books", "no-such-book", "No book at: no-such-book"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_saved(
    client, author, shelf, field, value, message
):
    mine, theirs, _ = shelf
    data = {**bundle_data([mine, theirs]), field: value}
    response = client.post(NEW, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Bundle.objects.exists()


def test_a_bundle_needs_one_of_the_makers_books_and_paid_listed_books(client, author, shelf):
    _, theirs, _ = shelf
    other = BookFactory()
    response = client.post(NEW, bundle_data([theirs, other]))
    assert "Include at least one of your own books" in response.content.decode()
    mine, free = (
        BookFactory(authors=[author]),
        BookFactory(authors=[author], minimum_price_cents=0, suggested_price_cents=0),
    )
    assert "is free" in client.post(NEW, bundle_data([mine, free])).content.decode()
    draft = BookFactory(authors=[author], status="draft")
    assert "not for sale" in client.post(NEW, bundle_data([mine, draft])).content.decode()
    assert not Bundle.objects.exists()


def test_a_retired_book_or_a_new_co_author_unlists_the_bundle(client, author, shelf):
    mine, theirs, _ = shelf
    bundle = listed_bundle([mine, theirs], by=author)
    assert page(client, bundle.slug).status_code == 200
    BookAuthor.objects.create(book=theirs, author=AuthorFactory(), royalty_share=10, position=5)
    assert page(client, bundle.slug).status_code == 404  # the new co-author was never asked
    BookAuthor.objects.filter(book=theirs, position=5).delete()
    assert page(client, bundle.slug).status_code == 200
    theirs.status = "retired"
    theirs.save()
    assert page(client, bundle.slug).status_code == 404


def test_changing_the_price_asks_the_other_authors_again(client, author, shelf):
    mine, theirs, _others = shelf
    bundle = listed_bundle([mine, theirs], by=author)
    edit = reverse("catalog:bundle_edit", args=[bundle.slug])
    assert client.get(edit).status_code == 200
    client.post(edit, bundle_data([mine, theirs], title="Renamed", slug="ignored"))
    bundle.refresh_from_db()
    assert (bundle.title, bundle.slug) == ("Renamed", bundle.slug)
    assert page(client, bundle.slug).status_code == 200  # same books and prices: still listed
    client.post(edit, bundle_data([mine, theirs], minimum_price="25"))
    statuses = set(bundle.consents.exclude(author=author).values_list("status", flat=True))
    assert statuses == {BundleConsent.Status.PENDING}
    assert page(client, bundle.slug).status_code == 404


def test_only_the_maker_edits_and_only_its_authors_answer(client, author, shelf):
    mine, theirs, others = shelf
    bundle = listed_bundle([mine, theirs], by=author)
    client.force_login(others[0].user)
    assert client.get(reverse("catalog:bundle_edit", args=[bundle.slug])).status_code == 404
    client.force_login(AuthorFactory().user)
    consent = reverse("catalog:bundle_consent", args=[bundle.slug])
    assert client.get(consent).status_code == 404
    assert client.post(consent, {"answer": "decline"}).status_code == 404
    assert page(client, bundle.slug).status_code == 200


def test_the_authors_bundles_list_shows_what_they_made_and_what_asks_them(
    client, author, shelf, django_assert_max_num_queries
):
    mine, theirs, others = shelf
    for _ in range(3):
        listed_bundle([mine, theirs], by=author)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("catalog:bundle_list"))
    assert response.content.decode().count('data-testid="bundle-row"') == 3
    client.force_login(others[0].user)
    response = client.get(reverse("catalog:bundle_list"))
    assert response.content.decode().count("Answer") == 3
