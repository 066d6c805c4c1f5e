import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_new_user_signs_up_verifies_logs_in_and_logs_out(live_server, page, mailoutbox):
    page.goto(live_server.url)
    page.get_by_role("link", name="Sign up").click()

    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password", exact=True).fill("a long enough passphrase")
    page.get_by_label("Password (again)").fill("a long enough passphrase")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Verify your e-mail address")).to_be_visible()

    # The link from the e-mail that was really sent.
    assert [m.to for m in mailoutbox] == [["ada@example.com"]]
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mailoutbox[0].body)[0]
    page.goto(link)
    page.get_by_role("button", name="Confirm").click()
    assert get_user_model().objects.get(email="ada@example.com").emailaddress_set.get().verified

    # Confirming logs the user in; log out, then log in with the password.
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("a long enough passphrase")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="ada")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Sign up")).to_be_visible()
