"""Sign-up, login, password reset, refunds and the admin login are limited per
account and per IP; the IP comes only from proxies we trust, so a spoofed
X-Forwarded-For neither resets nor dodges a limit. Over a limit: a 429 page and
nothing done."""

import uuid

import pytest
from django.test import RequestFactory
from django.urls import reverse

from accounts.models import User
from core.models import EmailDelivery
from core.ratelimit import client_ip, parse_rates
from payments import services
from payments.models import Refund
from tests.factories import PASSWORD, BookFactory, UserFactory

pytestmark = pytest.mark.django_db


def spoofed(n: int) -> dict:
    """A different made-up X-Forwarded-For on every request."""
    return {"X-Forwarded-For": f"203.0.113.{n}"}


def assert_refused(response):
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert response["Retry-After"]


# --- The client's IP ---------------------------------------------------------------


def request_from(remote="192.0.2.1", forwarded=None, **headers):
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    return RequestFactory().get("/", REMOTE_ADDR=remote, headers=headers)


def test_without_trusted_proxies_x_forwarded_for_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0

    assert client_ip(request_from("192.0.2.1", "203.0.113.9")) == "192.0.2.1"


def test_behind_one_trusted_proxy_the_right_most_forwarded_entry_is_the_client(settings):
    settings.TRUSTED_PROXY_COUNT = 1

    request = request_from("10.0.0.2", "203.0.113.66, 198.51.100.7")

    assert client_ip(request) == "198.51.100.7"


def test_behind_two_trusted_proxies_the_second_entry_from_the_right_is_the_client(settings):
    settings.TRUSTED_PROXY_COUNT = 2

    request = request_from("10.0.0.3", "1.2.3.4, 198.51.100.7, 10.0.0.2")

    assert client_ip(request) == "198.51.100.7"


@pytest.mark.parametrize("forwarded", ["", "not-an-ip", "198.51.100.7"])
def test_a_forwarded_header_that_does_not_fit_falls_back_to_the_connection(settings, forwarded):
    settings.TRUSTED_PROXY_COUNT = 2 if forwarded == "198.51.100.7" else 1

    assert client_ip(request_from("10.0.0.2", forwarded)) == "10.0.0.2"


def test_a_trusted_client_ip_header_names_the_client(settings):
    settings.TRUSTED_CLIENT_IP_HEADER = "X-Real-IP"

    request = request_from("10.0.0.2", "203.0.113.1", **{"X-Real-IP": "198.51.100.8"})

    assert client_ip(request) == "198.51.100.8"


def test_rates_are_written_like_allauths():
    assert [(r.amount, r.seconds, r.scope) for r in parse_rates("10/h/ip, 5/5m/account")] == [
        (10, 3600, "ip"),
        (5, 300, "account"),
    ]
    for wrong in ("5/5m/key", "5/h", "five/h/ip", "5/3w/ip"):
        with pytest.raises(ValueError, match="bad rate"):
            parse_rates(wrong)


# --- Sign-up ---------------------------------------------------------------------


def signup(client, email, **extra):
    return client.post(
        reverse("account_signup"),
        {"email": email, "password1": PASSWORD, "password2": PASSWORD},
        **extra,
    )


def test_sign_ups_per_ip_are_limited_whatever_x_forwarded_for_says(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "signup": "2/m/ip"}

    for n in range(2):
        assert signup(client, f"new{n}@example.com", headers=spoofed(n)).status_code == 302

    assert_refused(signup(client, "new9@example.com", headers=spoofed(9)))
    assert User.objects.count() == 2


def test_behind_a_trusted_proxy_sign_ups_are_counted_per_forwarded_client(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "signup": "1/m/ip"}
    first = {"X-Forwarded-For": "203.0.113.1, 198.51.100.1"}
    same_client_other_spoof = {"X-Forwarded-For": "203.0.113.2, 198.51.100.1"}
    other_client = {"X-Forwarded-For": "198.51.100.2"}

    assert signup(client, "a@example.com", headers=first).status_code == 302
    assert_refused(signup(client, "b@example.com", headers=same_client_other_spoof))
    assert signup(client, "c@example.com", headers=other_client).status_code == 302


def test_sign_up_e_mails_to_one_address_are_limited_from_any_ip(
    client, settings, django_capture_on_commit_callbacks
):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signup": "2/h/account"}

    with django_capture_on_commit_callbacks(execute=True):
        for n in range(2):
            response = signup(client, "victim@example.com", REMOTE_ADDR=f"192.0.2.{n}")
            assert response.status_code == 302
        sent = EmailDelivery.objects.filter(to="victim@example.com").count()
        response = signup(client, "Victim@Example.com", REMOTE_ADDR="192.0.2.99")

    assert_refused(response)
    assert EmailDelivery.objects.filter(to="victim@example.com").count() == sent >= 1
    assert User.objects.count() == 1


# --- Login -------------------------------------------------------------------------


def test_login_attempts_per_ip_are_limited_whatever_x_forwarded_for_says(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "3/m/ip"}
    UserFactory(email="reader@example.com")
    url = reverse("account_login")

    for n in range(3):
        client.post(url, {"login": f"x{n}@example.com", "password": "nope"}, headers=spoofed(n))
    response = client.post(
        url, {"login": "reader@example.com", "password": PASSWORD}, headers=spoofed(7)
    )

    assert_refused(response)
    assert "_auth_user_id" not in client.session


