from django.conf import settings


def store(request):
    """Values every page's chrome needs (header, footer)."""
    return {"STORE_NAME": settings.STORE_NAME}
