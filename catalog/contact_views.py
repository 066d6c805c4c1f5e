"""E-mail the author: the form's POST, and the author's list of blocked senders."""

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.ratelimit import limit

from . import contact
from .models import Author, BlockedSender, Book


class ContactForm(forms.Form):
    author = forms.SlugField(widget=forms.HiddenInput)
    book = forms.SlugField(required=False, widget=forms.HiddenInput)
    token = forms.UUIDField(widget=forms.HiddenInput)
    message = forms.CharField(
        label="Your message",
        min_length=10,
        max_length=contact.MAX_MESSAGE_LENGTH,
        widget=forms.Textarea(attrs={"rows": 6}),
    )


@login_required
@require_POST
@limit("contact_author", account=lambda request: request.user.pk)
def contact_author(request):
    form = ContactForm(request.POST)
    author = book = None
    if form.is_valid():
        author = (
            Author.objects.select_related("user").filter(slug=form.cleaned_data["author"]).first()
        )
        book = Book.objects.listed().filter(slug=form.cleaned_data["book"]).first()
        if author is None:
            form.add_error(None, "There is no such author.")
    if not form.is_valid():
        return render(
            request,
            "catalog/contact/form.html",
            {"form": form, "author": author, "book": book},
            status=400,
        )
    try:
        contact.send_message(
            sender=request.user,
            author=author,
            book=book,
            message=form.cleaned_data["message"],
            token=form.cleaned_data["token"],
        )
    except contact.ContactRefused as exc:
        form.add_error(None, str(exc))
        return render(
            request,
            "catalog/contact/form.html",
            {"form": form, "author": author, "book": book},
            status=403,
        )
    messages.success(request, f"Your message is on its way to {author.display_name}.")
    return redirect(book.get_absolute_url() if book else author.get_absolute_url())


def _own_author(request) -> Author:
    author = getattr(request.user, "author_profile", None)
    if author is None:
        raise PermissionDenied("Only authors receive messages.")
    return author


@login_required
def block_sender(request, token):
    """The "block this sender" link of a message: confirm, then a POST blocks."""
    try:
        author_id, user_id = contact.read_block_token(token)
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise Http404("This link is not valid.") from exc
    author = _own_author(request)
    if author.pk != author_id:
        raise PermissionDenied("This link is for another author.")
    sender = get_object_or_404(get_user_model(), pk=user_id)
    if request.method == "POST":
        contact.block(author=author, user_id=sender.pk)
        messages.success(request, f"{sender.get_full_name()} can no longer e-mail you.")
        return redirect("catalog:blocked_senders")
    return render(request, "catalog/contact/block.html", {"sender": sender})


@login_required
def blocked_senders(request):
    author = _own_author(request)
    blocked = BlockedSender.objects.filter(author=author).select_related("user")
    return render(request, "catalog/contact/blocked.html", {"author": author, "blocked": blocked})


@login_required
@require_POST
def unblock_sender(request, user_id):
    author = _own_author(request)
    contact.unblock(author=author, user_id=user_id)
    messages.success(request, "The sender can e-mail you again.")
    return redirect("catalog:blocked_senders")
