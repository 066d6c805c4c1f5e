"""Error reports to Sentry, when ``SENTRY_DSN`` is set (settings.py imports this
module only then, so without a DSN sentry-sdk is never loaded).

Privacy first: the store holds readers' addresses and payment details, so no
personal data leaves: no user, cookies or request bodies (``send_default_pii``
off, bodies never sent) and no local variables of stack frames (they hold orders
and users), and no cache keys (a cached session's key is its session id): only
the Django and Celery integrations, none auto-enabled. What an event does carry
is the request id, as a tag: the same id is in the logs, in the ``X-Request-ID``
header and on the 500 page the reader may quote, so one id leads from a support
mail to the logs and the report.
"""

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration

from .logs import get_request_id


def tag_request_id(event, hint):
    """before_send: tag the event with the request (or task) id being served."""
    request_id = get_request_id()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return event


def init_sentry(
    *, dsn: str, environment: str, release: str | None, traces_sample_rate: float, **options
) -> None:
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        traces_sample_rate=traces_sample_rate,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        # Only these two: the auto-enabled Redis integration would send cache keys
        # as breadcrumbs, and a cached session's key is the reader's session id.
        auto_enabling_integrations=False,
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
        before_send=tag_request_id,
        **options,
    )
