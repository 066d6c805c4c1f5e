"""The store's URLs (and its 500 handler) plus two views that exist only for tests:
one that logs, one that fails."""

import logging

from django.http import HttpResponse
from django.urls import path

from storefront.urls import handler500
from storefront.urls import urlpatterns as store_urlpatterns

__all__ = ["handler500", "urlpatterns"]

log = logging.getLogger("storefront.tests")


def logs_a_line(request):
    log.info("hello from the view", extra={"order_ref": "ord-42"})
    return HttpResponse("logged")


def fails(request):
    raise RuntimeError("the view broke")


urlpatterns = [
    path("test/logs/", logs_a_line),
    path("test/fails/", fails),
    *store_urlpatterns,
]
