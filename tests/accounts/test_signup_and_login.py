import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()


def signup(client, email, password1=PASSWORD, password2=None):
    return client.post(
        reverse("account_signup"),
        {"email": email, "password1": password1, "password2": password2 or password1},
    )


def test_sign_up_creates_an_account_known_by_its_email_and_asks_for_verification(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = signup(client, "New.Reader@Example.com")

    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    user = User.objects.get()
    assert user.email == "new.reader@example.com"
    assert "username" not in {f.name for f in User._meta.get_fields()}
    assert len(mailoutbox) == 1
    assert "Confirm your e-mail address" in mailoutbox[0].subject
    assert re.search(r"http://testserver/accounts/confirm-email/\S+/", mailoutbox[0].body)


def test_verification_is_mandatory_by_default_so_an_unverified_login_is_held(client):
    UserFactory(email="held@example.com", verified=False)

    response = client.post(
        reverse("account_login"), {"login": "held@example.com", "password": PASSWORD}
    )

    assert response["Location"] == reverse("account_email_verification_sent")
    assert "_auth_user_id" not in client.session


def test_a_verified_reader_logs_in_with_email_and_logs_out(client):
    UserFactory(email="reader@example.com")

    response = client.post(
        reverse("account_login"), {"login": "READER@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert "_auth_user_id" in client.session

    client.post(reverse("account_logout"))
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", PASSWORD, "Enter a valid email address."),
        ("weak@example.com", "123", "This password is too short."),
        ("weak@example.com", "password", "This password is too common."),
        ("", PASSWORD, "This field is required."),
    ],
)
def test_bad_sign_up_input_shows_a_form_error_and_creates_nothing(client, email, password, message):
    response = signup(client, email, password)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert User.objects.count() == 0


def test_mismatched_passwords_are_refused(client):
    response = signup(client, "two@example.com", PASSWORD, PASSWORD + "x")

    assert "You must type the same password each time." in response.content.decode()
    assert User.objects.count() == 0


def test_taken_email_is_a_form_error_when_verification_is_optional(client, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"
    UserFactory(email="taken@example.com")

    response = signup(client, "Taken@example.com")

    assert response.status_code == 200
    assert "A user is already registered with this email address." in response.content.decode()
    assert User.objects.count() == 1


def test_taken_email_is_not_revealed_when_verification_is_mandatory(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    """Production: the page looks like any sign-up; the owner gets an e-mail instead."""
    UserFactory(email="taken@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        response = signup(client, "taken@example.com")

    assert response["Location"] == reverse("account_email_verification_sent")
    assert User.objects.count() == 1
    assert mailoutbox[0].to == ["taken@example.com"]


def test_repeated_wrong_passwords_are_rate_limited(client):
    UserFactory(email="target@example.com")
    wrong = {"login": "target@example.com", "password": "wrong password"}

    for _ in range(5):
        response = client.post(reverse("account_login"), wrong)
        assert (
            "The email address and/or password you specified are not correct."
            in response.content.decode()
        )

    response = client.post(
        reverse("account_login"), {"login": "target@example.com", "password": PASSWORD}
    )

    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_password_reset_mails_a_link_that_sets_a_new_password(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    user = UserFactory(email="forgot@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("account_reset_password"), {"email": "forgot@example.com"})
    assert response["Location"] == reverse("account_reset_password_done")
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+/)", mailoutbox[0].body)[1]

    form_url = client.get(link)["Location"]
    response = client.post(
        form_url, {"password1": "a brand new secret 42", "password2": "a brand new secret 42"}
    )

    assert response["Location"] == reverse("account_reset_password_from_key_done")
    user.refresh_from_db()
    assert user.check_password("a brand new secret 42")


def test_password_reset_for_an_unknown_address_looks_the_same(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("account_reset_password"), {"email": "nobody@example.com"})

    assert response["Location"] == reverse("account_reset_password_done")
    assert "reset/key" not in "".join(m.body for m in mailoutbox)
