from django.urls import path

from . import bundle_views, contact_views, invitation_views, manuscript_views, views

app_name = "catalog"

urlpatterns = [
    path("books/", views.book_list, name="list"),
    path("books/<slug:slug>/", views.book_detail, name="book"),
    path("books/<slug:slug>/sample/", views.sample_online, name="sample"),
    path("books/<slug:slug>/sample.<str:fmt>", views.sample_download, name="sample_download"),
    path("authors/<slug:slug>/", views.author_detail, name="author"),
    path("author/profile/", views.author_profile, name="author_profile"),
    path("contact-author/", contact_views.contact_author, name="contact_author"),
    path("author/messages/blocked/", contact_views.blocked_senders, name="blocked_senders"),
    path(
        "author/messages/blocked/<int:user_id>/unblock/",
        contact_views.unblock_sender,
        name="unblock_sender",
    ),
    path("author/messages/block/<str:token>/", contact_views.block_sender, name="block_sender"),
    path("author/books/", views.my_books, name="my_books"),
    path("author/bundles/", bundle_views.bundle_list, name="bundle_list"),
    path("author/bundles/new/", bundle_views.bundle_create, name="bundle_create"),
    path("author/bundles/<slug:slug>/edit/", bundle_views.bundle_edit, name="bundle_edit"),
    path("author/bundles/<slug:slug>/consent/", bundle_views.bundle_consent, name="bundle_consent"),
    path("author/books/new/", views.book_create, name="book_create"),
    path("author/books/<slug:slug>/", views.manage_book, name="manage_book"),
    path("author/books/<slug:slug>/edit/", views.book_edit, name="book_edit"),
    path("author/books/<slug:slug>/coauthors/", views.book_coauthors, name="book_coauthors"),
    path(
        "author/books/<slug:slug>/invitations/new/",
        invitation_views.invite,
        name="invite_coauthor",
    ),
    path(
        "author/books/<slug:slug>/invitations/<int:invitation_id>/cancel/",
        invitation_views.cancel,
        name="invitation_cancel",
    ),
    path(
        "author/invitations/<str:token>/accept/",
        invitation_views.answer,
        {"answer": "accept"},
        name="invitation_accept",
    ),
    path(
        "author/invitations/<str:token>/decline/",
        invitation_views.answer,
        {"answer": "decline"},
        name="invitation_decline",
    ),
    path("author/books/<slug:slug>/toc/", views.book_toc, name="book_toc"),
    path("author/books/<slug:slug>/releases/new/", views.release_create, name="release_create"),
    path(
        "author/books/<slug:slug>/releases/<int:release_id>/publish/",
        views.release_publish,
        name="release_publish",
    ),
    path("author/books/<slug:slug>/samples/", views.sample_files, name="sample_files"),
    path("author/books/<slug:slug>/manuscript/", manuscript_views.overview, name="manuscript"),
    path(
        "author/books/<slug:slug>/manuscript/new/",
        manuscript_views.chapter_edit,
        name="chapter_new",
    ),
    path(
        "author/books/<slug:slug>/manuscript/<int:chapter_id>/",
        manuscript_views.chapter_edit,
        name="chapter_edit",
    ),
    path(
        "author/books/<slug:slug>/manuscript/<int:chapter_id>/move/",
        manuscript_views.chapter_move,
        name="chapter_move",
    ),
    path(
        "author/books/<slug:slug>/manuscript/<int:chapter_id>/delete/",
        manuscript_views.chapter_delete,
        name="chapter_delete",
    ),
    path(
        "author/books/<slug:slug>/manuscript/<int:chapter_id>/restore/",
        manuscript_views.chapter_restore,
        name="chapter_restore",
    ),
    path(
        "author/books/<slug:slug>/manuscript/upload/",
        manuscript_views.upload_zip,
        name="manuscript_upload",
    ),
    path("author/books/<slug:slug>/builds/", manuscript_views.start_build, name="build_start"),
    path(
        "author/books/<slug:slug>/builds/<int:build_id>/",
        manuscript_views.build_detail,
        name="build",
    ),
    path(
        "author/books/<slug:slug>/builds/<int:build_id>/status/",
        manuscript_views.build_status,
        name="build_status",
    ),
    path(
        "author/books/<slug:slug>/builds/<int:build_id>/<str:fmt>/",
        manuscript_views.build_file,
        name="build_file",
    ),
]
