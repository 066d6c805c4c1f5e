from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("link/new/", views.login_link_request, name="login_link_request"),
    path("link/<str:token>/", views.login_link, name="login_link"),
]
