"""Every sign-in and sign-up link brings the reader back to the page they left."""

import re
from urllib.parse import quote

import pytest
from django.urls import reverse

from accounts.views import safe_next
from tests.factories import PASSWORD, BookFactory, UserFactory

pytestmark = pytest.mark.django_db

CHECKOUT = "/checkout/some-book/?amount=12.50"


def header_links(response) -> dict[str, str]:
    """The header's "Log in" and "Sign up" hrefs."""
    header = response.content.decode().split('<nav class="site-nav"', 1)[1].split("</nav>", 1)[0]
    return {
        name: href.replace("&amp;", "&")
        for href, name in re.findall(r'<a[^>]*href="([^"]+)"[^>]*>(Log in|Sign up)</a>', header)
    }


def test_on_a_book_page_both_header_links_come_back_to_it(client):
    book = BookFactory()

    links = header_links(client.get(book.get_absolute_url()))

    expected = quote(book.get_absolute_url(), safe="/")
    assert links == {
        "Log in": f"{reverse('account_login')}?next={expected}",
        "Sign up": f"{reverse('account_signup')}?next={expected}",
    }


def test_on_checkout_the_header_links_keep_the_chosen_amount(client):
    book = BookFactory()
    checkout = reverse("payments:checkout", args=[book.slug]) + "?amount=12.50"

    # Anonymous checkout sends the reader to log in first, with next= the checkout;
    # the header's "Sign up" there passes the same next= on.
    response = client.get(checkout, follow=True)

    links = header_links(response)
    assert links["Sign up"] == f"{reverse('account_signup')}?next={quote(checkout, safe='/')}"
    assert links["Log in"] == f"{reverse('account_login')}?next={quote(checkout, safe='/')}"


def test_the_home_page_links_carry_no_next(client):
    assert header_links(client.get("/")) == {
        "Log in": reverse("account_login"),
        "Sign up": reverse("account_signup"),
    }


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x"])
def test_a_sign_in_page_never_passes_on_a_foreign_next(client, next_url):
    response = client.get(reverse("account_signup"), {"next": next_url})

    assert header_links(response)["Log in"] == reverse("account_login")


def test_the_login_pages_create_an_account_link_keeps_the_next(client):
    response = client.get(reverse("account_login"), {"next": CHECKOUT})

    assert f'href="{reverse("account_signup")}?next={quote(CHECKOUT, safe="/")}' in (
        response.content.decode().replace("&amp;", "&")
    )


def test_signing_up_under_optional_verification_comes_straight_back(client, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"

    response = client.post(
        f"{reverse('account_signup')}?next={quote(CHECKOUT)}",
        {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )

    assert response.status_code == 302
    assert response["Location"] == CHECKOUT
    assert "_auth_user_id" in client.session


def test_signing_up_comes_back_after_confirming_the_address(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    """Mandatory verification: the next page waits in the session until the
    reader confirms from the e-mail, then they land on it, signed in."""
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"{reverse('account_signup')}?next={quote(CHECKOUT)}",
            {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD},
        )
    assert response["Location"] == reverse("account_email_verification_sent")
    confirm = re.search(r"http://testserver(/accounts/confirm-email/\S+/)", mailoutbox[0].body)[1]

    response = client.post(confirm)

    assert response["Location"] == CHECKOUT
    assert "_auth_user_id" in client.session


def test_logging_in_comes_back(client):
    UserFactory(email="reader@example.com")

    response = client.post(
        f"{reverse('account_login')}?next={quote(CHECKOUT)}",
        {"login": "reader@example.com", "password": PASSWORD},
    )

    assert response["Location"] == CHECKOUT


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/library/", "/library/"),
        ("/checkout/x/?amount=1", "/checkout/x/?amount=1"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_safe_next_keeps_only_paths_of_this_site(rf, url, expected):
    assert safe_next(rf.get("/"), url) == expected
