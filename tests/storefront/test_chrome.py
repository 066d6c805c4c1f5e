"""The store's chrome (issue 20): the header's links, the error pages, the login
page, the readers count on the book page, and what `make run` prints."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.http import Http404
from django.test import RequestFactory
from django.urls import reverse
from django.views.defaults import page_not_found

from catalog.models import Book
from catalog.services import save_author_profile
from tests.factories import PASSWORD, AuthorFactory, BookFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def log_in(client, user):
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302


def header(client, path="/") -> str:
    page = client.get(path).content.decode()
    return page[page.index('<header class="site-header">') : page.index("</header>")]


def links(html: str) -> dict[str, str]:
    return {
        re.sub(r"<[^>]+>", "", text).strip(): href
        for href, text in re.findall(r'<a [^>]*?href="([^"]*)"[^>]*>(.*?)</a>', html, re.S)
    }


def test_a_reader_s_header_links_library_orders_credits_and_the_account(client, settings):
    settings.CREDITS_ENABLED = True
    user = UserFactory(name="Rea Der")
    log_in(client, user)

    html = header(client)
    nav = links(html)

    assert nav["Library"] == reverse("library:index")
    assert nav["Orders"] == reverse("payments:orders")
    assert nav["Credits"] == reverse("payments:credits")
    assert nav["Rea Der"] == reverse("account")
    assert not {"Books", "Earnings", "Payouts", "Admin"} & set(nav)
    assert re.search(r'<form action="/accounts/logout/" method="post"[^>]*>\s*<input', html)


def test_credits_are_left_out_of_the_header_when_credits_are_off(client, settings):
    settings.CREDITS_ENABLED = False
    log_in(client, UserFactory())

    assert "Credits" not in links(header(client))


def test_an_author_s_header_adds_books_earnings_and_payouts_and_staff_get_admin(client):
    author = AuthorFactory(user__is_staff=True)
    log_in(client, author.user)

    nav = links(header(client))

    assert nav["Books"] == reverse("catalog:my_books")
    assert nav["Earnings"] == reverse("payments:earnings")
    assert nav["Payouts"] == reverse("payments:payout_details")
    assert nav["Admin"] == reverse("admin:index")


def test_a_reader_who_becomes_an_author_gets_the_author_links_at_once(client):
    user = UserFactory()
    log_in(client, user)
    assert "Books" not in links(header(client))  # the user (not an author) is cached now

    save_author_profile(user=user, display_name="New Author")

    assert "Books" in links(header(client))


def test_whether_the_reader_is_an_author_costs_no_query(client, django_assert_num_queries):
    author = AuthorFactory()
    log_in(client, author.user)
    client.get(reverse("library:index"))  # the user and the (empty) list are cached now

    with django_assert_num_queries(0):
        page = client.get(reverse("library:index")).content.decode()
    assert f'href="{reverse("payments:earnings")}"' in page


def test_the_login_page_offers_the_password_reset_once(client):
    page = client.get(reverse("account_login")).content.decode()

    assert page.count("Forgot your password?") == 1


def test_a_missing_page_is_the_store_s_own_404(client, settings):
    settings.DEBUG = False

    response = client.get("/no-such-page/")

    page = response.content.decode()
    assert response.status_code == 404
    assert '<header class="site-header">' in page and "We could not find that page" in page
    assert f'href="{reverse("catalog:list")}"' in page


def test_the_404_page_renders_for_a_request_without_a_user():
    request = RequestFactory().get("/nowhere/")
    assert not hasattr(request, "user")

    response = page_not_found(request, Http404())

    assert response.status_code == 404 and b"We could not find that page" in response.content


def test_a_forbidden_page_is_the_store_s_own_403(client, settings):
    settings.DEBUG = False
    log_in(client, UserFactory())  # a reader, not an author: no messages to manage

    response = client.get(reverse("catalog:blocked_senders"))

    page = response.content.decode()
    assert response.status_code == 403
    assert '<header class="site-header">' in page and "You cannot open this page" in page


def test_the_book_page_shows_how_many_readers_the_book_has(client):
    book = BookFactory()
    Book.objects.filter(pk=book.pk).update(sales_count=1234)

    page = client.get(book.get_absolute_url()).content.decode()

    assert re.search(r'data-testid="readers">1,234 readers<', page)


def test_the_book_page_has_a_jump_to_the_buy_box(client):
    book = BookFactory()

    page = client.get(book.get_absolute_url()).content.decode()

    assert 'href="#buy"' in page and 'id="buy"' in page


def test_seed_demo_prints_the_address_and_accounts_last_in_a_box(capsys, settings):
    settings.SITE_URL = "http://127.0.0.1:8123"
    call_command("seed_demo")

    lines = capsys.readouterr().out.strip().splitlines()
    box_top = max(i for i, line in enumerate(lines[:-1]) if re.fullmatch(r"\+-+\+", line))
    box = lines[box_top:]
    assert re.fullmatch(r"\+-+\+", box[-1]) and len({len(line) for line in box}) == 1
    text = "\n".join(box)
    assert "http://127.0.0.1:8123/" in text and "storefront-demo" in text
    for email in ("reader@example.com", "author@example.com", "admin@example.com"):
        assert email in text


def test_make_run_starts_the_server_right_after_the_accounts():
    make = (ROOT / "Makefile").read_text()
    recipe = make[make.index("\nrun: install\n") :].split("\n\n")[0].splitlines()[1:]

    assert [line.split()[2] for line in recipe[-2:]] == ["seed_demo", "runserver"]


def test_the_readme_says_how_to_serve_on_another_port():
    assert "make run PORT=8123" in (ROOT / "README.md").read_text()


def test_migrate_works_on_a_fresh_clone_without_var(tmp_path):
    var = tmp_path / "fresh-clone" / "var"
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env["VAR_DIR"] = str(var)

    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    assert (var / "storefront.sqlite3").exists()
