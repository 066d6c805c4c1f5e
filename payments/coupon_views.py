"""The author's coupons for one book: the list (uses, revenue) and a new coupon."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from core.money import format_cents

from . import coupons
from .forms import CouponForm
from .insights_views import book_for_author
from .models import Coupon


@login_required
@require_http_methods(["GET", "POST"])
def book_coupons(request, slug):
    """List the book's coupons with their redemptions and revenue; POST adds one."""
    book = book_for_author(request, slug)
    form = CouponForm(request.POST or None, book=book)
    if request.method == "POST" and form.is_valid():
        coupon = coupons.create_coupon(by=request.user, book=book, **form.coupon_fields())
        messages.success(request, f"Coupon {coupon.code} created: {coupons.describe(coupon)}.")
        return redirect("payments:book_coupons", slug=book.slug)
    usage = coupons.usage_for(list(Coupon.objects.filter(book=book)))
    return render(
        request,
        "payments/coupons.html",
        {
            "book": book,
            "form": form,
            "usage": [
                {
                    "coupon": u.coupon,
                    "label": coupons.describe(u.coupon),
                    "redemptions": u.redemptions,
                    "revenue": format_cents(u.revenue_cents),
                    "link": request.build_absolute_uri(
                        f"{book.get_absolute_url()}?coupon={u.coupon.code}"
                    ),
                    "status": coupons.availability_problem(u.coupon) or "Running",
                }
                for u in usage
            ],
        },
        status=400 if form.is_bound else 200,
    )
