"""The store's admin site: Django's own, with one hole closed in every ModelAdmin.

Django's admin reads ``?_to_field=`` on the change and delete pages and, when it
is present but empty, asks the model for a field named "" (a 500 instead of the
page). Every ModelAdmin registered here reads an empty value as absent. The
site is installed as ``django.contrib.admin``'s default site
(``StoreAdminConfig``), so ``admin.site`` and ``@admin.register`` use it.
"""

from django.contrib.admin import AdminSite, ModelAdmin
from django.contrib.admin.apps import AdminConfig


class EmptyToFieldIsAbsent:
    def get_object(self, request, object_id, from_field=None):
        return super().get_object(request, object_id, from_field or None)


class StoreAdminSite(AdminSite):
    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or ModelAdmin
        if not issubclass(admin_class, EmptyToFieldIsAbsent):
            admin_class = type(
                admin_class.__name__,
                (EmptyToFieldIsAbsent, admin_class),
                {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__},
            )
        super().register(model_or_iterable, admin_class, **options)


class StoreAdminConfig(AdminConfig):
    default_site = "storefront.admin_site.StoreAdminSite"
