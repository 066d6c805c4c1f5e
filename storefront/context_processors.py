from django.conf import settings


def store(request):
    """Values every page's chrome needs (header, footer, optional features)."""
    return {"STORE_NAME": settings.STORE_NAME, "CREDITS_ENABLED": settings.CREDITS_ENABLED}
