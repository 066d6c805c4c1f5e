"""System checks of payments: `manage.py check --deploy` refuses the demo gateway.

The demo gateway accepts test card 4242 and charges nothing, and renews demo
memberships for free (``memberships.renew_due``). A production site that forgets
``PAYMENT_GATEWAY`` would give books away, so outside ``DEBUG`` it is an error
unless ``DEMO_STORE=true`` says the store is a demo on purpose.
"""

from django.conf import settings
from django.core import checks

from .gateways import demo_gateway_allowed


@checks.register(checks.Tags.security, deploy=True)
def check_payment_gateway(app_configs=None, **kwargs):
    if settings.PAYMENT_GATEWAY != "demo" or demo_gateway_allowed():
        return []
    return [
        checks.Error(
            "PAYMENT_GATEWAY is 'demo' in production: test cards buy books and memberships "
            "renew without a charge.",
            hint="Set PAYMENT_GATEWAY=stripe and the STRIPE_* keys, or DEMO_STORE=true "
            "if this store is a demo on purpose.",
            id="payments.E001",
        )
    ]
