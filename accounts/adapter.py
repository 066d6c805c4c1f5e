"""allauth customisation, in one place (allauth's adapter pattern)."""

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings

from core.mail import queue_email
from core.ratelimit import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request):
        """allauth's rate limits count per IP with the store's one rule for the client IP."""
        return client_ip(request)

    def send_mail(self, template_prefix, email, context):
        """Render allauth's e-mail here; the outbox sends it from Celery after commit.

        The SMTP round-trip then never holds up the request, and a failing mail
        server is retried with backoff instead of losing the message.
        """
        context = {**context, "store_name": settings.STORE_NAME}
        message = self.render_mail(template_prefix, email, context)
        html = next(
            (c for c, mime in getattr(message, "alternatives", []) if mime == "text/html"), ""
        )
        queue_email(
            key=None, to=message.to[0], subject=message.subject, body=message.body, html=html
        )
