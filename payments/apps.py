from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self):
        # Registers the deploy checks and answers the catalog's signals.
        from . import checks, receivers  # noqa: F401
