"""Deploy checks for the accounts settings (``manage.py check --deploy``)."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def email_enumeration(app_configs, **kwargs):
    """Outside the demo, sign-up, login and password reset must not tell whether an
    address has an account. allauth hides it only with mandatory verification
    (with optional verification the sign-up form says "already registered")."""
    if settings.DEBUG:
        return []
    if settings.ACCOUNT_EMAIL_VERIFICATION != "mandatory" or not getattr(
        settings, "ACCOUNT_PREVENT_ENUMERATION", True
    ):
        return [
            checks.Warning(
                "Sign-up reveals which e-mail addresses have an account.",
                hint="Set ACCOUNT_EMAIL_VERIFICATION=mandatory (optional is for the demo only).",
                id="accounts.W001",
            )
        ]
    return []
