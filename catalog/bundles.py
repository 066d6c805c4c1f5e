"""Bundles, model side: what a bundle holds, who must consent, when it is listed.

A bundle is listed (has a public page, can be bought) only when it holds at
least two books, every one of them is listed, and every author of every one of
them has consented. Consent is asked of each author of an included book (the
maker's is implied), by e-mail and on their bundles page; changing the books or
the prices asks the others again, since they agreed to a bundle as it was.

The price rule that keeps every book's part of a sale out of the invalid 1-98¢
band is here too (``lowest_minimum``), because the author's form checks it;
the split itself is payments/bundle_pricing.py.
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Prefetch, Q
from django.urls import reverse
from django.utils import timezone

from core.mail import queue_templated_email
from core.money import MIN_PAID_PRICE_CENTS, format_cents

from .models import Author, Book, BookAuthor, Bundle, BundleConsent, BundleItem

MIN_BOOKS = 2
MAX_BOOKS = 20
Consent = BundleConsent.Status


def weight(book: Book) -> int:
    """A book's weight in a bundle's split: its suggested price (never below its minimum)."""
    return max(book.suggested_price_cents, book.minimum_price_cents)


def lowest_minimum(weights: list[int]) -> int:
    """The lowest bundle minimum that gives every book at least the lowest paid price
    (``MIN_PAID_PRICE_CENTS``, m) at any price.

    A book's part of a price P is floor(P·w/W) or one cent more, and the floor
    only grows with P; so P >= ceil(m·W / smallest w) keeps every part >= m
    at P and above (decision: validated on the form, no pooling of small parts).
    """
    total, smallest = sum(weights), min(weights)
    return -(-MIN_PAID_PRICE_CENTS * total // smallest)


def with_books(queryset):
    """Bundles with their items, books and the books' authors, in a constant number of queries."""
    return queryset.prefetch_related(
        Prefetch(
            "items",
            queryset=BundleItem.objects.select_related("book").prefetch_related(
                Prefetch(
                    "book__authorships",
                    queryset=BookAuthor.objects.select_related("author").order_by("position", "id"),
                )
            ),
        ),
        Prefetch("consents", queryset=BundleConsent.objects.select_related("author")),
    )


def books_of(bundle: Bundle) -> list[Book]:
    return [item.book for item in bundle.items.all()]


def authors_of(bundle: Bundle) -> list[Author]:
    """Every author of every included book, once, in book order."""
    seen: dict[int, Author] = {}
    for book in books_of(bundle):
        for authorship in book.authorships.all():
            seen.setdefault(authorship.author_id, authorship.author)
    return list(seen.values())


def missing_consents(bundle: Bundle) -> list[Author]:
    """Authors of included books who have not said yes (pending, declined, or never asked:
    a co-author who joined a book after the bundle was made)."""
    accepted = {c.author_id for c in bundle.consents.all() if c.status == Consent.ACCEPTED}
    return [author for author in authors_of(bundle) if author.pk not in accepted]


def listing_problems(bundle: Bundle) -> list[str]:
    """Why the bundle is not listed, for its authors; empty when it is."""
    books = books_of(bundle)
    problems = []
    if len(books) < MIN_BOOKS:
        problems.append(f"A bundle holds at least {MIN_BOOKS} books.")
    problems += [f"“{book.title}” is not for sale." for book in books if not book.is_listed]
    problems += [
        f"{author.display_name} has not consented yet." for author in missing_consents(bundle)
    ]
    return problems


def is_listed(bundle: Bundle) -> bool:
    return not listing_problems(bundle)


def listed_bundle(slug: str) -> Bundle:
    """The public bundle at ``slug``; Bundle.DoesNotExist unless it is listed."""
    bundle = with_books(Bundle.objects.filter(slug=slug)).get()
    if not is_listed(bundle):
        raise Bundle.DoesNotExist
    return bundle


def for_author(author: Author):
    """The bundles an author made or whose books include one of theirs."""
    mine = Q(items__book__authors=author) | Q(created_by=author)
    return with_books(Bundle.objects.filter(mine).distinct())


