import itertools

import factory
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.utils import timezone

from catalog import bundles
from catalog.models import Author, BookAuthor, BundleConsent

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"reader{n}@example.com")
    name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified(self, create, extracted, **kwargs):
        if create:
            self.save()
            if extracted is not False:
                EmailAddress.objects.create(
                    user=self, email=self.email, verified=True, primary=True
                )


class AuthorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Author

    user = factory.SubFactory(UserFactory)
    display_name = factory.Faker("name")
    slug = factory.Sequence(lambda n: f"author-{n}")
    bio = "Writes books."


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "catalog.Category"

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class BookFactory(factory.django.DjangoModelFactory):
    """A listed book with one author owning 100% of its royalties."""

    class Meta:
        model = "catalog.Book"
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"book-{n}")
    title = factory.Sequence(lambda n: f"Book number {n}")
    subtitle = "A subtitle"
    blurb = "A short pitch."
    about = "About the book."
    status = "completed"
    language = "en"
    minimum_price_cents = 999
    suggested_price_cents = 1999
    published_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def authors(self, create, extracted, **kwargs):
        if not create:
            return
        for position, author in enumerate(extracted or [AuthorFactory()]):
            BookAuthor.objects.create(
                book=self,
                author=author,
                royalty_share=100 // len(extracted or [1]),
                position=position,
            )


def book_form_data(**overrides) -> dict:
    """What the author's book form posts for a new draft, with ``overrides``."""
    return {
        "title": "My New Book",
        "subtitle": "",
        "slug": "",
        "blurb": "",
        "about": "",
        "language": "en",
        "status": "draft",
        "installments_completed": "0",
        "installments_planned": "0",
        "minimum_price": "9.99",
        "suggested_price": "19.99",
        **overrides,
    }


_bundle_numbers = itertools.count(1)


def listed_bundle(books, *, by=None, minimum_cents=2000, suggested_cents=3000, **fields):
    """A bundle of ``books`` made by ``by`` (default: the first book's first author)
    with every other author's consent given: listed, if its books are."""
    by = by or books[0].authorships.order_by("position", "id").first().author
    number = next(_bundle_numbers)
    fields.setdefault("title", f"Bundle {number}")
    fields.setdefault("slug", f"bundle-{number}")
    bundle = bundles.save_bundle(
        by=by,
        books=list(books),
        minimum_price_cents=minimum_cents,
        suggested_price_cents=suggested_cents,
        **fields,
    )
    bundle.consents.update(status=BundleConsent.Status.ACCEPTED, answered_at=timezone.now())
    return bundle
