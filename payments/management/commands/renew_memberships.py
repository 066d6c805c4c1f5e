from django.core.management.base import BaseCommand

from payments.membership_billing import renew_due


class Command(BaseCommand):
    help = (
        "Renew local (demo gateway) Reader Memberships whose period ended, or end the "
        "cancelled ones. Celery beat runs it hourly; reruns renew nothing twice. "
        "Stripe memberships renew from Stripe's invoice.paid webhooks instead."
    )

    def handle(self, *args, **options):
        renewed = renew_due()
        self.stdout.write(self.style.SUCCESS(f"{renewed} membership(s) renewed."))
