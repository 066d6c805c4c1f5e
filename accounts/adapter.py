"""allauth customisation, in one place (allauth's adapter pattern)."""

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.db import transaction

from storefront.tasks import deliver_email


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix, email, context):
        """Render allauth's e-mail here, deliver it from a Celery task.

        The SMTP round-trip then never holds up the request, and a failing
        mail server is retried with backoff instead of losing the message.
        """
        context = {**context, "store_name": settings.STORE_NAME}
        message = self.render_mail(template_prefix, email, context)
        payload = {
            "subject": message.subject,
            "body": message.body,
            "to": list(message.to),
            "from_email": message.from_email,
            "html": next(
                (c for c, mime in getattr(message, "alternatives", []) if mime == "text/html"),
                None,
            ),
        }
        transaction.on_commit(lambda: deliver_email.delay(**payload))
