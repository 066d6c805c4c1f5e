from django.core.management.base import BaseCommand, CommandError

from core.money import format_cents
from payments.ledger import audit


class Command(BaseCommand):
    help = (
        "Check the ledger: every transaction sums to zero, and captured money equals what is held."
    )

    def handle(self, *args, **options):
        report = audit()
        self.stdout.write(
            f"{report.transactions} transactions; captured {format_cents(report.captured_cents)}, "
            f"held by authors and platform {format_cents(report.held_cents)}"
        )
        if not report.ok:
            for problem in report.problems:
                self.stderr.write(f"  {problem}")
            raise CommandError(f"The ledger has {len(report.problems)} problem(s).")
        self.stdout.write(self.style.SUCCESS("The ledger balances."))
