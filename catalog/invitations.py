"""Consent between authors: co-authorship and translation links wait for a yes.

An author invites; the other side accepts or declines from the e-mailed link or
from their books page. Inviting never looks an address up: every address gets
the same invitation row and the same e-mail, so the inviter learns nothing about
who has an account. Whether the address is an author's is checked only when
someone accepts, against the accepting account's verified addresses.
"""

import secrets
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from core.mail import queue_templated_email
from core.pagecache import forget_now_and_at_commit

from . import services
from .models import Book, Invitation

VALID_FOR = timedelta(days=14)
MAX_PENDING_PER_BOOK = 10  # Bounds the e-mails one book can send out at a time.

Status = Invitation.Status


class InvitationUnavailable(Exception):
    """The invitation cannot be answered any more (answered, cancelled, expired)."""


class NotForYou(PermissionDenied):
    """The logged-in account is not the one invited."""


class NeedsAuthorProfile(Exception):
    """The right account, but it has no author profile to join a book with yet."""


def _new_invitation(**fields) -> Invitation:
    return Invitation.objects.create(
        token=secrets.token_urlsafe(32), expires_at=timezone.now() + VALID_FOR, **fields
    )


def _links(invitation: Invitation) -> dict:
    site = settings.SITE_URL
    return {
        "accept_url": site + reverse("catalog:invitation_accept", args=[invitation.token]),
        "decline_url": site + reverse("catalog:invitation_decline", args=[invitation.token]),
    }


def _inviter_name(user) -> str:
    author = getattr(user, "author_profile", None)
    return author.display_name if author else user.email


def _pending(queryset):
    return queryset.filter(status=Status.PENDING, expires_at__gt=timezone.now())


# --- Asking ---------------------------------------------------------------------


@transaction.atomic
def invite_coauthor(*, book: Book, by, email: str, share: int) -> Invitation:
    """Invite ``email`` to co-author ``book`` with ``share`` percent of the inviter's share.

    The same row and the same e-mail whatever the address is (an author, a reader,
    nobody yet): the answer must not tell the inviter which.
    """
    email = email.strip().lower()
    book = Book.objects.select_for_update().get(pk=book.pk)
    mine = book.authorships.filter(author__user=by).first()
    if mine is None:
        raise PermissionDenied("Only the book's authors can invite co-authors.")
    if email == by.email.lower():
        raise ValidationError("That is your own address.")
    pending = _pending(book.invitations.filter(kind=Invitation.Kind.COAUTHOR))
    if pending.filter(email=email).exists():
        raise ValidationError("This address has an open invitation already; cancel it first.")
    if pending.count() >= MAX_PENDING_PER_BOOK:
        raise ValidationError("This book has too many open invitations; cancel some first.")
    promised = sum(i.royalty_share for i in pending.filter(invited_by=by))
    left = mine.royalty_share - promised - 1  # the inviter keeps at least 1%
    if share > left:
        raise ValidationError(
            f"The share comes out of yours: you can offer at most {max(left, 0)}% "
            "(your share, less what open invitations already offer, keeping 1%)."
        )
    # An invitation to this address that ran out may be renewed.
    book.invitations.filter(
        kind=Invitation.Kind.COAUTHOR, status=Status.PENDING, email=email
    ).update(status=Status.EXPIRED)
    invitation = _new_invitation(
        kind=Invitation.Kind.COAUTHOR, book=book, email=email, royalty_share=share, invited_by=by
    )
    queue_templated_email(
        key=f"invitation:{invitation.pk}",
        to=email,
        template="email/coauthor_invitation",
        context={
            "invitation": invitation,
            "book": book,
            "inviter": _inviter_name(by),
            **_links(invitation),
        },
    )
    return invitation


@transaction.atomic
def propose_translation(*, book: Book, original: Book | None, by) -> Invitation | None:
    """Point ``book`` at ``original`` as the book it translates.

    Linking to a book ``by`` writes, or unlinking, takes effect at once; a link to
    another author's book becomes an invitation to its authors and changes
    nothing until one of them accepts. Returns the pending invitation, if any.
    """
    book = Book.objects.select_for_update().get(pk=book.pk)
    if original is None or original.pk == book.translation_of_id:
        if original is None and book.translation_of_id is not None:
            Book.objects.filter(pk=book.pk).update(translation_of=None)
            forget_now_and_at_commit()
        return None
    if original.pk == book.pk:
        raise ValidationError("A book cannot be a translation of itself.")
    open_links = _pending(book.invitations.filter(kind=Invitation.Kind.TRANSLATION))
    if original.authorships.filter(author__user=by).exists():
        open_links.update(status=Status.CANCELLED)
        Book.objects.filter(pk=book.pk).update(translation_of=original)
        forget_now_and_at_commit()
        return None
    same = open_links.filter(original=original).first()
    if same is not None:
        return same
    # Only one open link per book: a new choice replaces the one still waiting.
    book.invitations.filter(kind=Invitation.Kind.TRANSLATION, status=Status.PENDING).update(
        status=Status.CANCELLED
    )
    invitation = _new_invitation(
        kind=Invitation.Kind.TRANSLATION, book=book, original=original, invited_by=by
    )
    for authorship in original.authorships.select_related("author__user"):
        queue_templated_email(
            key=f"invitation:{invitation.pk}:{authorship.author_id}",
            to=authorship.author.user.email,
            template="email/translation_invitation",
            context={
                "invitation": invitation,
                "book": book,
                "original": original,
                "inviter": _inviter_name(by),
                **_links(invitation),
            },
        )
    return invitation


