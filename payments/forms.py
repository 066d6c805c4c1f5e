from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.utils import timezone

from core.fields import PriceField
from core.money import MIN_PAID_PRICE_CENTS, format_cents, is_valid_price

from . import coupons, earnings
from .models import Coupon, PayoutAccount
from .pricing import amount_error


class AmountForm(forms.Form):
    """The amount a reader chose on the book page, checked on the server."""

    amount = PriceField(
        label="You pay", error_messages={"required": "Enter the amount you want to pay."}
    )

    def __init__(self, *args, book, bounds=None, **kwargs):
        self.book = book
        self.bounds = bounds  # a coupon's range (payments.coupons), or the book's own
        super().__init__(*args, **kwargs)

    def clean_amount(self):
        cents = self.cleaned_data["amount"]
        if cents is None:
            raise forms.ValidationError("Enter the amount you want to pay.")
        error = amount_error(self.book, cents, self.bounds)
        if error:
            raise forms.ValidationError(error)
        return cents


class CheckoutEmailForm(forms.Form):
    """A visitor who is not signed in pays with only an e-mail address."""

    email = forms.EmailField(
        label="Your e-mail address",
        max_length=254,
        help_text="Your receipt and a one-time sign-in link to your library go here. No password needed.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


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


class EarningsRangeForm(forms.Form):
    """The earnings dashboard's period (from the query string). An unknown period
    is the default one; a custom period with missing, reversed or absurd dates is
    an error the page shows (it never reaches date arithmetic)."""

    range = forms.CharField(required=False)
    start = forms.CharField(required=False)
    end = forms.CharField(required=False)

    def clean(self):
        data = super().clean()
        key = data.get("range") if data.get("range") in earnings.RANGES else "30d"
        start = end = None
        if key == "custom":
            start, end = _day(data.get("start")), _day(data.get("end"))
            error = earnings.custom_range_error(start, end)
            if error:
                raise forms.ValidationError(error)
        data["date_range"] = earnings.date_range(key, start=start, end=end)
        return data

    @property
    def date_range(self) -> earnings.DateRange:
        """The period to show: the chosen one, or the default one if it is refused."""
        if self.is_valid():
            return self.cleaned_data["date_range"]
        return earnings.date_range("30d")


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text or "")
    except ValueError:
        return None


class BundleAmountForm(forms.Form):
    """The amount a reader chose on a bundle page, checked against their offer
    (the whole bundle, or the rest of it when they own some of its books)."""

    amount = PriceField(
        label="You pay", error_messages={"required": "Enter the amount you want to pay."}
    )

    def __init__(self, *args, offer, **kwargs):
        self.offer = offer
        super().__init__(*args, **kwargs)

    def clean_amount(self):
        cents = self.cleaned_data["amount"]
        if cents is None:
            raise forms.ValidationError("Enter the amount you want to pay.")
        error = self.offer.amount_error(cents)
        if error:
            raise forms.ValidationError(error)
        return cents


class CouponForm(forms.Form):
    """An author's new coupon for a book: what it does, when, how often."""

    code = forms.CharField(
        label="Code",
        max_length=32,
        help_text="Letters, digits, - and _ (3 to 32). Readers may type it in any case.",
    )
    kind = forms.ChoiceField(label="Discount", choices=Coupon.Kind.choices)
    percent = forms.IntegerField(
        label="Percentage off (1–100)", required=False, min_value=1, max_value=100
    )
    amount = PriceField(label="Amount off, or the fixed price ($0 for free)", required=False)
    starts_on = forms.DateField(
        label="Starts on",
        widget=forms.DateInput(attrs={"type": "date"}),
        required=False,
        help_text="Empty: today.",
    )
    ends_on = forms.DateField(
        label="Ends after (optional)",
        widget=forms.DateInput(attrs={"type": "date"}),
        required=False,
    )
    max_uses = forms.IntegerField(
        label="Maximum number of uses (optional)", required=False, min_value=1, max_value=1_000_000
    )
    one_per_reader = forms.BooleanField(label="One use per reader", required=False, initial=True)

    def __init__(self, *args, book=None, bundle=None, **kwargs):
        self.book, self.bundle = book, bundle
        super().__init__(*args, **kwargs)

    def clean_code(self):
        code = coupons.normalised(self.cleaned_data["code"])
        if not code:
            raise forms.ValidationError("Use 3 to 32 letters, digits, - or _.")
        owner = {"book": self.book} if self.book is not None else {"bundle": self.bundle}
        if Coupon.objects.filter(code=code, **owner).exists():
            raise forms.ValidationError(f"There is a coupon {code} already.")
        return code

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind == Coupon.Kind.PERCENT:
            if data.get("percent") is None:
                self.add_error("percent", "Enter the percentage off.")
            data["value"] = data.get("percent")
        elif kind:
            cents = data.get("amount")
            if cents is None:
                self.add_error("amount", "Enter an amount.")
            elif kind == Coupon.Kind.AMOUNT and cents == 0:
                self.add_error("amount", "An amount off of $0 changes nothing.")
            elif kind == Coupon.Kind.FIXED and not is_valid_price(cents):
                self.add_error(
                    "amount", f"Pay $0 or at least {format_cents(MIN_PAID_PRICE_CENTS)}."
                )
            data["value"] = cents
        today = timezone.localdate()
        starts, ends = data.get("starts_on") or today, data.get("ends_on")
        if ends is not None and ends < starts:
            self.add_error("ends_on", "The coupon must end on or after the day it starts.")
        data["starts_at"] = timezone.make_aware(datetime.combine(starts, time.min))
        data["ends_at"] = (
            timezone.make_aware(datetime.combine(ends + timedelta(days=1), time.min))
            if ends
            else None
        )
        return data

    def coupon_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "code": data["code"],
            "kind": data["kind"],
            "value": data["value"],
            "starts_at": data["starts_at"],
            "ends_at": data["ends_at"],
            "max_uses": data.get("max_uses"),
            "one_per_reader": data.get("one_per_reader", False),
        }


class GiftForm(forms.Form):
    """Who a gift is for, what it says, and when it arrives (bad dates refused here;
    payments.gifts checks again)."""

    recipient_email = forms.EmailField(
        label="Recipient's e-mail address",
        max_length=254,
        help_text="They get an e-mail with a link to claim the book. They never see the price.",
    )
    message = forms.CharField(
        label="Your message (optional)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    deliver_on = forms.DateField(
        label="Deliver on (optional)",
        required=False,
        help_text="Leave empty to send it now. Delivered in the morning of that day (UTC).",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean_deliver_on(self):
        day = self.cleaned_data["deliver_on"]
        today = timezone.now().astimezone(UTC).date()
        if day is not None and day < today:
            raise forms.ValidationError("This date is in the past: choose today or a later day.")
        if day is not None and day > today + timedelta(days=366):
            raise forms.ValidationError("Choose a day within the next year.")
        return day


class GiftAddressForm(forms.Form):
    recipient_email = forms.EmailField(label="New e-mail address", max_length=254)


class TeamLicenceForm(forms.Form):
    seats = forms.IntegerField(label="Seats", min_value=2, max_value=500, initial=5)


class InviteForm(forms.Form):
    """Addresses one per line; more than there are free seats is refused by the service."""

    addresses = forms.CharField(
        label="E-mail addresses, one per line",
        max_length=100_000,
        error_messages={
            "required": "Enter at least one e-mail address.",
            "max_length": "That is far more addresses than a licence has seats (at most 500).",
        },
        widget=forms.Textarea(attrs={"rows": 4}),
    )
