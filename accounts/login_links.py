"""One-time sign-in links: e-mailed after a purchase with only an e-mail address.

A link's token is signed (``django.core.signing``, timestamped) and carries the
user's id, where to go after signing in, and a fingerprint of the account's
sign-in state: the password hash, the last login and the address. Like Django's
password-reset tokens, the link stops working when any of them changes: the
reader signed in some other way, set or changed a password, or changed address.
It also stops working after ``LOGIN_LINK_MAX_AGE`` seconds.

Single use does not rest on the last login alone (one-second precision, and two
tabs can post at once): using a link stores its token's hash under a unique
constraint, inside the transaction that holds the user's row lock, so a second
tab, a replay or another process is refused.
"""

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from core.mail import queue_templated_email

from .models import UsedLoginLink

User = get_user_model()

SALT = "accounts.login_links"


class LoginLinkError(Exception):
    """The link cannot sign anyone in. ``reason``: "invalid" (tampered, unknown user),
    "expired" or "used" (used already, or the account's sign-in state changed).
    ``user`` is known when the link was genuine (to offer a new one)."""

    def __init__(self, reason: str, *, user=None, next_url: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.user = user
        self.next_url = next_url


@dataclass(frozen=True)
class LoginLink:
    user: User
    next_url: str


def _fingerprint(user) -> str:
    last_login = "" if user.last_login is None else user.last_login.replace(microsecond=0)
    state = f"{user.pk}|{user.password}|{last_login}|{user.email.lower()}|{user.is_active}"
    return salted_hmac(SALT, state, algorithm="sha256").hexdigest()[:32]


def make_token(user, *, next_url: str) -> str:
    return signing.dumps(
        {"u": user.pk, "n": next_url, "f": _fingerprint(user)}, salt=SALT, compress=True
    )


def login_link_url(user, *, next_url: str) -> str:
    """The path of a one-time sign-in link for ``user`` that lands on ``next_url``
    (a same-site path; anything else lands on the home page). Prefix ``SITE_URL``
    for an e-mail."""
    return reverse("accounts:login_link", args=[make_token(user, next_url=next_url)])


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _payload(token: str) -> dict:
    """The token's payload if its signature is ours; a ``LoginLinkError`` otherwise.
    An expired token still names its user and page, so the page can offer a new link."""
    try:
        payload = signing.loads(token, salt=SALT, max_age=settings.LOGIN_LINK_MAX_AGE)
        expired = False
    except signing.SignatureExpired:
        payload = signing.loads(token, salt=SALT)
        expired = True
    except (signing.BadSignature, ValueError, TypeError, UnicodeError):
        raise LoginLinkError("invalid") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), int):
        raise LoginLinkError("invalid")
    next_url = payload.get("n") if isinstance(payload.get("n"), str) else ""
    if expired:
        user = User.objects.filter(pk=payload["u"], is_active=True).first()
        raise LoginLinkError("expired", user=user, next_url=next_url)
    return {"user_id": payload["u"], "next_url": next_url, "fingerprint": payload.get("f")}


def _check(payload: dict, user, token: str) -> LoginLink:
    if user is None or not user.is_active:
        raise LoginLinkError("invalid")
    if not constant_time_compare(str(payload["fingerprint"]), _fingerprint(user)):
        raise LoginLinkError("used", user=user, next_url=payload["next_url"])
    if UsedLoginLink.objects.filter(digest=_digest(token)).exists():
        raise LoginLinkError("used", user=user, next_url=payload["next_url"])
    return LoginLink(user=user, next_url=payload["next_url"])


def read_login_link(token: str) -> LoginLink:
    """What a link would do, without using it (the confirmation page a mail scanner
    may fetch). Raises ``LoginLinkError``."""
    payload = _payload(token)
    return _check(payload, User.objects.filter(pk=payload["user_id"]).first(), token)


def use_login_link(token: str) -> LoginLink:
    """Spend the link: record it as used and verify the address it was sent to.
    Raises ``LoginLinkError`` for a bad, expired or already used link; then nothing
    changed. The caller signs the user in (which also moves the last login, so
    every other link sent before stops working).

    An address that was not verified before proves the reader owns it only now:
    a password on the account was set by someone who never proved owning the
    address (an account squatted in advance), so it is dropped and the reader is
    invited to choose their own; the squatter's sessions end with it.
    """
    payload = _payload(token)
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=payload["user_id"]).first()
        link = _check(payload, user, token)
        try:
            with transaction.atomic():
                UsedLoginLink.objects.create(digest=_digest(token))
        except IntegrityError:
            raise LoginLinkError("used", user=user, next_url=link.next_url) from None
        if not _verify_address(user) and user.has_usable_password():
            user.set_unusable_password()
            user.save(update_fields=["password"])
    UsedLoginLink.objects.filter(
        used_at__lt=timezone.now() - timedelta(seconds=settings.LOGIN_LINK_MAX_AGE)
    ).delete()
    return link


def _verify_address(user) -> bool:
    """Mark the user's login address verified (and primary); whether it already was."""
    address = EmailAddress.objects.filter(user=user, email__iexact=user.email).first()
    if address is not None and address.verified:
        return True
    if EmailAddress.objects.filter(email__iexact=user.email, verified=True).exists():
        return True  # another account verified it first: keep theirs, sign in anyway
    if address is None:
        has_primary = EmailAddress.objects.filter(user=user, primary=True).exists()
        EmailAddress.objects.create(
            user=user, email=user.email, verified=True, primary=not has_primary
        )
    else:
        address.verified = True
        address.save(update_fields=["verified"])
    return False


def send_login_link(user, *, next_url: str, created: bool = False, key: str | None = None):
    """E-mail ``user`` a new one-time sign-in link (through the outbox, after commit).
    ``key`` makes it once-only (e.g. per order); without one, every call sends."""
    url = settings.SITE_URL + login_link_url(user, next_url=next_url)
    return queue_templated_email(
        key=key,
        to=user.email,
        template="email/login_link",
        context={
            "user": user,
            "link_url": url,
            "created": created,
            "max_age_days": max(1, settings.LOGIN_LINK_MAX_AGE // 86400),
        },
    )
