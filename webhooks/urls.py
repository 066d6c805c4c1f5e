from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("author/webhooks/", views.endpoint_list, name="endpoints"),
    path("author/webhooks/<int:endpoint_id>/", views.endpoint_detail, name="endpoint"),
    path("author/webhooks/<int:endpoint_id>/rotate/", views.rotate_secret, name="rotate"),
    path("author/webhooks/<int:endpoint_id>/enabled/", views.set_enabled, name="set_enabled"),
    path("author/webhooks/<int:endpoint_id>/delete/", views.delete_endpoint, name="delete"),
    path(
        "author/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/resend/",
        views.resend,
        name="resend",
    ),
]
