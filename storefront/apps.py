from django.apps import AppConfig


class StorefrontConfig(AppConfig):
    name = "storefront"
    verbose_name = "Storefront"

    def ready(self):
        from django.core.signals import request_finished

        from . import single_line
        from .logs import forget_request_id

        request_finished.connect(forget_request_id, dispatch_uid="storefront.forget_request_id")
        single_line.install()  # every form's one-line fields refuse CR/LF
