"""ORM queries compiled once per process, run many times with new values.

A busy small query (is this book the reader's? lock the reader's row) costs the
ORM more CPU to build and compile on every call than the database spends
answering it: the ownership check of a purchase, asked on three of its four
requests, took about 1 ms of Python each time. ``CompiledQuery`` keeps the
ORM as the one definition of the query and compiles it once per database alias,
with marker values in place of its arguments; later calls put their arguments
where the markers were and run the same SQL. Rows come back as the database
gives them (no field converters): use it for ids, counts and EXISTS flags.
"""

from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from django.db.transaction import TransactionManagementError

# Values no real id reaches, one per argument; a query whose SQL does not carry
# each of them as a parameter (the ORM folded a value into the SQL text) is refused.
_MARKER = 7_340_000_000_000_000_000


class CompiledQuery:
    """``build(*values)`` returns the QuerySet for integer ``values`` (ids); the
    query's shape must not depend on them (no branches on the values)."""

    def __init__(self, build: Callable[..., QuerySet], *, arity: int):
        self.build = build
        self.arity = arity
        self._compiled: dict[str, tuple[str, list, dict[int, int], bool]] = {}

    def _compile(self, db: str):
        markers = [_MARKER + i for i in range(self.arity)]
        queryset = self.build(*markers)
        sql, params = queryset.query.get_compiler(using=db).as_sql()
        params = list(params)
        slots = {pos: markers.index(value) for pos, value in enumerate(params) if value in markers}
        if set(slots.values()) != set(range(self.arity)):
            raise ValueError(f"{self.build!r}: every value must be a parameter of its SQL")
        compiled = self._compiled[db] = (sql, params, slots, queryset.query.select_for_update)
        return compiled

    def rows(self, *values: int, using: str = DEFAULT_DB_ALIAS) -> list[tuple]:
        """The query's rows for ``values``, on the ``using`` database."""
        if len(values) != self.arity:
            raise TypeError(f"expected {self.arity} values, got {len(values)}")
        sql, params, slots, locks = self._compiled.get(using) or self._compile(using)
        if locks and connections[using].get_autocommit():  # as the ORM refuses it
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        bound = list(params)
        for pos, index in slots.items():
            bound[pos] = values[index]
        with connections[using].cursor() as cursor:
            cursor.execute(sql, bound)
            return cursor.fetchall()
