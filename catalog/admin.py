from django import forms
from django.conf import settings
from django.contrib import admin

from . import services
from .images import clean_image
from .models import (
    Author,
    Book,
    BookAuthor,
    Category,
    Invitation,
    Release,
    ReleaseFile,
    SampleFile,
    TocEntry,
)
from .validators import check_epub, check_pdf

# Staff uploads get the checks authors' uploads get (catalog.forms): pictures are
# re-encoded, book files checked by content for their format.


class AuthorAdminForm(forms.ModelForm):
    def clean_photo(self):
        photo = self.cleaned_data.get("photo")
        if photo and hasattr(photo, "content_type"):
            return clean_image(photo, what="photo", limit=settings.MAX_PHOTO_BYTES)
        return photo


class BookAdminForm(forms.ModelForm):
    def clean_cover(self):
        cover = self.cleaned_data.get("cover")
        if cover and hasattr(cover, "content_type"):
            return clean_image(cover, what="cover")
        return cover


class BookFileAdminForm(forms.ModelForm):
    """A release or sample file: its content must be the format it is filed under."""

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        if upload and hasattr(upload, "content_type"):
            check = {"pdf": check_pdf, "epub": check_epub}.get(data.get("format"))
            try:
                if check:
                    check(upload)
            except forms.ValidationError as exc:
                self.add_error("file", exc)
        return data


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    form = AuthorAdminForm
    list_display = ["display_name", "slug", "user", "created_at"]
    search_fields = ["display_name", "slug", "user__email"]
    raw_id_fields = ["user"]
    readonly_fields = ["created_at"]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


class BookAuthorInline(admin.TabularInline):
    model = BookAuthor
    extra = 0
    raw_id_fields = ["author"]


class TocEntryInline(admin.TabularInline):
    model = TocEntry
    extra = 0
    fields = ["position", "kind", "title", "in_part", "in_sample"]


class SampleFileInline(admin.TabularInline):
    model = SampleFile
    form = BookFileAdminForm
    extra = 0
    readonly_fields = ["size"]


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    form = BookAdminForm
    list_display = [
        "title",
        "status",
        "language",
        "minimum_price_cents",
        "suggested_price_cents",
        "sales_count",
        "featured",
        "published_at",
    ]
    list_filter = ["status", "language", "featured", "categories"]
    search_fields = ["title", "subtitle", "slug", "authors__display_name"]
    raw_id_fields = ["translation_of", "current_release"]
    readonly_fields = ["sales_count", "created_at", "updated_at"]
    filter_horizontal = ["categories"]
    inlines = [BookAuthorInline, TocEntryInline, SampleFileInline]
    date_hierarchy = "published_at"


class ReleaseFileInline(admin.TabularInline):
    model = ReleaseFile
    form = BookFileAdminForm
    extra = 0
    readonly_fields = ["size"]


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ["book", "version", "created_at", "published_at"]
    list_filter = ["published_at"]
    search_fields = ["book__title", "version"]
    raw_id_fields = ["book"]
    readonly_fields = ["published_at"]
    inlines = [ReleaseFileInline]
    actions = ["publish"]

    @admin.action(description="Publish the selected releases (readers get them)")
    def publish(self, request, queryset):
        for release in queryset.order_by("created_at"):
            services.publish_release(release=release)
        self.message_user(request, f"Published {queryset.count()} release(s).")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Read-only: invitations change only through catalog.invitations (invite,
    accept, decline, cancel), which keep royalty shares summing to 100."""

    list_display = [
        "kind",
        "book",
        "original",
        "email",
        "royalty_share",
        "status_now",
        "created_at",
    ]
    list_filter = ["kind", "status", "created_at"]
    search_fields = ["book__title", "original__title", "email", "invited_by__email"]
    exclude = ["token"]  # the accept link's secret: staff need not see it

    @admin.display(description="status")
    def status_now(self, obj):
        return Invitation.Status(obj.current_status).label

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Invitation._meta.fields if f.name != "token"]

    def has_add_permission(self, request):
        return False
