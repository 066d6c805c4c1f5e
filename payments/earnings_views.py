"""The author's side of payments: earnings dashboard, CSV export, payout details."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from catalog.models import Author
from core.csv_export import SafeWriter
from core.input_guard import bad_request
from core.money import format_plain
from core.pagination import CountedPaginator, querystring_without_page

from . import earnings
from .forms import EarningsRangeForm, PayoutAccountForm
from .models import Payout, PayoutAccount


def _author_for_request(request) -> Author:
    """The logged-in author, or (for staff) the author named by ?author=<slug>."""
    slug = request.GET.get("author")
    if slug and request.user.is_staff:
        return get_object_or_404(Author, slug=slug)
    author = getattr(request.user, "author_profile", None)
    if author is None:
        raise PermissionDenied("Only authors have earnings.")
    return author


@login_required
def dashboard(request):
    author = _author_for_request(request)
    range_form = EarningsRangeForm(request.GET)
    range_ = range_form.date_range  # a refused period shows the default one, and why
    dashboard = earnings.cached_dashboard(author, range_)
    rows = earnings.sales_rows(author, range_)
    page = CountedPaginator(rows, 25, count=dashboard.sales_count).get_page(request.GET.get("page"))
    return render(
        request,
        "payments/earnings.html",
        {
            "author": author,
            "dashboard": dashboard,
            "earnings": dashboard.earnings,
            "range": range_,
            "ranges": earnings.RANGES,
            "figures_cache_seconds": earnings.DASHBOARD_CACHE_SECONDS
            + earnings.DASHBOARD_STALE_SECONDS,
            "page": page,
            "querystring": querystring_without_page(request),
            "payouts": Payout.objects.filter(author=author).order_by("-created_at")[:12],
            "range_errors": range_form.non_field_errors(),
        },
        status=200 if range_form.is_valid() else 400,
    )


class _Echo:
    def write(self, value):
        return value


@login_required
def earnings_csv(request):
    """The sales table of the dashboard's range as CSV, streamed row by row."""
    author = _author_for_request(request)
    range_form = EarningsRangeForm(request.GET)
    if not range_form.is_valid():  # before streaming: a refusal is a page, not a cut-off file
        return bad_request(request, " ".join(range_form.non_field_errors()))
    range_ = range_form.date_range
    writer = SafeWriter(_Echo())  # a title like "=HYPERLINK(...)" stays text

    def rows():
        yield writer.writerow(
            [
                "date",
                "book",
                "type",
                "price_paid",
                "your_royalty",
                "order_status",
                "coupon",
                "sold_as",
            ]
        )
        for entry in earnings.sales_rows(author, range_).iterator(chunk_size=2000):
            order = entry.transaction.order
            yield writer.writerow(
                [
                    entry.created_at.date().isoformat(),
                    entry.book.title,
                    entry.kind,
                    format_plain(order.amount_cents),
                    format_plain(entry.amount_cents),
                    order.status,
                    order.coupon.code if order.coupon else "",
                    order.sold_as,
                ]
            )

    filename = f"earnings-{author.slug}-{range_.start or 'start'}-{range_.end}.csv"
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def payout_details(request):
    author = getattr(request.user, "author_profile", None)
    if author is None:
        raise PermissionDenied("Only authors get payouts.")
    account = PayoutAccount.objects.filter(author=author).first()
    form = PayoutAccountForm(request.POST or None, instance=account)
    if request.method == "POST" and form.is_valid():
        saved = form.save(commit=False)
        saved.author = author
        saved.save()
        messages.success(request, "Your payout details are saved.")
        return redirect("payments:earnings")
    return render(request, "payments/payout_details.html", {"form": form, "account": account})
