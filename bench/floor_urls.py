"""The product's URLs, plus the floor: the cheapest page Django can serve here.

The floor goes through the same middleware, reads a few rows through the ORM
(one indexed query) and renders a small template that extends nothing. Every
product page's requests per second are reported as a ratio of the floor's, and
of the bare floor's (bench/bare/: the same view and template without the product).
"""

from django.shortcuts import render
from django.urls import path

from catalog.models import Book
from storefront.urls import urlpatterns as product_urlpatterns

# The same rows as the bare floor (bench/bare/urls.py), so the two floors differ
# only in what serves them.
FLOOR_ROWS = 10


def floor(request):
    books = list(Book.objects.order_by("pk").only("id", "slug", "title")[:FLOOR_ROWS])
    return render(request, "bench/floor.html", {"books": books})


urlpatterns = [path("bench/floor/", floor, name="bench_floor"), *product_urlpatterns]
