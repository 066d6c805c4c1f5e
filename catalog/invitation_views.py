"""Inviting co-authors, and answering invitations (catalog.invitations holds the rules)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core import ratelimit

from . import invitations
from .forms import InviteCoAuthorForm
from .models import Invitation
from .views import _get_book_for_author, coauthors_page

# Said for every address, whoever holds it: the inviter must not learn from the
# answer whether an address has an account or an author profile.
INVITED = (
    "Invitation sent to {email}. If this address belongs to an author, they can accept it "
    "from the e-mail; anyone else is asked to create an author profile first. Nothing "
    "changes until they accept."
)


@login_required
@require_POST
@ratelimit.limit("invite", account=lambda request: request.user.pk)
def invite(request, slug):
    book = _get_book_for_author(request, slug)
    form = InviteCoAuthorForm(request.POST)
    if form.is_valid():
        try:
            invitations.invite_coauthor(
                book=book,
                by=request.user,
                email=form.cleaned_data["email"],
                share=form.cleaned_data["share"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, INVITED.format(email=form.cleaned_data["email"]))
            return redirect("catalog:book_coauthors", slug=book.slug)
    return coauthors_page(request, book, invite_form=form)


@login_required
@require_POST
def cancel(request, slug, invitation_id):
    book = _get_book_for_author(request, slug)
    get_object_or_404(Invitation, pk=invitation_id, book=book)
    invitation = invitations.cancel(invitation_id=invitation_id, book=book, by=request.user)
    if invitation.status == Invitation.Status.CANCELLED:
        messages.success(request, "The invitation is cancelled.")
    else:
        messages.info(request, f"That invitation was {invitation.get_status_display().lower()}.")
    return redirect("catalog:manage_book", slug=book.slug)


@login_required
def answer(request, token, answer):
    """GET: what accepting or declining means; POST: do it."""
    invitation = get_object_or_404(
        Invitation.objects.select_related("book", "original", "invited_by__author_profile"),
        token=token,
    )

    def page(error="", status=200, shown=True):
        return render(
            request,
            "catalog/invitation.html",
            {
                "invitation": invitation if shown else None,
                "answer": answer,
                "error": error,
                "needs_profile": invitation.kind == Invitation.Kind.COAUTHOR
                and not hasattr(request.user, "author_profile"),
            },
            status=status,
        )

    if not invitations.is_for(invitation, request.user):
        # Says nothing about the book or who was invited.
        return page("This invitation was sent to another account.", status=403, shown=False)
    if request.method != "POST":
        if invitation.current_status != Invitation.Status.PENDING:
            return page(_closed(invitation), status=410)
        return page()
    act = invitations.accept if answer == "accept" else invitations.decline
    try:
        invitation = act(token=token, user=request.user)
    except invitations.InvitationUnavailable as exc:
        return page(str(exc), status=410)
    except invitations.NeedsAuthorProfile as exc:
        return page(str(exc), status=409)
    except ValidationError as exc:
        return page(" ".join(exc.messages), status=409)
    if answer == "decline":
        messages.info(request, "You declined the invitation; nothing has changed.")
        return redirect("catalog:my_books")
    if invitation.kind == Invitation.Kind.COAUTHOR:
        messages.success(request, f"You are now a co-author of “{invitation.book.title}”.")
        return redirect("catalog:manage_book", slug=invitation.book.slug)
    messages.success(
        request,
        f"“{invitation.book.title}” is now listed as a translation of “{invitation.original.title}”.",
    )
    return redirect("catalog:my_books")


def _closed(invitation: Invitation) -> str:
    if invitation.current_status == Invitation.Status.EXPIRED:
        return "This invitation has expired. Ask for a new one."
    return f"This invitation was {invitation.get_status_display().lower()} already."
