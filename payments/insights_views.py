"""The author's insights page for one book (payments/insights.py computes it)."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render

from catalog.models import Book

from . import earnings, insights
from .forms import EarningsRangeForm


def book_for_author(request, slug) -> Book:
    """The book at ``slug`` if the signed-in user is one of its authors, or staff (403 else)."""
    book = get_object_or_404(Book.objects.with_authors(), slug=slug)
    if not (request.user.is_staff or book.is_authored_by(request.user)):
        raise PermissionDenied("Only the book's authors see this page.")
    return book


@login_required
def book_insights(request, slug):
    book = book_for_author(request, slug)
    range_form = EarningsRangeForm(request.GET)
    range_ = range_form.date_range  # a refused period shows the default one, and why
    return render(
        request,
        "payments/insights.html",
        {
            "book": book,
            "range": range_,
            "ranges": earnings.RANGES,
            "range_errors": range_form.non_field_errors(),
            "funnel": insights.funnel(book, range_),
            "prices": insights.price_chart(book, range_),
            "releases": insights.refund_reasons(book, range_),
        },
        status=200 if range_form.is_valid() else 400,
    )
