"""What the API reads and writes. Input fields are strict: a number where text is
expected (or text where a number is) is refused, never converted, and unknown
fields are refused by name."""

from rest_framework import serializers

from core.money import MIN_PAID_PRICE_CENTS, format_plain


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class NoUnknownFields(serializers.Serializer):
    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Send a JSON object."]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {name: ["Unknown field; this endpoint does not accept it."] for name in unknown}
            )
        return super().to_internal_value(data)


class BookSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    subtitle = serializers.CharField()
    status = serializers.CharField()
    blurb = serializers.CharField()
    minimum_price = serializers.CharField(help_text='Dollars as text, like "9.99".')
    minimum_price_cents = serializers.IntegerField()
    suggested_price = serializers.CharField()
    suggested_price_cents = serializers.IntegerField()
    installments_completed = serializers.IntegerField()
    installments_planned = serializers.IntegerField()
    current_version = serializers.CharField(allow_null=True)
    royalty_share = serializers.IntegerField(help_text="Your share of the book's royalties, %.")
    url = serializers.CharField()


class BookUpdateSerializer(NoUnknownFields):
    blurb = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)
    minimum_price = StrictCharField(
        required=False,
        max_length=20,
        help_text=f'Dollars as text: "0" (free) or "{format_plain(MIN_PAID_PRICE_CENTS)}" and more.',
    )
    suggested_price = StrictCharField(required=False, max_length=20)
    installments_completed = StrictIntegerField(required=False, min_value=0, max_value=32767)
    installments_planned = StrictIntegerField(required=False, min_value=0, max_value=32767)


class ReleaseUploadSerializer(serializers.Serializer):
    version = serializers.CharField(help_text="Like 1.0 or 0.9-beta.")
    notes = serializers.CharField(required=False)
    pdf = serializers.FileField(required=False)
    epub = serializers.FileField(required=False)
    publish = serializers.BooleanField(required=False, default=False)


class ReleaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.CharField()
    notes = serializers.CharField()
    published = serializers.BooleanField()
    published_at = serializers.DateTimeField(allow_null=True)
    formats = serializers.ListField(child=serializers.CharField())


class BuildRequestSerializer(serializers.Serializer):
    manuscript = serializers.FileField(
        required=False, help_text="A manuscript zip (replaces the manuscript first)."
    )
    version = serializers.CharField(
        required=False, help_text="Publish only; the next version number when left out."
    )
    notes = serializers.CharField(required=False)


class BuildSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    percent = serializers.IntegerField()
    message = serializers.CharField()
    error = serializers.CharField()
    version = serializers.CharField()
    finished = serializers.BooleanField()
    release_version = serializers.CharField(allow_null=True)
    url = serializers.CharField(help_text="Poll this for progress.")


class SaleSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The ledger entry's id.")
    kind = serializers.ChoiceField(choices=["sale", "refund"])
    created_at = serializers.DateTimeField()
    book = serializers.CharField(help_text="The book's slug.")
    book_title = serializers.CharField()
    order = serializers.UUIDField(allow_null=True)
    price_cents = serializers.IntegerField(help_text="What the reader paid (negative: refunded).")
    royalty_cents = serializers.IntegerField(help_text="Your share (negative: taken back).")
    payable_at = serializers.DateTimeField(help_text="When it may be paid out.")


class SalesPageSerializer(serializers.Serializer):
    results = SaleSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    next = serializers.CharField(allow_null=True)


class BookEarningsSerializer(serializers.Serializer):
    book = serializers.CharField(allow_null=True)
    title = serializers.CharField(allow_null=True)
    copies = serializers.IntegerField()
    free_copies = serializers.IntegerField()
    refunded_copies = serializers.IntegerField()
    gross_cents = serializers.IntegerField()
    royalties_cents = serializers.IntegerField()
    refunds_cents = serializers.IntegerField()
    net_cents = serializers.IntegerField()


class EarningsSerializer(serializers.Serializer):
    range = serializers.CharField()
    start = serializers.DateField(allow_null=True)
    end = serializers.DateField()
    sales_count = serializers.IntegerField()
    total = BookEarningsSerializer()
    books = BookEarningsSerializer(many=True)
    pending_cents = serializers.IntegerField()
    available_cents = serializers.IntegerField()
    paid_out_cents = serializers.IntegerField()


class ProblemSerializer(serializers.Serializer):
    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    instance = serializers.CharField(required=False)
    errors = serializers.DictField(child=serializers.ListField(), required=False)
