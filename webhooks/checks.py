"""`manage.py check --deploy` warns when webhooks may reach this machine's loopback."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def check_loopback_allowed(app_configs=None, **kwargs):
    if settings.DEBUG or not settings.WEBHOOKS_ALLOW_LOOPBACK:
        return []
    return [
        checks.Warning(
            "WEBHOOKS_ALLOW_LOOPBACK is on in production: an author's webhook may POST to "
            "services listening on this machine's loopback.",
            hint="Unset WEBHOOKS_ALLOW_LOOPBACK (it is meant for development and tests).",
            id="webhooks.W001",
        )
    ]
