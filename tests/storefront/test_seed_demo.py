import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from catalog.models import Author
from storefront.management.commands.seed_demo import DEMO_PASSWORD

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_the_demo_accounts_once_and_prints_them(capsys):
    call_command("seed_demo")
    call_command("seed_demo")

    users = get_user_model().objects.order_by("email")
    assert [u.email for u in users] == [
        "admin@example.com",
        "author@example.com",
        "reader@example.com",
    ]
    admin, author, reader = users
    assert admin.is_staff and admin.is_superuser and not reader.is_staff
    assert all(u.check_password(DEMO_PASSWORD) for u in users)
    assert Author.objects.get().user == author
    out = capsys.readouterr().out
    assert "reader@example.com" in out and DEMO_PASSWORD in out


def test_demo_accounts_can_log_in_without_an_inbox(client):
    call_command("seed_demo", "--quiet-accounts")

    assert client.login(email="reader@example.com", password=DEMO_PASSWORD)
