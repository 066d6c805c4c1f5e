"""The author's bundle screens: their bundles, make/edit one, consent to one.

Thin: the form parses, catalog.bundles decides and asks for consent.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from . import bundles
from .forms import BundleForm
from .models import Author, Bundle


def _author(request) -> Author:
    author = getattr(request.user, "author_profile", None)
    if author is None:
        raise PermissionDenied("Only authors have bundles.")
    return author


def _bundle_for_author(request, slug) -> tuple[Bundle, Author]:
    """The bundle at ``slug`` if the signed-in author made it or has a book in it; else 404."""
    author = _author(request)
    try:
        bundle = bundles.for_author(author).get(slug=slug)
    except Bundle.DoesNotExist as exc:
        raise Http404("No such bundle.") from exc
    return bundle, author


@login_required
def bundle_list(request):
    author = getattr(request.user, "author_profile", None)
    if author is None:
        messages.info(request, "Create your author profile first; then you can make bundles.")
        return redirect("catalog:author_profile")
    rows = [
        {
            "bundle": bundle,
            "problems": bundles.listing_problems(bundle),
            "mine": bundles.may_edit(bundle, author),
            "my_answer": next(
                (c.status for c in bundle.consents.all() if c.author_id == author.pk), None
            ),
        }
        for bundle in bundles.for_author(author)
    ]
    return render(request, "catalog/bundle_list.html", {"rows": rows})


def _save(request, form, author, bundle=None):
    try:
        saved = bundles.save_bundle(by=author, bundle=bundle, **form.bundle_fields())
    except ValidationError as exc:
        form.add_error(None, exc)
        return None
    problems = bundles.listing_problems(
        bundles.with_books(Bundle.objects.filter(pk=saved.pk)).get()
    )
    if problems:
        messages.info(request, f"Saved. Not listed yet: {' '.join(problems)}")
    else:
        messages.success(request, "Saved: the bundle is listed.")
    return redirect("catalog:bundle_list")


@login_required
@require_http_methods(["GET", "POST"])
def bundle_create(request):
    author = _author(request)
    form = BundleForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        response = _save(request, form, author)
        if response is not None:
            return response
    return render(
        request, "catalog/bundle_form.html", {"form": form, "bundle": None}, status=_status(form)
    )


@login_required
@require_http_methods(["GET", "POST"])
def bundle_edit(request, slug):
    bundle, author = _bundle_for_author(request, slug)
    if not bundles.may_edit(bundle, author):
        raise Http404("No such bundle.")
    form = BundleForm(
        request.POST or None,
        request.FILES or None,
        bundle=bundle,
        initial=BundleForm.initial_for(bundle),
    )
    if request.method == "POST" and form.is_valid():
        response = _save(request, form, author, bundle)
        if response is not None:
            return response
    return render(
        request, "catalog/bundle_form.html", {"form": form, "bundle": bundle}, status=_status(form)
    )


def _status(form) -> int:
    return 400 if form.is_bound and form.errors else 200


@login_required
@require_http_methods(["GET", "POST"])
def bundle_consent(request, slug):
    """An author of an included book sees the bundle's terms and says yes or no."""
    bundle, author = _bundle_for_author(request, slug)
    if request.method == "POST":
        accept = request.POST.get("answer") == "accept"
        try:
            bundles.answer(bundle=bundle, author=author, accept=accept)
        except PermissionDenied as exc:
            raise Http404("No such bundle.") from exc
        messages.success(
            request,
            f"You consented to “{bundle.title}”."
            if accept
            else f"You declined “{bundle.title}”: it is not listed.",
        )
        return redirect("catalog:bundle_list")
    mine = next((c for c in bundle.consents.all() if c.author_id == author.pk), None)
    return render(
        request,
        "catalog/bundle_consent.html",
        {
            "bundle": bundle,
            "consent": mine,
            "books": bundles.books_of(bundle),
            "problems": bundles.listing_problems(bundle),
        },
    )
