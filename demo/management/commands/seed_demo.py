"""Create the demo accounts and the demo catalog.

Idempotent: running it again updates texts and prices in place and creates
nothing twice (books, releases and files are made once).
"""

import uuid
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from catalog import manuscript, services
from catalog.models import Author, Book, Build, Category
from demo import books as demo_books
from demo import netflix
from demo.covers import cover_png
from library.models import Entitlement
from payments import ledger_guards
from payments.ledger import rebuild_daily
from payments.models import LedgerEntry, LedgerTransaction, Order
from payments.services import mark_paid, place_order, place_pack_order

# (book, price in cents, days ago): both sides of the 60-day line, the flat fee's edge, free copies.
DEMO_SALES = [
    ("postgresql-indexes-field-guide", 0, 12),
    ("pocket-guide-to-git", 499, 3),
    ("behindthestack-netflix-architecture", 2499, 2),
    ("behindthestack-netflix-architecture", 1950, 9),
    ("behindthestack-netflix-architecture", 1499, 35),
    ("behindthestack-netflix-architecture", 3000, 75),
    ("behindthestack-netflix-architecture", 2499, 90),
    ("pocket-guide-to-git", 799, 20),
    ("writing-technical-books", 0, 5),
    ("writing-technical-books", 1000, 64),
]

DEMO_PASSWORD = "storefront-demo"  # noqa: S105 - printed on purpose, demo data only

DEMO_ACCOUNTS = [
    # (e-mail, name, role)
    ("reader@example.com", "Demo Reader", "reader"),
    ("author@example.com", netflix.AUTHOR_NAME, "author"),
    ("admin@example.com", "Demo Admin", "admin"),
]


def accounts_box() -> str:
    """Where the store is served and the demo accounts to log in with, in a box."""
    site = settings.SITE_URL.rstrip("/")
    lines = [
        f"Storefront: {site}/",
        f"Demo accounts (password for all: {DEMO_PASSWORD}):",
        *(f"  {role:<7} {email}" for email, _name, role in DEMO_ACCOUNTS),
        f"Admin: {site}/admin/",
        f"Demo catalog: {Book.objects.listed().count()} books listed.",
    ]
    width = max(len(line) for line in lines)
    rule = "+" + "-" * (width + 2) + "+"
    return "\n".join([rule, *(f"| {line:<{width}} |" for line in lines), rule])


