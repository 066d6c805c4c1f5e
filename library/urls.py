from django.urls import path

from . import ereader_views, reader_views, views

app_name = "library"

urlpatterns = [
    # First: the busiest library URL is resolved without trying the others (Django
    # builds a list of every pattern tried before the one that matches).
    path("library/books/<slug:slug>/<int:release_id>/<str:fmt>/", views.download, name="download"),
    path("library/", views.index, name="index"),
    path("library/settings/", views.preferences, name="preferences"),
    path("library/get/<str:token>/<str:fmt>/", views.download_link, name="download_link"),
    path("library/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("library/books/<slug:slug>/", views.entry, name="entry"),
    path("library/books/<slug:slug>/updates/", views.book_updates, name="book_updates"),
    path("library/books/<slug:slug>/remove/", views.remove, name="remove"),
    path("library/books/<slug:slug>/read/", reader_views.contents, name="read"),
    path("library/books/<slug:slug>/read/continue/", reader_views.resume, name="read_resume"),
    path(
        "library/books/<slug:slug>/read/<int:number>/",
        reader_views.chapter,
        name="read_chapter",
    ),
    path("library/books/<slug:slug>/read/files/<path:path>", reader_views.image, name="read_image"),
    path("library/books/<slug:slug>/send/", ereader_views.send, name="send_to_ereader"),
    path("library/e-reader/", ereader_views.address, name="ereader"),
]
