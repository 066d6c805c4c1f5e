from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from accounts.views import account

from . import views
from .health import healthz

admin.site.site_header = f"{settings.STORE_NAME} administration"
admin.site.site_title = settings.STORE_NAME

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("refund-policy/", views.refund_policy, name="refund_policy"),
    path("formats/", views.formats, name="formats"),
    path("royalties/", views.royalties, name="royalties"),
    path("accounts/", include("allauth.urls")),
    path("account/", account, name="account"),
    path("", include("catalog.urls")),
    path("", include("library.urls")),
    path("", include("payments.urls")),
    path("admin/", admin.site.urls),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# A self-contained 500 page that shows the request id (storefront/logs.py).
handler500 = "storefront.views.server_error"