def check_books(books: list[Book], by: Author) -> None:
    """The books a bundle may hold: 2-20 paid books that are for sale, one of them the maker's."""
    if not MIN_BOOKS <= len(books) <= MAX_BOOKS:
        raise ValidationError(f"Choose between {MIN_BOOKS} and {MAX_BOOKS} books.")
    for book in books:
        if not book.is_listed:
            raise ValidationError(f"“{book.title}” is not for sale, so it cannot be bundled.")
        if book.is_free:
            raise ValidationError(f"“{book.title}” is free: a bundle holds paid books only.")
    if not any(by.pk in {a.author_id for a in book.authorships.all()} for book in books):
        raise ValidationError("Include at least one of your own books.")


def check_prices(books: list[Book], minimum: int, suggested: int) -> None:
    lowest = lowest_minimum([weight(book) for book in books])
    if minimum < lowest:
        raise ValidationError(
            f"With these books the minimum must be at least {format_cents(lowest)}, "
            "so that every book gets at least "
            f"{format_cents(MIN_PAID_PRICE_CENTS)} of the smallest sale."
        )
    if suggested < minimum:
        raise ValidationError("The suggested price cannot be below the minimum.")


@transaction.atomic
def save_bundle(
    *,
    by: Author,
    books: list[Book],
    minimum_price_cents: int,
    suggested_price_cents: int,
    bundle: Bundle | None = None,
    **fields,
) -> Bundle:
    """Create or change a bundle (title, slug, blurb, cover in ``fields``) and ask the
    other authors for consent when the books or prices are new to them."""
    check_books(books, by)
    check_prices(books, minimum_price_cents, suggested_price_cents)
    if bundle is None:
        bundle = Bundle(created_by=by)
    else:
        bundle = Bundle.objects.select_for_update().get(pk=bundle.pk)
        if not may_edit(bundle, by):
            raise PermissionDenied("Only the bundle's maker can change it.")
    old_terms = _terms(bundle) if bundle.pk else None
    for name, value in fields.items():
        setattr(bundle, name, value)
    bundle.minimum_price_cents = minimum_price_cents
    bundle.suggested_price_cents = suggested_price_cents
    bundle.save()
    bundle.items.all().delete()
    BundleItem.objects.bulk_create(
        BundleItem(bundle=bundle, book=book, position=i) for i, book in enumerate(books)
    )
    _ask_consents(bundle, by, books, renew=_terms(bundle) != old_terms)
    return bundle


def may_edit(bundle: Bundle, author: Author) -> bool:
    return bundle.created_by_id == author.pk


def _terms(bundle: Bundle):
    books = tuple(bundle.items.order_by("position", "id").values_list("book_id", flat=True))
    return books, bundle.minimum_price_cents, bundle.suggested_price_cents


def _ask_consents(bundle: Bundle, by: Author, books: list[Book], *, renew: bool) -> None:
    authors = {a.author_id for book in books for a in book.authorships.all()}
    now = timezone.now()
    BundleConsent.objects.update_or_create(
        bundle=bundle, author=by, defaults={"status": Consent.ACCEPTED, "answered_at": now}
    )
    existing = {c.author_id: c for c in bundle.consents.select_for_update()}
    for author_id in authors - {by.pk}:
        consent = existing.get(author_id)
        if consent is not None and not renew:
            continue
        if consent is None:
            consent = BundleConsent(bundle=bundle, author_id=author_id)
        consent.status, consent.asked_at, consent.answered_at = Consent.PENDING, now, None
        consent.save()
        _mail_request(consent, by)


def _mail_request(consent: BundleConsent, by: Author) -> None:
    author = Author.objects.select_related("user").get(pk=consent.author_id)
    queue_templated_email(
        key=f"bundle-consent:{consent.pk}:{consent.asked_at.timestamp():.0f}",
        to=author.user.email,
        template="email/bundle_consent",
        context={
            "bundle": consent.bundle,
            "maker": by.display_name,
            "books": books_of(consent.bundle),
            "consent_url": settings.SITE_URL
            + reverse("catalog:bundle_consent", kwargs={"slug": consent.bundle.slug}),
        },
    )


@transaction.atomic
def answer(*, bundle: Bundle, author: Author, accept: bool) -> BundleConsent:
    """An author of an included book says yes or no (again: a later answer replaces it)."""
    if author.pk not in {a.pk for a in authors_of(bundle)}:
        raise PermissionDenied("None of your books is in this bundle.")
    consent, _ = BundleConsent.objects.select_for_update().get_or_create(
        bundle=bundle, author=author
    )
    consent.status = Consent.ACCEPTED if accept else Consent.DECLINED
    consent.answered_at = timezone.now()
    consent.save(update_fields=["status", "answered_at"])
    return consent