# --- Password reset ------------------------------------------------------------------


def test_password_resets_per_ip_are_limited_whatever_x_forwarded_for_says(
    client, settings, django_capture_on_commit_callbacks
):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "reset_password": "2/m/ip"}
    UserFactory(email="forgot@example.com")
    url = reverse("account_reset_password")

    with django_capture_on_commit_callbacks(execute=True):
        for n in range(2):
            client.post(url, {"email": f"someone{n}@example.com"}, headers=spoofed(n))
        response = client.post(url, {"email": "forgot@example.com"}, headers=spoofed(5))

    assert_refused(response)
    assert not EmailDelivery.objects.filter(to="forgot@example.com").exists()


def test_password_reset_e_mails_to_one_address_are_limited_from_any_ip(
    client, settings, django_capture_on_commit_callbacks
):
    settings.ACCOUNT_RATE_LIMITS = {
        **settings.ACCOUNT_RATE_LIMITS,
        "reset_password": "100/m/ip,2/m/key",
    }
    UserFactory(email="forgot@example.com")
    url = reverse("account_reset_password")

    with django_capture_on_commit_callbacks(execute=True):
        for n in range(2):
            client.post(url, {"email": "forgot@example.com"}, REMOTE_ADDR=f"192.0.2.{n}")
        response = client.post(url, {"email": "FORGOT@example.com"}, REMOTE_ADDR="192.0.2.50")

    assert_refused(response)
    assert EmailDelivery.objects.filter(to="forgot@example.com").count() == 2


# --- Refund requests -----------------------------------------------------------------


def paid_order(buyer):
    order = services.place_order(
        buyer=buyer, book=BookFactory(), amount_cents=2000, checkout_token=uuid.uuid4()
    )
    services.mark_paid(order_id=order.pk, amount_cents=2000)
    return order


def refund(client, order, **extra):
    return client.post(reverse("payments:refund", args=[order.public_id]), {"reason": ""}, **extra)


def test_refund_requests_per_reader_are_limited_from_any_ip(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "refund": "100/h/ip,2/h/account"}
    reader = UserFactory()
    client.force_login(reader)
    orders = [paid_order(reader) for _ in range(3)]

    for n, order in enumerate(orders[:2]):
        assert refund(client, order, REMOTE_ADDR=f"192.0.2.{n}").status_code == 302

    assert_refused(refund(client, orders[2], REMOTE_ADDR="192.0.2.77"))
    assert Refund.objects.count() == 2
    orders[2].refresh_from_db()
    assert orders[2].status == "paid"


def test_refund_requests_per_ip_are_limited_whatever_x_forwarded_for_says(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "refund": "2/h/ip,100/h/account"}
    readers = [UserFactory() for _ in range(3)]
    orders = [paid_order(reader) for reader in readers]

    for n in range(2):
        client.force_login(readers[n])
        assert refund(client, orders[n], headers=spoofed(n)).status_code == 302

    client.force_login(readers[2])
    assert_refused(refund(client, orders[2], headers=spoofed(9)))
    assert not Refund.objects.filter(order=orders[2]).exists()


def test_looking_at_the_refund_page_is_not_counted(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "refund": "1/h/ip,1/h/account"}
    reader = UserFactory()
    client.force_login(reader)
    order = paid_order(reader)
    url = reverse("payments:refund", args=[order.public_id])

    for _ in range(3):
        assert client.get(url).status_code == 200
    assert refund(client, order).status_code == 302


# --- The Django admin's login ---------------------------------------------------------


def admin_login(client, username, password, **extra):
    return client.post(
        reverse("admin:login"), {"username": username, "password": password}, **extra
    )


@pytest.fixture
def staff():
    return UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)


def test_failed_admin_logins_per_account_are_refused_even_with_the_right_password(
    client, settings, staff
):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "admin_login": "100/m/ip,3/5m/account"}

    for n in range(3):
        response = admin_login(client, "staff@example.com", "wrong", REMOTE_ADDR=f"192.0.2.{n}")
        assert response.status_code == 200  # the form again, with its error

    assert_refused(admin_login(client, "STAFF@example.com", PASSWORD, REMOTE_ADDR="192.0.2.9"))
    assert "_auth_user_id" not in client.session


def test_failed_admin_logins_per_ip_are_refused_whatever_x_forwarded_for_says(
    client, settings, staff
):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "admin_login": "3/m/ip,100/5m/account"}

    for n in range(3):
        admin_login(client, f"guess{n}@example.com", "wrong", headers=spoofed(n))

    assert_refused(admin_login(client, "staff@example.com", PASSWORD, headers=spoofed(8)))
    assert "_auth_user_id" not in client.session


def test_successful_admin_logins_do_not_count(client, settings, staff):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "admin_login": "2/m/ip,2/5m/account"}

    for _ in range(4):
        response = admin_login(client, "staff@example.com", PASSWORD)
        assert response.status_code == 302
        client.logout()
