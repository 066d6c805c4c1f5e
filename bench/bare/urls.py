"""The bare floor's only page, at the product floor's path (/bench/floor/)."""

from django.shortcuts import render
from django.urls import path

from bench.bare.models import Book

# The same work as the product floor (bench/floor_urls.py): one indexed query
# (ORDER BY the primary key, LIMIT), a few rows, a small template.
FLOOR_ROWS = 10


def floor(request):
    books = list(Book.objects.order_by("pk").only("id", "slug", "title")[:FLOOR_ROWS])
    return render(request, "bench/floor.html", {"books": books})


urlpatterns = [path("bench/floor/", floor, name="bench_floor")]
