from django.core.management.base import BaseCommand

from payments.models import Payout
from payments.payouts import create_payout_batch
from storefront.money import format_cents


class Command(BaseCommand):
    help = "Create this month's payout batch: one payout per author over the minimum."

    def add_arguments(self, parser):
        parser.add_argument("--period", help="YYYY-MM (default: this month)")

    def handle(self, *args, period=None, **options):
        batch = create_payout_batch(period=period)
        payouts = Payout.objects.filter(batch=batch).select_related("author")
        for payout in payouts:
            self.stdout.write(
                f"  {payout.author}: {format_cents(payout.amount_cents)} ({payout.status})"
            )
        self.stdout.write(self.style.SUCCESS(f"{batch}: {payouts.count()} payout(s)."))
