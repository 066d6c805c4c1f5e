from django.apps import AppConfig


class LibraryConfig(AppConfig):
    name = "library"
    verbose_name = "Library"

    def ready(self):
        from . import receivers  # noqa: F401  (connects the signal receivers)
