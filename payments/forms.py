from django import forms

from storefront.fields import PriceField

from .models import PayoutAccount
from .pricing import amount_error


class AmountForm(forms.Form):
    """The amount a reader chose on the book page, checked on the server."""

    amount = PriceField(
        label="You pay", error_messages={"required": "Enter the amount you want to pay."}
    )

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


class CardForm(forms.Form):
    """The demo gateway's card form (test cards only; nothing is charged)."""

    card_number = forms.CharField(
        label="Card number",
        max_length=23,
        widget=forms.TextInput(
            attrs={
                "inputmode": "numeric",
                "autocomplete": "cc-number",
                "placeholder": "4242 4242 4242 4242",
            }
        ),
    )
    expiry = forms.RegexField(
        label="Expiry (MM/YY)",
        regex=r"^\s*(0[1-9]|1[0-2])\s*/\s*\d{2}\s*$",
        error_messages={"invalid": "Use MM/YY, like 12/34."},
        initial="12/34",
    )
    cvc = forms.RegexField(
        label="CVC", regex=r"^\d{3,4}$", error_messages={"invalid": "3 or 4 digits."}, initial="123"
    )


class RefundForm(forms.Form):
    reason = forms.CharField(
        label="Why are you returning it? (optional, helps the author)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class PayoutAccountForm(forms.ModelForm):
    class Meta:
        model = PayoutAccount
        fields = ["method", "paypal_email", "reference"]
        labels = {"paypal_email": "PayPal e-mail", "reference": "Payout reference (IBAN or other)"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Never echo stored details back into the page: show them masked, ask anew.
        if self.instance.pk and not self.is_bound:
            self.initial["paypal_email"] = ""
            self.initial["reference"] = ""

    def clean(self):
        data = super().clean()
        method = data.get("method")
        if method == PayoutAccount.Method.PAYPAL and not data.get("paypal_email"):
            self.add_error("paypal_email", "Enter the PayPal e-mail address to pay.")
        if method == PayoutAccount.Method.REFERENCE and not data.get("reference"):
            self.add_error("reference", "Enter the payout reference.")
        return data
