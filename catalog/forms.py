from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from core.fields import PriceField
from core.money import MIN_PAID_PRICE_CENTS, format_cents, is_valid_price

from . import selectors, services
from .images import clean_image
from .models import Author, Book, Bundle, Category, ManuscriptChapter
from .validators import check_epub, check_pdf


class PictureInput(forms.ClearableFileInput):
    """A file input that shows the current picture as a thumbnail and, with
    static/js/picture-input.js, a preview of a newly chosen file before it is
    uploaded. Without JS it is a plain file input with a "remove" checkbox."""

    template_name = "catalog/widgets/picture_input.html"

    def __init__(self, *, what: str, attrs=None):
        self.what = what
        super().__init__(
            attrs={"accept": "image/jpeg,image/png,image/webp,image/gif", **(attrs or {})}
        )

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["what"] = self.what
        return context


def picture_field(label):
    """A plain file field: only catalog.images decodes the upload (Django's
    ImageField would first let Pillow try every format it knows on it)."""
    widget = PictureInput(what=label.lower())
    return forms.FileField(label=label, required=False, widget=widget)


class AuthorProfileForm(forms.ModelForm):
    photo = picture_field("Photo")

    class Meta:
        model = Author
        fields = ["display_name", "bio", "photo", "accepts_messages"]
        labels = {"display_name": "Name shown to readers"}
        widgets = {"bio": forms.Textarea(attrs={"rows": 8})}

    def clean_photo(self):
        photo = self.cleaned_data.get("photo")
        if photo and hasattr(photo, "content_type"):  # a new upload, not the stored file
            return clean_image(photo, what="photo", limit=settings.MAX_PHOTO_BYTES)
        return photo


