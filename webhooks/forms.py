from django import forms

from .addresses import RefusedURL, check_url
from .models import EventType


class EndpointForm(forms.Form):
    url = forms.URLField(
        label="Endpoint URL",
        max_length=500,
        assume_scheme="https",
        help_text="An https:// address on the public internet that answers POST requests.",
    )
    description = forms.CharField(label="Description (optional)", max_length=120, required=False)
    event_types = forms.MultipleChoiceField(
        label="Events to send",
        choices=EventType.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Pick at least one event."},
    )

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            check_url(url)
        except RefusedURL as exc:
            raise forms.ValidationError(str(exc)) from exc
        return url
