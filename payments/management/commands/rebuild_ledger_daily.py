from django.core.management.base import BaseCommand

from payments.ledger import rebuild_daily


class Command(BaseCommand):
    help = "Recompute the ledger's daily sums (the earnings dashboard's source) from its entries."

    def handle(self, *args, **options):
        rows = rebuild_daily()
        self.stdout.write(self.style.SUCCESS(f"{rows} daily rows rebuilt."))
