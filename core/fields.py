from django import forms

from .money import PriceError, format_plain, parse_price


class PriceField(forms.CharField):
    """A price typed as text ("24.99", "$24"), cleaned to integer cents."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.widget.attrs.setdefault("inputmode", "decimal")
        self.widget.attrs.setdefault("maxlength", "20")

    def prepare_value(self, value):
        if isinstance(value, int) and not isinstance(value, bool):
            return format_plain(value)
        return value

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            return parse_price(value)
        except PriceError as exc:
            raise forms.ValidationError(str(exc), code="invalid_price") from exc
