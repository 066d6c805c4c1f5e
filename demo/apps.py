from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo catalog (``manage.py seed_demo``): at the top, it may import every app."""

    name = "demo"
    verbose_name = "Demo data"
