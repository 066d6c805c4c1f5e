from django.conf import settings
from django.http import HttpResponseServerError
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse

from catalog.selectors import home_shelves
from core.logs import get_request_id
from core.pagecache import cache_for_anonymous
from payments.royalties import royalty_for, rule_parameters


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
    # Prices either side of the rule's edges: the minimum, the last price that pays
    # the flat fee and the first that does not, then common prices.
    rule = rule_parameters()
    prices = [rule["min_paid_cents"], 500, rule["fee_below_cents"] - 1, rule["fee_below_cents"]]
    prices += [1000, 2000, 2499]
    return render(
        request, "pages/royalties.html", {"examples": [(p, royalty_for(p)) for p in prices]}
    )


def server_error(request):
    """The 500 page: self-contained (the database may be what failed), with the
    request id for the reader to quote; the same id is in the logs and in Sentry."""
    body = render_to_string(
        "500.html", {"request_id": get_request_id(), "store_name": settings.STORE_NAME}
    )
    return HttpResponseServerError(body)
