"""Creating, checking and revoking personal API keys.

A token reads ``sf_<prefix>_<secret>``: the prefix finds the row, the SHA-256 of the
whole token is compared in constant time. SHA-256 (not a slow password hash) is
enough because the secret is 32 random bytes, not something a person chose.
"""

import hashlib
import hmac
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .models import ApiKey

TOKEN_PREFIX = "sf_"  # noqa: S105 (a marker that says what the string is, not a secret)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_key(*, user, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """A new key for ``user`` and its token, which is never stored nor shown again."""
    name = name.strip()
    if not name:
        raise ValidationError("Give the key a name, like “CI” or “Spreadsheet”.")
    unknown = set(scopes) - set(ApiKey.Scope.values)
    if unknown or not scopes:
        raise ValidationError("Choose at least one of the scopes offered.")
    prefix = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        hashed_secret=_digest(token),
        scopes=[s for s in ApiKey.Scope.values if s in scopes],
    )
    return key, token


def key_for_token(token: str) -> ApiKey | None:
    """The key this token belongs to, revoked or not; None for a token of no key."""
    parts = token.split("_")
    if len(parts) < 3 or f"{parts[0]}_" != TOKEN_PREFIX or not parts[1]:
        return None
    key = (
        ApiKey.objects.select_related("user", "user__author_profile")
        .filter(prefix=parts[1])
        .first()
    )
    if key is None or not hmac.compare_digest(key.hashed_secret, _digest(token)):
        return None
    return key


@transaction.atomic
def revoke_key(*, user, key_id: int) -> ApiKey:
    """Revoke one of ``user``'s keys; revoking a revoked key changes nothing."""
    key = ApiKey.objects.select_for_update().get(pk=key_id, user=user)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def touch(key: ApiKey) -> None:
    """Remember when the key was last used, at most once a minute (one UPDATE, no hot row
    rewritten on every call of a busy script)."""
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
