from django.core.management.base import BaseCommand

from webhooks import delivery


class Command(BaseCommand):
    help = "Send the outgoing webhooks that are due now (what Celery beat's sweep does)."

    def handle(self, *args, **options):
        sent = 0
        for delivery_id in delivery.due_delivery_ids():
            if delivery.send(delivery_id) is not None:
                sent += 1
        self.stdout.write(f"{sent} webhook attempt(s) made.")
