"""Accounts written to from outside the sign-up form: the account behind an e-mail address."""

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

User = get_user_model()


def normalise_email(email: str) -> str:
    """The form an address is stored in: trimmed and lower-cased (as ``UserManager``
    stores it), so "Reader@Example.com " and "reader@example.com" are one account."""
    return User.objects.normalize_email((email or "").strip()).lower()


def _existing_account(email: str):
    """The account that answers to ``email``: the one that *verified* it (allauth may
    hold it as a secondary address), else the one whose login it is. An unverified
    secondary address proves nothing, so it never routes a purchase to its holder."""
    verified = (
        EmailAddress.objects.filter(email__iexact=email, verified=True)
        .select_related("user")
        .first()
    )
    if verified is not None:
        return verified.user
    return User.objects.filter(email__iexact=email).first()


def account_for_email(email: str) -> tuple[User, bool]:
    """The account for ``email``, created when there is none: ``(user, created)``.

    A new account has an unusable password and an unverified allauth
    ``EmailAddress``; the one-time sign-in link (``accounts.login_links``) verifies
    it. Two requests with the same new address at once create one account: the
    second insert hits the case-insensitive unique index, and its savepoint rolls
    back to read the winner's row.

    ``created`` is for the e-mail's wording only ("your new account" / "your
    account"); a page must never show it, or it would tell a visitor who has an
    account at this store.
    """
    email = normalise_email(email)
    if not email:
        raise ValueError("An e-mail address is required.")
    user = _existing_account(email)
    if user is not None:
        return user, False
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=None)
            EmailAddress.objects.create(user=user, email=email, primary=True, verified=False)
    except IntegrityError:
        user = _existing_account(email)
        if user is None:  # not the address after all: a real integrity problem
            raise
        return user, False
    return user, True
