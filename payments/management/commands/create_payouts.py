from django.core.management.base import BaseCommand, CommandError

from core.money import format_cents
from payments.models import Payout
from payments.payouts import PeriodError, run_payouts


class Command(BaseCommand):
    help = (
        "Create this month's payout batch: one payout per author over the minimum. "
        "Once per month: a rerun creates nothing and says so."
    )

    def add_arguments(self, parser):
        parser.add_argument("--period", help="YYYY-MM (default: this month)")

    def handle(self, *args, period=None, **options):
        try:
            run = run_payouts(period=period)
        except PeriodError as exc:
            raise CommandError(str(exc)) from exc
        payouts = Payout.objects.filter(batch=run.batch).select_related("author")
        for payout in payouts:
            new = " (new)" if payout in run.created else ""
            self.stdout.write(
                f"  {payout.author}: {format_cents(payout.amount_cents)} ({payout.status}){new}"
            )
        if run.nothing_new:
            self.stdout.write(
                f"{run.batch}: nothing new; {payouts.count()} payout(s) made before this run."
            )
        else:
            self.stdout.write(self.style.SUCCESS(f"{run.batch}: {len(run.created)} new payout(s)."))
