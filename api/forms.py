from django import forms

from .models import ApiKey


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=100, help_text="What uses it, like “CI” or “Sales sheet”."
    )
    scopes = forms.MultipleChoiceField(
        label="Allowed to",
        choices=ApiKey.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Give a key only what its tool needs.",
    )
