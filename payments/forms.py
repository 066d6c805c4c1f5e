from django import forms

from storefront.fields import PriceField

from .pricing import amount_error


class AmountForm(forms.Form):
    """The amount a reader chose on the book page, checked on the server."""

    amount = PriceField(label="You pay")

    def __init__(self, *args, book, **kwargs):
        self.book = book
        super().__init__(*args, **kwargs)

    def clean_amount(self):
        cents = self.cleaned_data["amount"]
        if cents is None:
            raise forms.ValidationError("Enter the amount you want to pay.")
        error = amount_error(self.book, cents)
        if error:
            raise forms.ValidationError(error)
        return cents
