"""The sale path's two statement helpers: a query compiled once (core.compiled) and
a row inserted once (core.inserts), on SQLite and on PostgreSQL alike."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.compiled import CompiledQuery
from core.inserts import insert_once
from core.models import EmailDelivery
from core.reader_pages import generation_key
from library import services as library
from library.models import Entitlement
from payments.models import Order
from payments.services import place_order
from tests.factories import BookFactory, UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()


def _emails_like(user_id, domain):
    return User.objects.filter(pk=user_id, email__endswith=domain).values_list("pk")


def test_a_compiled_query_answers_as_the_orm_does_for_every_value():
    a, b = UserFactory(email="a@one.example"), UserFactory(email="b@two.example")
    query = CompiledQuery(lambda user_id: _emails_like(user_id, "@one.example"), arity=1)
    assert query.rows(a.pk) == [(a.pk,)]
    assert query.rows(b.pk) == []  # the constant stays: only the id was a parameter
    assert query.rows(a.pk) == list(_emails_like(a.pk, "@one.example"))


def test_a_compiled_query_is_built_once_per_database():
    built = []

    def build(user_id):
        built.append(user_id)
        return User.objects.filter(pk=user_id).annotate(n=Count("entitlements")).values_list("n")

    query = CompiledQuery(build, arity=1)
    user = UserFactory()
    for _ in range(3):
        with CaptureQueriesContext(connection) as queries:
            assert query.rows(user.pk) == [(0,)]
        assert len(queries) == 1
    assert len(built) == 1


def test_a_value_the_orm_writes_into_the_sql_is_refused():
    # A slice becomes LIMIT in the SQL text: compiled once, every later call would
    # silently reuse the first value.
    query = CompiledQuery(lambda n: User.objects.values_list("pk")[:n], arity=1)
    with pytest.raises(ValueError, match="must be a parameter"):
        query.rows(2)
    with pytest.raises(TypeError):
        CompiledQuery(lambda a, b: User.objects.filter(pk=a), arity=2).rows(1)


@pytest.mark.django_db(transaction=True)  # autocommit: no test transaction around it
def test_a_compiled_lock_outside_a_transaction_is_refused_as_the_orm_refuses_it():
    query = CompiledQuery(
        lambda user_id: User.objects.select_for_update().filter(pk=user_id).values_list("pk"),
        arity=1,
    )
    user = UserFactory()
    with transaction.atomic():
        assert query.rows(user.pk) == [(user.pk,)]
    if connection.features.has_select_for_update:
        with pytest.raises(TransactionManagementError):
            query.rows(user.pk)


def _order_with_book(public_id, buyer_id):
    return Order.objects.select_related("book").filter(public_id=public_id, buyer_id=buyer_id)


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_compiled_objects_are_the_instances_the_orm_builds_with_their_joined_rows():
    order = place_order(
        buyer=UserFactory(), book=BookFactory(), amount_cents=2000, checkout_token=uuid.uuid4()
    )
    query = CompiledQuery(_order_with_book, arity=2, uuids=(0,))
    expected = Order.objects.select_related("book").get(pk=order.pk)
    for public_id in (order.public_id, str(order.public_id)):  # a UUID or its text
        [found] = query.objects(public_id, order.buyer_id)
        assert _fields(found) == _fields(expected)  # converted as the ORM converts
        assert not found._state.adding and found._state.db == "default"
        with CaptureQueriesContext(connection) as queries:
            assert _fields(found.book) == _fields(expected.book)
        assert len(queries) == 0  # the book came with the order's row
    assert query.objects(uuid.uuid4(), order.buyer_id) == []
    assert query.objects(order.public_id, order.buyer_id + 1) == []
    with pytest.raises(ValueError):
        query.objects("not-an-order-id", order.buyer_id)


def test_compiled_objects_convert_json_and_carry_annotations():
    delivery = _delivery("json-1")
    delivery.save()
    by_pk = CompiledQuery(lambda pk: EmailDelivery.objects.filter(pk=pk), arity=1)
    assert by_pk.objects(delivery.pk)[0].headers == {"X": "1"}
    user = UserFactory()
    counted = CompiledQuery(
        lambda pk: User.objects.filter(pk=pk).annotate(books=Count("entitlements")), arity=1
    )
    [found] = counted.objects(user.pk)
    assert found == user and found.books == 0 and found.email == user.email
    with pytest.raises(TypeError, match="model instances"):
        CompiledQuery(lambda pk: User.objects.filter(pk=pk).values_list("pk"), arity=1).objects(1)


def _delivery(key, subject="Hello"):
    return EmailDelivery(key=key, to="r@example.com", subject=subject, body="b", headers={"X": "1"})


def test_insert_once_inserts_a_new_row_in_one_statement():
    delivery = _delivery("receipt:order-1")
    with CaptureQueriesContext(connection) as queries:
        assert insert_once(delivery) is True
    assert len(queries) == 1
    stored = EmailDelivery.objects.get(pk=delivery.pk)
    assert stored.key == "receipt:order-1" and stored.headers == {"X": "1"}
    assert stored.created_at is not None and not delivery._state.adding


def test_insert_once_leaves_an_existing_row_as_it_was():
    first = _delivery("receipt:order-2", subject="First")
    assert insert_once(first)
    second = _delivery("receipt:order-2", subject="Second")
    assert insert_once(second) is False
    assert second.pk is None
    assert EmailDelivery.objects.get(key="receipt:order-2").subject == "First"
    assert EmailDelivery.objects.count() == 1


def test_a_grant_restores_a_revoked_entitlement_keeping_the_readers_own_choices():
    reader, book = UserFactory(), BookFactory()
    earlier = timezone.now() - timedelta(days=3)
    library.grant_entitlement(user=reader, book=book, at=earlier)
    Entitlement.objects.filter(user=reader, book=book).update(notify_updates=False)
    library.revoke_entitlement(user=reader, book=book)

    entitlement, granted = library.grant_entitlement(user=reader, book=book)
    assert granted
    row = Entitlement.objects.get(user=reader, book=book)
    assert row.pk == entitlement.pk and row.revoked_at is None and row.granted_at > earlier
    assert entitlement.notify_updates is False  # read from the row, not the default
    assert Entitlement.objects.count() == 1


def test_a_grant_to_an_owner_changes_nothing_and_returns_their_entitlement():
    reader, book = UserFactory(), BookFactory()
    first, granted = library.grant_entitlement(user=reader, book=book)
    assert granted
    again, granted = library.grant_entitlement(user=reader, book=book, at=timezone.now())
    assert not granted and again.pk == first.pk
    assert Entitlement.objects.get(pk=first.pk).granted_at == first.granted_at


@pytest.mark.django_db(transaction=True)  # the grant's own transaction commits
def test_a_grant_forgets_the_readers_cached_pages():
    from django.core.cache import cache

    reader, book = UserFactory(), BookFactory()
    key = generation_key(reader.pk)
    before = cache.get(key) or 0
    library.grant_entitlement(user=reader, book=book)
    assert (cache.get(key) or 0) >= before + 2  # now, and again at its commit
