"""An author's webhook endpoints and their delivery logs: their own only (404 otherwise)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from . import endpoints as services
from .addresses import RefusedURL
from .forms import EndpointForm
from .models import Delivery, Endpoint

LOG_PAGE_SIZE = 25


def _own_author(request):
    author = getattr(request.user, "author_profile", None)
    if author is None:
        raise Http404("Only authors have webhooks.")
    return author


def _get_endpoint_for_author(request, endpoint_id) -> Endpoint:
    return get_object_or_404(Endpoint, pk=endpoint_id, author=_own_author(request))


@login_required
def endpoint_list(request):
    author = _own_author(request)
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = services.add_endpoint(author=author, **form.cleaned_data)
        except RefusedURL as exc:
            form.add_error("url", str(exc))
        else:
            messages.success(request, "Endpoint added. Its signing secret is below.")
            return redirect(endpoint)
    endpoints = Endpoint.objects.filter(author=author)
    return render(request, "webhooks/endpoint_list.html", {"endpoints": endpoints, "form": form})


@login_required
def endpoint_detail(request, endpoint_id):
    endpoint = _get_endpoint_for_author(request, endpoint_id)
    form = EndpointForm(
        request.POST or None,
        initial={
            "url": endpoint.url,
            "description": endpoint.description,
            "event_types": endpoint.event_types,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.change_endpoint(endpoint=endpoint, **form.cleaned_data)
        except RefusedURL as exc:
            form.add_error("url", str(exc))
        else:
            messages.success(request, "Endpoint saved.")
            return redirect(endpoint)
    deliveries = (
        Delivery.objects.filter(endpoint=endpoint)
        .select_related("event")
        .prefetch_related("attempt_log")
        .order_by("-created_at", "-id")
    )
    page = Paginator(deliveries, LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "webhooks/endpoint_detail.html",
        {"endpoint": endpoint, "form": form, "page": page},
    )


@login_required
@require_POST
def rotate_secret(request, endpoint_id):
    endpoint = _get_endpoint_for_author(request, endpoint_id)
    services.rotate_secret(endpoint_id=endpoint.pk)
    messages.success(request, "New secret made. The old one keeps signing beside it for 24 hours.")
    return redirect(endpoint)


@login_required
@require_POST
def set_enabled(request, endpoint_id):
    endpoint = _get_endpoint_for_author(request, endpoint_id)
    enabled = request.POST.get("enabled") == "1"
    services.set_enabled(endpoint_id=endpoint.pk, enabled=enabled)
    messages.success(request, "Endpoint enabled." if enabled else "Endpoint disabled.")
    return redirect(endpoint)


@login_required
@require_POST
def delete_endpoint(request, endpoint_id):
    endpoint = _get_endpoint_for_author(request, endpoint_id)
    services.delete_endpoint(endpoint=endpoint)
    messages.success(request, "Endpoint deleted.")
    return redirect("webhooks:endpoints")


@login_required
@require_POST
def resend(request, endpoint_id, delivery_id):
    endpoint = _get_endpoint_for_author(request, endpoint_id)
    delivery = get_object_or_404(Delivery, pk=delivery_id, endpoint=endpoint)
    if services.resend(delivery_id=delivery.pk):
        messages.success(request, "The message will be sent again in a moment.")
    else:
        messages.info(request, "That message is waiting to be sent already.")
    return redirect(endpoint)
