from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    # Not "Accounts": that is allauth's app's name (see accounts/signin_app.py).
    verbose_name = "Users"

    def ready(self):
        from . import checks, receivers  # noqa: F401  (registers deploy checks and receivers)
