from django.urls import path

from . import views

app_name = "catalog"

urlpatterns = [
    path("books/", views.book_list, name="list"),
    path("books/<slug:slug>/", views.book_detail, name="book"),
    path("books/<slug:slug>/sample/", views.sample_online, name="sample"),
    path("books/<slug:slug>/sample.<str:fmt>", views.sample_download, name="sample_download"),
    path("authors/<slug:slug>/", views.author_detail, name="author"),
    path("author/profile/", views.author_profile, name="author_profile"),
    path("author/books/", views.my_books, name="my_books"),
    path("author/books/new/", views.book_create, name="book_create"),
    path("author/books/<slug:slug>/", views.manage_book, name="manage_book"),
    path("author/books/<slug:slug>/edit/", views.book_edit, name="book_edit"),
    path("author/books/<slug:slug>/coauthors/", views.book_coauthors, name="book_coauthors"),
    path("author/books/<slug:slug>/toc/", views.book_toc, name="book_toc"),
    path("author/books/<slug:slug>/releases/new/", views.release_create, name="release_create"),
    path(
        "author/books/<slug:slug>/releases/<int:release_id>/publish/",
        views.release_publish,
        name="release_publish",
    ),
    path("author/books/<slug:slug>/samples/", views.sample_files, name="sample_files"),
]
