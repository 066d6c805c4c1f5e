from django.urls import path

from . import views

app_name = "library"

urlpatterns = [
    path("library/", views.index, name="index"),
    path("library/settings/", views.preferences, name="preferences"),
    path("library/get/<str:token>/<str:fmt>/", views.download_link, name="download_link"),
    path("library/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("library/books/<slug:slug>/", views.entry, name="entry"),
    path("library/books/<slug:slug>/updates/", views.book_updates, name="book_updates"),
    path("library/books/<slug:slug>/remove/", views.remove, name="remove"),
    path("library/books/<slug:slug>/<int:release_id>/<str:fmt>/", views.download, name="download"),
]
