from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from accounts.views import account
from core import ratelimit

from . import views
from .health import healthz

admin.site.site_header = f"{settings.STORE_NAME} administration"
admin.site.site_title = settings.STORE_NAME

# allauth's limits answer with this page too (allauth.core.ratelimit.respond_429).
handler429 = ratelimit.too_many_requests

# The admin's own login, with failed attempts limited per IP and per account
# (allauth limits only its own login). Listed before admin.site.urls so it wins.
admin_login = ratelimit.limit(
    "admin_login",
    account=lambda request: request.POST.get("username", ""),
    failures_only=True,
)(admin.site.login)

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("refund-policy/", views.refund_policy, name="refund_policy"),
    path("formats/", views.formats, name="formats"),
    path("royalties/", views.royalties, name="royalties"),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("account/", account, name="account"),
    path("", include("catalog.urls")),
    path("", include("library.urls")),
    path("", include("payments.urls")),
    path("admin/login/", admin_login),
    path("admin/", admin.site.urls),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# A self-contained 500 page that shows the request id (core/logs.py).
handler500 = "storefront.views.server_error"
