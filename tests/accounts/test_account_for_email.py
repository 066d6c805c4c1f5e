"""The account behind an e-mail address typed at checkout (accounts.services)."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.db import connection

from accounts.services import account_for_email
from tests.concurrency import at_once
from tests.conftest import require
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()


def test_a_new_address_gets_an_account_without_a_password_and_unverified():
    user, created = account_for_email("  New.Reader@Example.COM ")

    assert created is True
    assert user.email == "new.reader@example.com"
    assert not user.has_usable_password()
    address = EmailAddress.objects.get(user=user)
    assert (address.email, address.primary, address.verified) == (user.email, True, False)


def test_the_same_address_in_any_case_is_the_same_account():
    first, _ = account_for_email("reader@example.com")

    again, created = account_for_email("READER@example.com")

    assert created is False
    assert again == first
    assert User.objects.count() == 1
    assert EmailAddress.objects.count() == 1


def test_an_existing_account_is_returned_and_keeps_its_password():
    reader = UserFactory(email="owner@example.com")

    user, created = account_for_email("Owner@Example.com")

    assert (user, created) == (reader, False)
    user.refresh_from_db()
    assert user.has_usable_password()


def test_a_verified_secondary_address_finds_its_account():
    reader = UserFactory(email="main@example.com")
    EmailAddress.objects.create(user=reader, email="work@example.com", verified=True)

    assert account_for_email("Work@example.com") == (reader, False)


def test_an_unverified_secondary_address_does_not_route_purchases_to_its_holder():
    squatter = UserFactory(email="squatter@example.com")
    EmailAddress.objects.create(user=squatter, email="victim@example.com", verified=False)

    user, created = account_for_email("victim@example.com")

    assert created is True
    assert user != squatter
    assert user.email == "victim@example.com"


@pytest.mark.parametrize("email", ["", "   "])
def test_no_address_is_refused(email):
    with pytest.raises(ValueError):
        account_for_email(email)
    assert User.objects.count() == 0


def test_two_checkouts_with_the_same_new_address_at_once_make_one_account(transactional_db):
    """PostgreSQL: the second insert waits on the unique index, fails, and reads the first."""
    require(connection.vendor == "postgresql", "concurrent inserts need PostgreSQL")

    def checkout(email):
        return lambda: account_for_email(email)

    results = at_once(checkout("twin@example.com"), checkout("Twin@Example.com"))

    assert User.objects.count() == 1
    assert EmailAddress.objects.count() == 1
    assert {user.pk for user, _ in results} == {User.objects.get().pk}
    assert sorted(created for _, created in results) == [False, True]
