import pytest
from django.urls import reverse

from tests.factories import BookFactory, CategoryFactory

pytestmark = pytest.mark.django_db


def test_a_books_categories_link_to_the_catalog_filtered_by_them(client):
    book = BookFactory()
    design = CategoryFactory(name="Software design", slug="software-design")
    book.categories.add(design)

    html = client.get(book.get_absolute_url()).content.decode()
    link = f'<a href="{reverse("catalog:list")}?category=software-design">Software design</a>'
    assert link in html

    listing = client.get(f"{reverse('catalog:list')}?category=software-design")
    assert book.title in listing.content.decode()
