"""The reader's e-reader address page, and "Send to e-reader" (library/ereader.py)."""

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from catalog.models import Book
from core.ratelimit import consume, limit, too_many_requests

from . import ereader, services


@login_required
@require_http_methods(["GET", "POST"])
def address(request):
    """Save an address (a code is e-mailed to it), type the code back, or remove it."""
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "save":
                if not consume(request, "ereader_code", account=request.user.pk).allowed:
                    return too_many_requests(request)
                row = ereader.save_address(user=request.user, email=request.POST.get("email", ""))
                if row.is_verified:
                    messages.success(request, f"{row.email} is your e-reader address.")
                else:
                    messages.success(request, f"We e-mailed a 6-digit code to {row.email}.")
                return redirect("library:ereader")
            if action == "verify":
                row = ereader.verify(user=request.user, code=request.POST.get("code", ""))
                messages.success(request, f"Verified: books can now be sent to {row.email}.")
                return redirect("library:ereader")
            if action == "remove":
                ereader.remove_address(user=request.user)
                messages.success(request, "Your e-reader address is removed.")
                return redirect("library:ereader")
            raise ereader.EreaderError("Unknown action.")
        except ereader.EreaderError as exc:
            messages.error(request, str(exc))
            status = 400
    return render(
        request,
        "library/ereader.html",
        {
            "address": ereader.address_of(request.user),
            "from_email": settings.DEFAULT_FROM_EMAIL,
            "max_mb": settings.EREADER_MAX_BYTES // (1024 * 1024),
            "minutes": settings.EREADER_CODE_MINUTES,
        },
        status=status,
    )


@login_required
@require_POST
@limit("ereader_send", account=lambda request: request.user.pk)
def send(request, slug):
    """One click: the book's EPUB to the reader's verified e-reader address."""
    book = get_object_or_404(Book.objects.select_related("current_release"), slug=slug)
    if not services.can_download(request.user, book):
        raise Http404("This book is not in your library.")
    try:
        token = str(uuid.UUID(request.POST.get("token", "")))
    except ValueError:
        messages.error(request, "This form is out of date: reload the page and send again.")
        return redirect("library:entry", slug=slug)
    try:
        created = ereader.send_book(user=request.user, book=book, token=token)
    except ereader.EreaderError as exc:
        messages.error(request, str(exc))
        return redirect("library:entry", slug=slug)
    address = ereader.address_of(request.user)
    if created:
        messages.success(request, f"“{book.title}” is on its way to {address.email}.")
    else:
        messages.info(request, f"“{book.title}” was sent to {address.email} already.")
    return redirect("library:entry", slug=slug)