class Command(BaseCommand):
    help = "Create the demo reader, author and admin accounts and the demo catalog."

    def add_arguments(self, parser):
        parser.add_argument(
            "--quiet-accounts", action="store_true", help="Do not print the accounts."
        )

    def handle(self, *args, **options):
        with transaction.atomic():
            users = {role: self._account(email, name, role) for email, name, role in DEMO_ACCOUNTS}
            author = services.save_author_profile(
                user=users["author"], display_name=netflix.AUTHOR_NAME, bio=netflix.AUTHOR_BIO
            )
            self._photo(author)
            authors = {"author@example.com": author}
            for email, name, bio in demo_books.CO_AUTHORS:
                user = self._account(email, name, "author")
                authors[email] = services.save_author_profile(user=user, display_name=name, bio=bio)
                self._photo(authors[email])
            categories = {
                name: Category.objects.get_or_create(
                    name=name, defaults={"slug": services.unique_slug(Category, name)}
                )[0]
                for name in demo_books.CATEGORIES
            }
            self._netflix_books(author, categories)
            for spec in demo_books.BOOKS:
                self._book(spec, authors, categories)
        # The demo's own purchases must not print a pile of receipts on the console.
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"):
            self._sales(users["reader"])
        rebuild_daily()  # the demo sales were backdated behind the ledger's back
        if not options["quiet_accounts"]:
            # Last, so `make run` shows it right before the server starts, not
            # under the migrations' and tasks' log lines.
            self.stdout.write(self.style.SUCCESS(accounts_box()))

    def _account(self, email, name, role):
        User = get_user_model()
        user, created = User.objects.get_or_create(email=email, defaults={"name": name})
        if created:
            user.set_password(DEMO_PASSWORD)
        user.name = name
        user.is_staff = user.is_superuser = role == "admin"
        user.save()
        EmailAddress.objects.update_or_create(
            user=user, email=email, defaults={"verified": True, "primary": True}
        )
        return user

    def _photo(self, author: Author):
        if not author.photo:
            initials = "".join(word[0] for word in author.display_name.split()[:2])
            author.photo.save(
                "photo.png", ContentFile(cover_png(initials, "", width=240, height=240)), save=True
            )

    def _upsert_book(self, *, slug, author, fields, categories) -> tuple[Book, bool]:
        book = Book.objects.filter(slug=slug).first()
        if book is None:
            book = services.create_book(author=author, slug=slug, categories=categories, **fields)
            return book, True
        services.update_book(book=book, categories=categories, **fields)
        return book, False

    def _netflix_books(self, author, categories):
        original, _ = self._upsert_book(
            slug=netflix.ORIGINAL_SLUG,
            author=author,
            categories=[categories["Software Architecture"]],
            fields={
                "title": netflix.ORIGINAL_TITLE,
                "subtitle": netflix.ORIGINAL_SUBTITLE,
                "blurb": "A edição original, em português, do livro sobre a evolução da arquitetura da Netflix.",
                "language": "pt-br",
                "status": Book.Status.IN_PROGRESS,
                "installments_completed": 9,
                "installments_planned": 15,
                "minimum_price_cents": 1499,
                "suggested_price_cents": 2499,
                "stamp_files": True,  # every owner's copy says "Prepared for ..."
            },
        )
        book, _ = self._upsert_book(
            slug=netflix.SLUG,
            author=author,
            categories=[categories["Software Architecture"]],
            fields={
                "title": netflix.TITLE,
                "subtitle": netflix.SUBTITLE,
                "blurb": netflix.BLURB,
                "about": netflix.ABOUT,
                "early_access_note": netflix.EARLY_ACCESS_NOTE,
                "language": "en",
                "translation_of": original,
                "status": Book.Status.IN_PROGRESS,
                "installments_completed": 9,
                "installments_planned": 15,
                "minimum_price_cents": 1499,
                "suggested_price_cents": 2499,
                "stamp_files": True,  # every owner's copy says "Prepared for ..."
                "featured": True,
                "page_count": 186,
                "word_count": 48_200,
            },
        )
        chapters = [
            {"title": t, "markdown": body, "part": part, "in_sample": t in netflix.SAMPLE_CHAPTERS}
            for part, t, body in netflix.chapter_texts()
        ]
        self._publish_manuscript(book, chapters, version="0.9", author_name=netflix.AUTHOR_NAME)
        self._cover(original, netflix.AUTHOR_NAME)

    def _book(self, spec, authors, categories):
        owner = authors[spec["authors"][0][0]]
        done, planned = spec.get("installments", (0, 0))
        book, _ = self._upsert_book(
            slug=spec["slug"],
            author=owner,
            categories=[categories[name] for name in spec["categories"]],
            fields={
                "title": spec["title"],
                "subtitle": spec["subtitle"],
                "blurb": spec["blurb"],
                "about": spec["about"],
                "status": spec["status"],
                "installments_completed": done,
                "installments_planned": planned,
                "early_access_note": spec.get("early_access_note", ""),
                "minimum_price_cents": spec["minimum"],
                "suggested_price_cents": spec["suggested"],
                "featured": spec.get("featured", False),
                "stamp_files": True,
            },
        )
        services.set_coauthors(
            book=book,
            coauthors=[
                services.CoAuthor(authors[email], share) for email, share in spec["authors"]
            ],
        )
        chapters = [
            {
                "title": title,
                "markdown": f"{spec['about']}\n\n## Notes\n\n{spec['blurb']}",
                "in_sample": i == 0,
            }
            for i, title in enumerate(spec["chapters"])
        ]
        self._publish_manuscript(
            book, chapters, version=spec["version"], author_name=owner.display_name
        )

    def _publish_manuscript(
        self, book: Book, chapters: list[dict], *, version: str, author_name: str
    ):
        """Write the demo manuscript and publish it through the manuscript pipeline,
        once; later runs keep what is there."""
        self._cover(book, author_name)
        if not book.manuscript_chapters.exists():
            for chapter in chapters:
                manuscript.add_chapter(book=book, **chapter)
        if book.releases.exists():
            return
        build = Build.objects.create(
            book=book, kind=Build.Kind.PUBLISH, version=version, notes="The demo edition."
        )
        build = manuscript.run_build(build.pk)
        if build.status != Build.Status.DONE:
            raise CommandError(f"Building {book.title} failed: {build.error_source}: {build.error}")

    def _sales(self, reader):
        """Readers who bought the demo books at various prices and times, so the
        author's earnings dashboard and the reader's library have something to show."""
        for i, (slug, price, days_ago) in enumerate(DEMO_SALES):
            buyer = (
                reader
                if i < 2
                else self._account(f"buyer{i}@example.com", f"Demo Buyer {i}", "reader")
            )
            token = uuid.uuid5(uuid.NAMESPACE_URL, f"storefront-demo-sale-{i}")
            if Order.objects.filter(checkout_token=token).exists():
                continue
            book = Book.objects.get(slug=slug)
            order = place_order(buyer=buyer, book=book, amount_cents=price, checkout_token=token)
            if price:
                mark_paid(order_id=order.pk, amount_cents=price)
            paid_at = timezone.now() - timedelta(days=days_ago)
            Order.objects.filter(pk=order.pk).update(paid_at=paid_at, created_at=paid_at)
            # Backdating rewrites ledger rows, which PostgreSQL otherwise refuses.
            with transaction.atomic(), ledger_guards.lifted():
                LedgerTransaction.objects.filter(order=order).update(created_at=paid_at)
                LedgerEntry.objects.filter(transaction__order=order).update(
                    created_at=paid_at,
                    available_at=paid_at + timedelta(days=settings.REFUND_WINDOW_DAYS),
                )
            Entitlement.objects.filter(order_ref=order.public_id).update(
                granted_at=paid_at,
                refundable_until=paid_at + timedelta(days=settings.REFUND_WINDOW_DAYS)
                if price
                else None,
            )

        # The demo reader has a 3-credit pack, so "Buy with 1 credit" shows on book pages.
        pack_token = uuid.uuid5(uuid.NAMESPACE_URL, "storefront-demo-credit-pack")
        if (
            settings.CREDITS_ENABLED
            and not Order.objects.filter(checkout_token=pack_token).exists()
        ):
            size = 3 if 3 in settings.CREDIT_PACKS else min(settings.CREDIT_PACKS)
            pack = place_pack_order(buyer=reader, credits=size, checkout_token=pack_token)
            mark_paid(order_id=pack.pk, amount_cents=pack.amount_cents)

    def _cover(self, book: Book, author_name: str):
        if not book.cover:
            book.cover.save(
                "cover.png", ContentFile(cover_png(book.title, author_name)), save=False
            )
            Book.objects.filter(pk=book.pk).update(cover=book.cover.name)
