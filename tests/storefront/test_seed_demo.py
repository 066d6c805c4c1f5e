import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from catalog.models import Author, Book
from demo.management.commands.seed_demo import DEMO_PASSWORD, DEMO_SALES
from library.models import Entitlement
from payments.ledger import audit
from payments.models import Order

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_the_demo_accounts_once_and_prints_them(capsys):
    call_command("seed_demo")
    call_command("seed_demo")

    users = {u.email: u for u in get_user_model().objects.all()}
    assert set(users) >= {
        "admin@example.com",
        "author@example.com",
        "reader@example.com",
        "maria@example.com",
        "joao@example.com",
    }
    assert users["admin@example.com"].is_superuser and not users["reader@example.com"].is_staff
    assert all(u.check_password(DEMO_PASSWORD) for u in users.values())
    assert Author.objects.get(slug="raphael-silva-fontes").user == users["author@example.com"]
    assert not hasattr(users["reader@example.com"], "author_profile")
    out = capsys.readouterr().out
    assert "reader@example.com" in out and DEMO_PASSWORD in out


def test_seed_demo_builds_the_demo_catalog_once():
    call_command("seed_demo", "--quiet-accounts")
    call_command("seed_demo", "--quiet-accounts")

    book = Book.objects.get(slug="behindthestack-netflix-architecture")
    assert (book.minimum_price_cents, book.suggested_price_cents) == (1499, 2499)
    assert (book.installments_completed, book.installments_planned) == (9, 15)
    assert book.translation_of.language == "pt-br"
    assert book.toc_entries.count() == 13
    assert book.releases.count() == 1
    files = {f.format: f for f in book.current_release.files.all()}
    assert files["pdf"].file.open("rb").read(5) == b"%PDF-"
    assert files["epub"].file.open("rb").read(38)[30:38] == b"mimetype"
    assert {s.format for s in book.sample_files.all()} == {"pdf", "epub"}
    # once, though seeded twice; plus the demo reader's credit pack
    assert Order.objects.filter(product="book").count() == len(DEMO_SALES)
    assert Order.objects.filter(product="credits", buyer__email="reader@example.com").count() == 1
    assert audit().ok
    assert Entitlement.objects.filter(user__email="reader@example.com").count() == 2
    listed = Book.objects.listed()
    assert listed.count() == 7
    assert listed.filter(minimum_price_cents=0, suggested_price_cents=0).exists()  # free
    assert listed.filter(minimum_price_cents=499).exists()  # cheap
    assert listed.filter(status="completed").exists()
    coauthored = Book.objects.get(slug="event-driven-systems-in-practice")
    assert [a.royalty_share for a in coauthored.authorships.all()] == [60, 40]
    # `make run` shows buyer-stamped files: every demo book has stamping on.
    assert not Book.objects.filter(stamp_files=False).exists()


def test_demo_accounts_can_log_in_without_an_inbox(client):
    call_command("seed_demo", "--quiet-accounts")

    assert client.login(email="reader@example.com", password=DEMO_PASSWORD)
