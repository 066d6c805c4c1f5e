from django.conf import settings
from django.http import HttpResponseServerError
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse

from catalog.selectors import home_shelves
from core.logs import get_request_id
from core.pagecache import cache_for_anonymous


@cache_for_anonymous
def home(request):
    shelves = home_shelves()
    books_url = reverse("catalog:list")
    return render(
        request,
        "home.html",
        {
            "shelves": [
                ("Featured", shelves["featured"], books_url),
                ("New releases", shelves["newest"], f"{books_url}?sort=newest"),
                ("Bestsellers", shelves["bestsellers"], f"{books_url}?sort=bestselling"),
                ("In progress: read them as they are written", shelves["in_progress"], books_url),
            ],
            "any_books": bool(shelves["newest"]),
        },
    )


def refund_policy(request):
    return render(request, "pages/refund_policy.html")


def formats(request):
    return render(request, "pages/formats.html")


def royalties(request):
    return render(
        request, "pages/royalties.html", {"examples": [99, 500, 798, 799, 1000, 2000, 2499]}
    )


def server_error(request):
    """The 500 page: self-contained (the database may be what failed), with the
    request id for the reader to quote; the same id is in the logs and in Sentry."""
    body = render_to_string(
        "500.html", {"request_id": get_request_id(), "store_name": settings.STORE_NAME}
    )
    return HttpResponseServerError(body)
