"""Secrets and signatures, per the Standard Webhooks spec (``standardwebhooks``)."""

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (the spec's prefix, not a secret)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signature_header(signing_secrets: list[str], *, msg_id: str, at: datetime, body: str) -> str:
    """``webhook-signature``: one ``v1,<base64>`` per secret, space-separated, as the
    spec allows while a secret is being rotated (a receiver accepts any one)."""
    return " ".join(
        Webhook(s).sign(msg_id=msg_id, timestamp=at, data=body) for s in signing_secrets
    )


def headers(signing_secrets: list[str], *, msg_id: str, at: datetime, body: str) -> dict:
    return {
        "Content-Type": "application/json",
        "User-Agent": "Storefront-Webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature_header(signing_secrets, msg_id=msg_id, at=at, body=body),
    }
