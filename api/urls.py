from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from . import key_views, problems, views

app_name = "api"

PUBLIC = {"authentication_classes": [], "permission_classes": [AllowAny], "throttle_classes": []}

v1 = [
    path("books", views.BookList.as_view(), name="books"),
    path("books/<slug:slug>", views.BookDetail.as_view(), name="book"),
    path("books/<slug:slug>/releases", views.ReleaseCreate.as_view(), name="releases"),
    path(
        "books/<slug:slug>/releases/<int:release_id>/publish",
        views.ReleasePublish.as_view(),
        name="release_publish",
    ),
    path("books/<slug:slug>/preview", views.PreviewBuild.as_view(), name="preview"),
    path("books/<slug:slug>/publish", views.PublishBuild.as_view(), name="publish"),
    path("books/<slug:slug>/builds/<int:build_id>", views.BuildDetail.as_view(), name="build"),
    path("sales", views.SalesList.as_view(), name="sales"),
    path("refunds", views.RefundList.as_view(), name="refunds"),
    path("earnings", views.EarningsSummary.as_view(), name="earnings"),
    # The schema and its documentation describe no one's data: open to all.
    path("schema/", SpectacularAPIView.as_view(api_version="v1", **PUBLIC), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api:schema", **PUBLIC),
        name="docs",
    ),
]

urlpatterns = [
    path("account/api-keys/", key_views.key_list, name="keys"),
    path("account/api-keys/<int:key_id>/revoke/", key_views.revoke, name="key_revoke"),
    path("api/v1/", include(v1)),
    # Anything else under /api/ answers in the API's error format, not an HTML page.
    re_path(r"^api/", problems.not_found, name="not_found"),
]
