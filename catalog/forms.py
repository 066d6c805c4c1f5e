from django import forms

from .models import Author

MAX_PHOTO_BYTES = 2 * 1024 * 1024


class AuthorProfileForm(forms.ModelForm):
    class Meta:
        model = Author
        fields = ["display_name", "bio", "photo"]
        labels = {"display_name": "Name shown to readers"}
        widgets = {"bio": forms.Textarea(attrs={"rows": 8})}

    def clean_photo(self):
        photo = self.cleaned_data.get("photo")
        if photo and getattr(photo, "size", 0) > MAX_PHOTO_BYTES:
            raise forms.ValidationError("The photo is too large: the limit is 2 MB.")
        return photo
