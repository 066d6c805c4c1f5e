from argparse import ArgumentTypeError
from datetime import UTC, date, datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.money import format_cents
from payments.gateways import GatewayError
from payments.reconciliation import reconcile


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from exc


def _totals(totals: dict) -> str:
    return ", ".join(
        f"{label} {format_cents(totals[kind][0])} ({totals[kind][1]})"
        for kind, label in (("capture", "captured"), ("refund", "refunded"))
    )


class Command(BaseCommand):
    help = (
        "Compare a UTC day's captures and refunds with each gateway's own records, line "
        "by line; exits non-zero when anything differs. Default: yesterday."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--date", type=_day, help="the UTC day YYYY-MM-DD")
        which.add_argument(
            "--since", type=_day, help="every UTC day from YYYY-MM-DD through yesterday"
        )

    def handle(self, *args, date=None, since=None, **options):
        today = timezone.now().astimezone(UTC).date()
        if since is not None:
            days = [since + timedelta(days=n) for n in range((today - since).days)]
            if not days:
                raise CommandError("--since must be a day before today (UTC)")
        else:
            days = [date or today - timedelta(days=1)]
        differences = sum(self._reconcile_day(day) for day in days)
        if differences:
            raise CommandError(f"{differences} difference(s) between us and the gateways.")
        self.stdout.write(self.style.SUCCESS("No differences."))

    def _reconcile_day(self, day: date) -> int:
        start = datetime.combine(day, time.min, tzinfo=UTC)
        try:
            reports = reconcile(start, start + timedelta(days=1))
        except GatewayError as exc:
            raise CommandError(f"{day}: could not ask the gateway: {exc}") from exc
        self.stdout.write(f"{day} (UTC):")
        if not reports:
            self.stdout.write("  no payments through any gateway")
        for report in reports:
            line = f"  {report.gateway}: here {_totals(report.ours)}"
            if report.theirs is None:
                line += "; no outside side to compare"
            else:
                line += f"; at the gateway {_totals(report.theirs)}"
            self.stdout.write(line)
            for difference in report.differences:
                self.stderr.write(f"    {difference}")
        return sum(len(report.differences) for report in reports)
