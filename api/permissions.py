"""Scopes: each view names the one it needs in ``required_scope``."""

from rest_framework import permissions

from .models import ApiKey


class HasScope(permissions.BasePermission):
    message = "This API key lacks the scope this endpoint needs."

    def has_permission(self, request, view):
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        needed = getattr(view, "required_scope", None)
        if needed is None:
            return True  # any valid key: reading one's own books
        self.message = (
            f"This API key lacks the “{needed}” scope ({ApiKey.Scope(needed).label.lower()})."
        )
        return needed in key.scopes
