from django.urls import path

from . import views

app_name = "catalog"

urlpatterns = [
    path("books/", views.book_list, name="list"),
    path("authors/<slug:slug>/", views.author_detail, name="author"),
    path("author/profile/", views.author_profile, name="author_profile"),
]
