"""The author's coupons for one book or one bundle: the list (uses, revenue) and a
new coupon."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from catalog import bundles
from catalog.models import Bundle
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
    return _page(
        request,
        form=form,
        title=book.title,
        page_url=book.get_absolute_url(),
        back=(reverse("catalog:manage_book", args=[book.slug]), "Manage the book"),
        owned=Coupon.objects.filter(book=book),
    )


def _bundle_for_author(request, slug) -> tuple[Bundle, bool]:
    """The bundle at ``slug`` if the signed-in author made it or has a book in it
    (404 else), and whether they may create its coupons: only its maker, who sets
    its prices; its other authors see the coupons, their uses and revenue."""
    author = getattr(request.user, "author_profile", None)
    if author is None:
        raise PermissionDenied("Only authors have bundles.")
    bundle = bundles.for_author(author).filter(slug=slug).first()
    if bundle is None:
        raise Http404("No such bundle.")
    return bundle, bundles.may_edit(bundle, author)


@login_required
@require_http_methods(["GET", "POST"])
def bundle_coupons(request, slug):
    """The bundle's coupons (next to the book coupons screen); POST adds one (the maker)."""
    bundle, may_create = _bundle_for_author(request, slug)
    if request.method == "POST" and not may_create:
        raise PermissionDenied("Only the bundle's maker creates its coupons.")
    form = CouponForm(request.POST or None, bundle=bundle) if may_create else None
    if request.method == "POST" and form.is_valid():
        coupon = coupons.create_coupon(by=request.user, bundle=bundle, **form.coupon_fields())
        messages.success(request, f"Coupon {coupon.code} created: {coupons.describe(coupon)}.")
        return redirect("payments:bundle_coupons", slug=bundle.slug)
    return _page(
        request,
        form=form,
        title=f"{bundle.title} (bundle)",
        page_url=bundle.get_absolute_url(),
        back=(reverse("catalog:bundle_list"), "Your bundles"),
        owned=Coupon.objects.filter(bundle=bundle),
        bundle=True,
    )


def _page(request, *, form, title, page_url, back, owned, bundle=False):
    usage = coupons.usage_for(list(owned))
    return render(
        request,
        "payments/coupons.html",
        {
            "title": title,
            "back_url": back[0],
            "back_label": back[1],
            "bundle": bundle,
            "form": form,
            "usage": [
                {
                    "coupon": u.coupon,
                    "label": coupons.describe(u.coupon),
                    "redemptions": u.redemptions,
                    "revenue": format_cents(u.revenue_cents),
                    "link": request.build_absolute_uri(f"{page_url}?coupon={u.coupon.code}"),
                    "status": coupons.availability_problem(u.coupon) or "Running",
                }
                for u in usage
            ],
        },
        status=400 if form is not None and form.is_bound else 200,
    )