# --- Answering ------------------------------------------------------------------


def _verified_addresses(user) -> set[str]:
    return {
        e.lower()
        for e in EmailAddress.objects.filter(user=user, verified=True).values_list(
            "email", flat=True
        )
    }


def is_for(invitation: Invitation, user) -> bool:
    """Whether ``user`` is who the invitation asks."""
    if not user.is_authenticated:
        return False
    if invitation.kind == Invitation.Kind.TRANSLATION:
        return invitation.original.authorships.filter(author__user=user).exists()
    return invitation.email in _verified_addresses(user)


def for_user(user):
    """The open invitations waiting for ``user``'s answer, newest first."""
    translations = Q(kind=Invitation.Kind.TRANSLATION, original__authors__user=user)
    coauthor = Q(kind=Invitation.Kind.COAUTHOR, email__in=_verified_addresses(user))
    return (
        _pending(Invitation.objects.filter(translations | coauthor))
        .select_related("book", "original", "invited_by__author_profile")
        .distinct()
    )


def _lock_for_answer(token: str, user) -> Invitation:
    """The invitation, locked, if ``user`` may answer it now; expired ones are marked so."""
    invitation = Invitation.objects.select_for_update().get(token=token)
    if not is_for(invitation, user):
        raise NotForYou("This invitation was sent to someone else.")
    return invitation


def _unavailable(invitation: Invitation) -> InvitationUnavailable:
    if invitation.is_expired:
        Invitation.objects.filter(pk=invitation.pk).update(status=Status.EXPIRED)
        return InvitationUnavailable("This invitation has expired. Ask for a new one.")
    label = invitation.get_status_display().lower()
    return InvitationUnavailable(f"This invitation was {label} already.")


def accept(*, token: str, user) -> Invitation:
    """Accept: the co-authorship or the translation link is made, exactly once.

    A second click finds the invitation accepted by the same account and returns it.
    """
    with transaction.atomic():
        invitation = _lock_for_answer(token, user)
        if invitation.status == Status.ACCEPTED and invitation.answered_by_id == user.pk:
            return invitation
        if invitation.status != Status.PENDING or invitation.is_expired:
            error = _unavailable(invitation)
        else:
            error = None
            if invitation.kind == Invitation.Kind.COAUTHOR:
                _join_as_coauthor(invitation, user)
            else:
                Book.objects.filter(pk=invitation.book_id).update(
                    translation_of=invitation.original_id
                )
                forget_now_and_at_commit()
            _answer(invitation, user, Status.ACCEPTED)
    if error is not None:  # raised after commit, so an expiry noticed here is kept
        raise error
    return invitation


def _join_as_coauthor(invitation: Invitation, user) -> None:
    author = getattr(user, "author_profile", None)
    if author is None:
        raise NeedsAuthorProfile("Create your author profile first, then accept.")
    book = Book.objects.select_for_update().get(pk=invitation.book_id)
    authorships = list(book.authorships.select_related("author"))
    if any(a.author_id == author.pk for a in authorships):
        return  # an author already: nothing to add, no share to move
    share = invitation.royalty_share
    inviter = next((a for a in authorships if a.author.user_id == invitation.invited_by_id), None)
    if inviter is None or inviter.royalty_share - share < 1:
        raise ValidationError(
            "The book's royalty shares changed since this invitation was sent, so it "
            "can no longer be accepted as it is. Ask the author for a new one."
        )
    # The shares as they are, the inviter's less what they offered; set_coauthors
    # checks again that they sum to 100.
    services.set_coauthors(
        book=book,
        coauthors=[
            services.CoAuthor(a.author, a.royalty_share - (share if a is inviter else 0))
            for a in authorships
        ]
        + [services.CoAuthor(author, share)],
    )


def _answer(invitation: Invitation, user, status: str) -> None:
    invitation.status = status
    invitation.answered_by = user
    invitation.answered_at = timezone.now()
    invitation.save(update_fields=["status", "answered_by", "answered_at"])


def decline(*, token: str, user) -> Invitation:
    """Decline: nothing changes but the invitation's status. Declining twice is one decline."""
    with transaction.atomic():
        invitation = _lock_for_answer(token, user)
        if invitation.status == Status.DECLINED and invitation.answered_by_id == user.pk:
            return invitation
        if invitation.status != Status.PENDING or invitation.is_expired:
            error = _unavailable(invitation)
        else:
            error = None
            _answer(invitation, user, Status.DECLINED)
    if error is not None:
        raise error
    return invitation


@transaction.atomic
def cancel(*, invitation_id: int, book: Book, by) -> Invitation:
    """The inviting side withdraws an invitation that is still open."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation_id, book=book)
    if invitation.status == Status.PENDING:
        invitation.status = Status.CANCELLED
        invitation.answered_by = by
        invitation.answered_at = timezone.now()
        invitation.save(update_fields=["status", "answered_by", "answered_at"])
    return invitation


def pending_for_book(book: Book):
    """The open invitations a book's authors sent: shown with a cancel button."""
    return _pending(book.invitations.all()).select_related("original")
