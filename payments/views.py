from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from catalog.models import Book

from .forms import AmountForm
from .royalties import royalty_for


@require_http_methods(["GET", "POST"])
def checkout(request, slug):
    """The checkout summary for the amount chosen on the book page."""
    try:
        book = Book.objects.listed().with_authors().get(slug=slug)
    except Book.DoesNotExist as exc:
        raise Http404("No such book.") from exc
    form = AmountForm(request.POST or request.GET or None, book=book)
    amount = form.cleaned_data["amount"] if form.is_valid() else None
    return render(
        request,
        "payments/checkout.html",
        {
            "book": book,
            "form": form,
            "amount": amount,
            "author_earns": royalty_for(amount) if amount is not None else None,
        },
        status=200 if form.is_valid() or not form.is_bound else 400,
    )