class BookForm(forms.ModelForm):
    """Everything an author edits about a book; prices are typed as text ("24.99")."""

    minimum_price = PriceField(
        label="Minimum price",
        help_text=f"What every reader pays at least: $0 (free) or {format_cents(MIN_PAID_PRICE_CENTS)} and more.",
    )
    suggested_price = PriceField(
        label="Suggested price",
        help_text="Preselected on the price slider; at least the minimum.",
    )
    categories = forms.ModelMultipleChoiceField(
        queryset=Category.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    cover = picture_field("Cover")

    class Meta:
        model = Book
        fields = [
            "title",
            "subtitle",
            "slug",
            "blurb",
            "about",
            "cover",
            "categories",
            "language",
            "translation_of",
            "status",
            "installments_completed",
            "installments_planned",
            "early_access_note",
            "sample_markdown",
            "stamp_files",
            "team_licences",
            "team_seat_discount_percent",
        ]
        widgets = {
            "blurb": forms.Textarea(attrs={"rows": 4}),
            "about": forms.Textarea(attrs={"rows": 12}),
            "early_access_note": forms.Textarea(attrs={"rows": 4}),
            "sample_markdown": forms.Textarea(attrs={"rows": 10}),
        }
        labels = {"sample_markdown": "Free sample to read online"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["team_seat_discount_percent"].required = False  # empty: no discount
        self.fields["team_seat_discount_percent"].label = "Team licence discount per seat (%)"
        self.fields[
            "slug"
        ].help_text = "The book's address (/books/<slug>/). Leave empty to make one from the title."
        if self.instance.pk:
            self.fields["minimum_price"].initial = self.instance.minimum_price_cents
            self.fields["suggested_price"].initial = self.instance.suggested_price_cents
            if self.instance.published_at:
                # Links to a published book must keep working: its address is fixed.
                self.fields["slug"].disabled = True
                self.fields["slug"].help_text = "Fixed once the book is published."
        translations = Book.objects.listed().order_by("title")
        if self.instance.pk:
            translations = translations.exclude(pk=self.instance.pk)
        self.fields["translation_of"].queryset = translations
        # Page and word counts are not asked: publishing counts them from the files.
        self.fields["language"].choices = selectors.language_choices()
        self.fields["translation_of"].label = "Translation of"
        self.fields["translation_of"].help_text = (
            "Your own book is linked at once; another author's book once one of its "
            "authors accepts (they get an e-mail)."
        )

    def clean_slug(self):
        slug = self.cleaned_data.get("slug")
        if slug and Book.objects.exclude(pk=self.instance.pk).filter(slug=slug).exists():
            raise ValidationError("Another book uses this address already.")
        return slug

    def clean_cover(self):
        cover = self.cleaned_data.get("cover")
        if cover and hasattr(cover, "content_type"):
            return clean_image(cover, what="cover")
        return cover

    def clean(self):
        data = super().clean()
        minimum, suggested = data.get("minimum_price"), data.get("suggested_price")
        top = settings.MAX_PRICE_CENTS
        if minimum is not None and not is_valid_price(minimum):
            self.add_error(
                "minimum_price",
                f"The minimum is $0 (free) or at least {format_cents(MIN_PAID_PRICE_CENTS)}.",
            )
        if suggested is not None and not is_valid_price(suggested):
            self.add_error(
                "suggested_price",
                f"The suggested price is $0 or at least {format_cents(MIN_PAID_PRICE_CENTS)}.",
            )
        for name, value in (("minimum_price", minimum), ("suggested_price", suggested)):
            if value is not None and value > top:
                self.add_error(name, f"Prices go up to {format_cents(top)}.")
        if minimum is not None and suggested is not None and suggested < minimum:
            self.add_error("suggested_price", "The suggested price must be at least the minimum.")
        done, planned = data.get("installments_completed"), data.get("installments_planned")
        if done is not None and planned and done > planned:
            self.add_error("installments_completed", "Cannot exceed the installments planned.")
        return data

    def clean_team_seat_discount_percent(self):
        return self.cleaned_data.get("team_seat_discount_percent") or 0

    def book_fields(self) -> dict:
        """The cleaned data as keyword arguments for the catalog services."""
        data = {
            name: self.cleaned_data[name] for name in self.Meta.fields if name in self.cleaned_data
        }
        if self.fields["slug"].disabled:
            data.pop("slug", None)
        if "cover" in data and "cover" not in self.changed_data:
            data.pop("cover")
        data["minimum_price_cents"] = self.cleaned_data["minimum_price"]
        data["suggested_price_cents"] = self.cleaned_data["suggested_price"]
        return data


class CoAuthorForm(forms.Form):
    """One of the book's current authors and their share. New co-authors are
    invited (InviteCoAuthorForm) and join only once they accept."""

    author = forms.CharField(
        label="Author", help_text="Their author page address (slug) or account e-mail."
    )
    share = forms.IntegerField(label="Royalty share (%)", min_value=1, max_value=100)

    def __init__(self, *args, authors=None, **kwargs):
        self.authors = authors if authors is not None else Author.objects.none()
        super().__init__(*args, **kwargs)

    def clean_author(self):
        # Looked up among the book's authors only: the answer is the same for an
        # address with an account and one without.
        key = self.cleaned_data["author"].strip()
        author = (
            self.authors.filter(user__email__iexact=key).first()
            if "@" in key
            else self.authors.filter(slug=key).first()
        )
        if author is None:
            raise ValidationError(
                "Not one of this book's authors. To add a co-author, invite them by e-mail below."
            )
        return author


class BaseCoAuthorFormSet(forms.BaseFormSet):
    def __init__(self, *args, owner: Author, book: Book, **kwargs):
        self.owner = owner
        self.book = book
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "authors": self.book.authors.all()}

    def coauthors(self) -> list[services.CoAuthor]:
        return [
            services.CoAuthor(author=f.cleaned_data["author"], share=f.cleaned_data["share"])
            for f in self.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
        ]

    def clean(self):
        if any(self.errors):
            return
        coauthors = self.coauthors()
        if not any(c.author == self.owner for c in coauthors):
            raise ValidationError("You must stay one of the book's authors.")
        ids = [c.author.pk for c in coauthors]
        if len(set(ids)) != len(ids):
            raise ValidationError("Each co-author can appear only once.")
        total = sum(c.share for c in coauthors)
        if total != 100:
            raise ValidationError(f"Royalty shares must add up to 100% (they add up to {total}%).")


CoAuthorFormSet = forms.formset_factory(
    CoAuthorForm, formset=BaseCoAuthorFormSet, extra=0, can_delete=True, max_num=10
)


class InviteCoAuthorForm(forms.Form):
    email = forms.EmailField(
        label="Their e-mail address",
        help_text="They get an e-mail to accept or decline; nothing changes until they accept.",
    )
    share = forms.IntegerField(
        label="Their royalty share (%)",
        min_value=1,
        max_value=99,
        help_text="Taken from your own share when they accept.",
    )


class TocForm(forms.Form):
    toc = forms.CharField(
        label="Table of contents",
        required=False,
        widget=forms.Textarea(attrs={"rows": 18, "class": "mono"}),
        help_text=(
            "One line each. <code># Part title</code> starts a part, <code>- Chapter</code> "
            "is a chapter inside it, a plain line is a chapter on its own (a preface). "
            "End a line with <code>[sample]</code> to put it in the free sample."
        ),
    )

    def clean_toc(self):
        return services.parse_toc(self.cleaned_data["toc"])


def version_field(**kwargs):
    return forms.RegexField(
        regex=r"^[0-9A-Za-z][0-9A-Za-z.\-]{0,39}$",
        label="Version",
        help_text="For example 0.9 or 1.0.",
        error_messages={"invalid": "Use letters, digits, dots and dashes, like 1.0 or 0.9-beta."},
        **kwargs,
    )


class ReleaseForm(forms.Form):
    version = version_field()
    notes = forms.CharField(
        label="Release notes", required=False, widget=forms.Textarea(attrs={"rows": 5})
    )
    pdf = forms.FileField(label="PDF", required=False)
    epub = forms.FileField(label="EPUB", required=False)
    publish = forms.BooleanField(
        label="Publish now (every reader gets this version)", required=False, initial=True
    )

    def clean_pdf(self):
        upload = self.cleaned_data.get("pdf")
        if upload:
            check_pdf(upload)
        return upload

    def clean_epub(self):
        upload = self.cleaned_data.get("epub")
        if upload:
            check_epub(upload)
        return upload

    def clean(self):
        data = super().clean()
        if not self.errors and not data.get("pdf") and not data.get("epub"):
            raise ValidationError("Upload at least one file: PDF or EPUB.")
        return data


class SampleFilesForm(forms.Form):
    pdf = forms.FileField(label="Sample PDF", required=False)
    epub = forms.FileField(label="Sample EPUB", required=False)

    clean_pdf = ReleaseForm.clean_pdf
    clean_epub = ReleaseForm.clean_epub

    def clean(self):
        data = super().clean()
        if not self.errors and not data.get("pdf") and not data.get("epub"):
            raise ValidationError("Choose a sample PDF or EPUB to upload.")
        return data


class ChapterForm(forms.ModelForm):
    class Meta:
        model = ManuscriptChapter
        fields = ["title", "part", "in_sample", "markdown"]
        labels = {"markdown": "Text (Markdown)", "in_sample": "Part of the free sample"}
        widgets = {"markdown": forms.Textarea(attrs={"rows": 24, "class": "mono"})}


class ManuscriptZipForm(forms.Form):
    zip_file = forms.FileField(
        label="Manuscript zip",
        help_text="Markdown files, an images/ folder, and Book.txt listing the chapter files in order.",
    )


class PublishForm(forms.Form):
    version = version_field()
    notes = forms.CharField(
        label="Release notes", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


class BundleForm(forms.Form):
    """A bundle as its maker edits it. Books are named by their addresses (slugs),
    one per line, in the order the bundle page shows them; the prices are checked
    against the books by catalog.bundles (every book at least the lowest paid price
    of any sale)."""

    title = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=140, help_text="The bundle's address: /bundles/<slug>/. Fixed once made."
    )
    blurb = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}), help_text="Markdown."
    )
    cover = picture_field("Cover")
    books = forms.CharField(
        label="Books",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="The address of each book (the part after /books/), one per line. "
        "Its other authors are asked to consent by e-mail.",
    )
    minimum_price = PriceField(label="Minimum price")
    suggested_price = PriceField(label="Suggested price")

    def __init__(self, *args, bundle=None, **kwargs):
        self.bundle = bundle
        super().__init__(*args, **kwargs)
        if bundle is not None:
            self.fields["slug"].disabled = True

    @classmethod
    def initial_for(cls, bundle) -> dict:
        return {
            "title": bundle.title,
            "slug": bundle.slug,
            "blurb": bundle.blurb,
            "cover": bundle.cover,
            "books": "\n".join(item.book.slug for item in bundle.items.all()),
            "minimum_price": bundle.minimum_price_cents,
            "suggested_price": bundle.suggested_price_cents,
        }

    def clean_slug(self):
        slug = self.cleaned_data["slug"]
        if self.bundle is None and Bundle.objects.filter(slug=slug).exists():
            raise ValidationError("Another bundle uses this address already.")
        return slug

    def clean_books(self):
        slugs = list(dict.fromkeys(self.cleaned_data["books"].replace(",", " ").split()))
        found = (
            Book.objects.filter(slug__in=slugs)
            .prefetch_related("authorships")
            .in_bulk(field_name="slug")
        )
        unknown = [slug for slug in slugs if slug not in found]
        if unknown:
            raise ValidationError(f"No book at: {', '.join(unknown[:5])}.")
        return [found[slug] for slug in slugs]

    def clean_cover(self):
        cover = self.cleaned_data.get("cover")
        if cover and hasattr(cover, "content_type"):
            return clean_image(cover, what="cover")
        return cover

    def clean(self):
        data = super().clean()
        minimum, suggested = data.get("minimum_price"), data.get("suggested_price")
        if minimum is None and "minimum_price" not in self.errors:
            self.add_error("minimum_price", "Enter the minimum price.")
        if suggested is None and "suggested_price" not in self.errors:
            self.add_error("suggested_price", "Enter the suggested price.")
        for name, value in (("minimum_price", minimum), ("suggested_price", suggested)):
            if value is not None and value > settings.MAX_PRICE_CENTS:
                self.add_error(name, f"Prices go up to {format_cents(settings.MAX_PRICE_CENTS)}.")
        return data

    def bundle_fields(self) -> dict:
        data = {
            "title": self.cleaned_data["title"],
            "blurb": self.cleaned_data["blurb"],
            "books": self.cleaned_data["books"],
            "minimum_price_cents": self.cleaned_data["minimum_price"],
            "suggested_price_cents": self.cleaned_data["suggested_price"],
        }
        if self.bundle is None:
            data["slug"] = self.cleaned_data["slug"]
        if "cover" in self.changed_data:
            data["cover"] = self.cleaned_data["cover"] or ""
        return data
