import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.models import Author
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# The smallest valid GIF: a real image Pillow accepts.
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


def test_the_account_page_needs_a_login(client):
    response = client.get(reverse("account"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_a_reader_becomes_an_author_from_the_account_page(client):
    user = UserFactory()
    client.force_login(user)
    assert "Become an author" in client.get(reverse("account")).content.decode()

    response = client.post(
        reverse("catalog:author_profile"),
        {
            "display_name": "Ada Writer",
            "bio": "Writes *books*.",
            "photo": SimpleUploadedFile("me.gif", GIF, "image/gif"),
        },
    )

    assert response["Location"] == reverse("account")
    author = Author.objects.get(user=user)
    assert (author.display_name, author.slug) == ("Ada Writer", "ada-writer")
    assert author.photo.name.startswith("authors/") and "me" not in author.photo.name
    page = client.get(reverse("account")).content.decode()
    assert "You publish as" in page and author.get_absolute_url() in page


def test_the_author_slug_stays_stable_when_the_name_changes(client):
    user = UserFactory()
    client.force_login(user)
    client.post(reverse("catalog:author_profile"), {"display_name": "First Name", "bio": ""})
    client.post(reverse("catalog:author_profile"), {"display_name": "Second Name", "bio": ""})

    author = Author.objects.get(user=user)
    assert (author.display_name, author.slug) == ("Second Name", "first-name")


def test_a_fake_photo_is_refused_with_a_clear_error(client):
    client.force_login(UserFactory())

    response = client.post(
        reverse("catalog:author_profile"),
        {
            "display_name": "Ada",
            "photo": SimpleUploadedFile("me.png", b"<script>x</script>", "image/png"),
        },
    )

    assert response.status_code == 200
    assert "Upload a valid image" in response.content.decode()
    assert not Author.objects.exists()


def test_staff_see_the_admin_link(client):
    client.force_login(UserFactory(is_staff=True))

    assert reverse("admin:index") in client.get(reverse("account")).content.decode()
