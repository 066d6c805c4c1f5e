"""The author's API keys: create (the token is shown once), list, revoke."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from . import keys
from .forms import ApiKeyForm
from .models import ApiKey


def _require_author(request):
    if getattr(request.user, "author_profile", None) is None:
        raise PermissionDenied("API keys are for authors: create your author profile first.")


@login_required
def key_list(request):
    _require_author(request)
    form = ApiKeyForm(request.POST or None)
    token, status = None, 200
    if request.method == "POST":
        if form.is_valid():
            try:
                _key, token = keys.create_key(
                    user=request.user,
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                form = ApiKeyForm()
        if token is None:
            status = 400
    response = render(
        request,
        "api/keys.html",
        {
            "form": form,
            "token": token,
            "keys": ApiKey.objects.filter(user=request.user),
            "site_url": settings.SITE_URL,
        },
        status=status,
    )
    if token:
        response["Cache-Control"] = "no-store"  # the only copy of the token: never cached
    return response


@login_required
@require_POST
def revoke(request, key_id):
    _require_author(request)
    try:
        key = keys.revoke_key(user=request.user, key_id=key_id)
    except ApiKey.DoesNotExist:
        raise Http404("No such key.") from None
    messages.success(request, f"The key “{key.name}” is revoked: it no longer works.")
    return redirect("api:keys")
