"""Downloads from a guest's paid page (payments.guest_books): the browser that paid,
the files of the lines it paid for, served like the library's (stamped copies)."""

from django.http import Http404
from django.views.decorators.http import require_GET

from catalog.models import BookFormat
from library.views import deliver

from . import guest_books
from .cart_views import GUEST_PAYMENTS_KEY
from .models import Payment


def guest_payment(request, public_id) -> Payment:
    """A payment this browser made without signing in (its session remembers it); 404 else."""
    if str(public_id) not in request.session.get(GUEST_PAYMENTS_KEY, []):
        raise Http404("No such payment.")
    payment = (
        Payment.objects.select_related("buyer")
        .filter(public_id=public_id, guest_checkout=True)
        .first()
    )
    if payment is None:
        raise Http404("No such payment.")
    return payment


@require_GET
def download(request, public_id, book_id, fmt):
    payment = guest_payment(request, public_id)
    found = guest_books.file_for(payment, book_id, fmt) if fmt in BookFormat.values else None
    if found is None:
        raise Http404("This book is not in this payment, or no longer yours.")
    release_file, entitlement = found
    return deliver(request, release_file, user=payment.buyer, entitlement=entitlement)
