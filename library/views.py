from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from .models import Entitlement


@login_required
def index(request):
    """Every book the reader owns."""
    entitlements = (
        Entitlement.objects.active()
        .filter(user=request.user)
        .select_related("book", "book__current_release")
        .order_by("-granted_at")
    )
    return render(request, "library/index.html", {"entitlements": entitlements})
