"""Create the demo accounts (and, as later parts land, the demo catalog).

Idempotent: running it again updates what is there and creates nothing twice.
"""

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from catalog.services import save_author_profile

DEMO_PASSWORD = "storefront-demo"  # noqa: S105 - printed on purpose, demo data only

DEMO_ACCOUNTS = [
    # (e-mail, name, role)
    ("reader@example.com", "Demo Reader", "reader"),
    ("author@example.com", "Raphael Silva Fontes", "author"),
    ("admin@example.com", "Demo Admin", "admin"),
]


class Command(BaseCommand):
    help = "Create the demo reader, author and admin accounts and the demo catalog."

    def add_arguments(self, parser):
        parser.add_argument(
            "--quiet-accounts", action="store_true", help="Do not print the accounts."
        )

    @transaction.atomic
    def handle(self, *args, **options):
        users = {role: self._account(email, name, role) for email, name, role in DEMO_ACCOUNTS}
        save_author_profile(
            user=users["author"],
            display_name="Raphael Silva Fontes",
            bio=(
                "Applied Research Engineer with over 9 years of experience leading high-impact "
                "digital transformation initiatives in the public sector."
            ),
        )
        if not options["quiet_accounts"]:
            self.stdout.write(
                self.style.SUCCESS(f"Demo accounts (password for all: {DEMO_PASSWORD}):")
            )
            for email, _name, role in DEMO_ACCOUNTS:
                self.stdout.write(f"  {role:<7} {email}")

    def _account(self, email, name, role):
        User = get_user_model()
        user, created = User.objects.get_or_create(email=email, defaults={"name": name})
        if created:
            user.set_password(DEMO_PASSWORD)
        user.name = name
        user.is_staff = user.is_superuser = role == "admin"
        user.save()
        EmailAddress.objects.update_or_create(
            user=user, email=email, defaults={"verified": True, "primary": True}
        )
        return user
