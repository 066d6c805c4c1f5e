"""A transaction that forgets a reader's pages twice (a sale: its order, then its
grant) bumps their generation once now and once at commit, as one forget does."""

import pytest
from django.core.cache import cache
from django.db import transaction

from core.pagecache import forget_now_and_at_commit

pytestmark = pytest.mark.django_db(transaction=True)
KEY = "reader:generation:test-forget"


@pytest.fixture(autouse=True)
def fresh_key():
    cache.delete(KEY)
    yield
    cache.delete(KEY)


def generation() -> int:
    return cache.get(KEY) or 0


def test_forgetting_twice_in_a_transaction_bumps_as_often_as_once():
    with transaction.atomic():
        forget_now_and_at_commit(KEY)
        now = generation()
        forget_now_and_at_commit(KEY)
        assert generation() == now  # no second bump now
    assert generation() > now  # and the one at commit


def test_a_bump_undone_with_its_savepoint_is_made_again():
    with transaction.atomic():
        try:
            with transaction.atomic():
                forget_now_and_at_commit(KEY)
                raise RuntimeError
        except RuntimeError:
            pass
        before = generation()
        forget_now_and_at_commit(KEY)  # the first one's commit hook went with its savepoint
        assert generation() > before
        pending = generation()
    assert generation() > pending


def test_outside_a_transaction_one_forget_is_one_bump():
    forget_now_and_at_commit(KEY)
    first = generation()
    forget_now_and_at_commit(KEY)
    assert generation() > first
