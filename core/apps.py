from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The shared kernel: what every app needs and that needs no app (money, the
    e-mail outbox, the page cache, rate limits, request ids and logs, storage,
    pagination). It imports no other app of ours.

    Its label stays "storefront", the label its table (the e-mail outbox) and
    migrations were created under when it lived in the project package: moving
    the code changed no database."""

    name = "core"
    label = "storefront"
    verbose_name = "Storefront"

    def ready(self):
        from django.core.signals import request_finished

        from . import reader_sources, single_line
        from .logs import forget_request_id

        request_finished.connect(forget_request_id, dispatch_uid="core.forget_request_id")
        reader_sources.connect()  # saves that change a reader's pages forget them
        single_line.install()  # every form's one-line fields refuse CR/LF
