import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.urls import reverse


def author_photo_path(instance, filename):
    # Generated names: an uploaded file name never reaches the file system.
    return f"authors/{uuid.uuid4().hex}{Path(filename).suffix.lower()}"


class Author(models.Model):
    """A user's public author profile; having one is what makes a user an author."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="author_profile"
    )
    display_name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140, unique=True)
    bio = models.TextField(blank=True, help_text="Markdown. Shown on your books and author page.")
    photo = models.ImageField(upload_to=author_photo_path, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self):
        return self.display_name

    def get_absolute_url(self):
        return reverse("catalog:author", kwargs={"slug": self.slug})
