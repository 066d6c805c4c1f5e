"""ORM queries compiled once per process, run many times with new values.

A busy small query (is this book the reader's? lock the reader's row, load the
order being paid) costs the ORM more CPU to build and compile on every call than
the database spends answering it: the ownership check of a purchase, asked on three
of its four requests, took about 1 ms of Python each time. ``CompiledQuery`` keeps
the ORM as the one definition of the query and compiles it once per database alias,
with marker values in place of its arguments; later calls put their arguments where
the markers were and run the same SQL.

``rows()`` gives the rows as the database returns them (no field converters): use
it for ids, counts and EXISTS flags. ``objects()`` gives model instances, built as
the ORM builds them (field converters, ``select_related`` rows, annotations).
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from django.db.models.query import ModelIterable, get_related_populators
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError

# Values no real id reaches, one per argument; a query whose SQL does not carry
# each of them as a parameter (the ORM folded a value into the SQL text) is refused.
_MARKER = 7_340_000_000_000_000_000


@dataclass
class _Compiled:
    sql: str
    params: list
    slots: dict[int, tuple[int, str]]  # parameter position -> (argument, "int"/"uuid"/"hex")
    locks: bool
    compiler: SQLCompiler  # only read after compiling: its select list and klass_info
    db: str
    models: bool  # a QuerySet of model instances (objects() may build them)

    def bind(self, values) -> list:
        bound = list(self.params)
        for pos, (index, form) in self.slots.items():
            value = values[index]
            if form != "int":
                value = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
                value = value.hex if form == "hex" else value
            bound[pos] = value
        return bound

    @cached_property
    def builder(self):
        """What ModelIterable works out per query, worked out once: the model, its
        columns, the related rows' populators and the converters."""
        compiler = self.compiler
        select, klass_info = compiler.select, compiler.klass_info
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        init_list = [column[0].target.attname for column in select[start:end]]
        converters = compiler.get_converters([column[0] for column in select])
        return (
            klass_info["model"],
            start,
            end,
            init_list,
            get_related_populators(klass_info, select, self.db),
            list(compiler.annotation_col_map.items()),
            list(converters.items()),
        )

    def instances(self, rows: list[tuple], connection) -> list:
        model, start, end, init_list, populators, annotations, converters = self.builder
        found = []
        for row in rows:
            if converters:
                row = list(row)
                for pos, (functions, expression) in converters:
                    value = row[pos]
                    for convert in functions:
                        value = convert(value, expression, connection)
                    row[pos] = value
            obj = model.from_db(self.db, init_list, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            for name, pos in annotations:
                setattr(obj, name, row[pos])
            found.append(obj)
        return found


class CompiledQuery:
    """``build(*values)`` returns the QuerySet for ``values``: integer ids, or UUIDs
    at the positions named by ``uuids``. The query's shape must not depend on them
    (no branches on the values)."""

    def __init__(self, build: Callable[..., QuerySet], *, arity: int, uuids: tuple[int, ...] = ()):
        self.build = build
        self.arity = arity
        self.uuids = frozenset(uuids)
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, db: str) -> _Compiled:
        markers = [
            uuid.UUID(int=_MARKER + i) if i in self.uuids else _MARKER + i
            for i in range(self.arity)
        ]
        queryset = self.build(*markers)
        if queryset._prefetch_related_lookups or queryset._known_related_objects:
            raise ValueError(f"{self.build!r}: prefetches are not compiled")
        compiler = queryset.query.get_compiler(using=db)
        sql, params = compiler.as_sql()
        params = list(params)
        slots = {}
        for pos, value in enumerate(params):
            for index, marker in enumerate(markers):
                if type(value) is type(marker) and value == marker:
                    slots[pos] = (index, "uuid" if index in self.uuids else "int")
                elif index in self.uuids and value == marker.hex:
                    slots[pos] = (index, "hex")
        if {index for index, _form in slots.values()} != set(range(self.arity)):
            raise ValueError(f"{self.build!r}: every value must be a parameter of its SQL")
        models = queryset._iterable_class is ModelIterable
        locks = queryset.query.select_for_update
        compiled = self._compiled[db] = _Compiled(sql, params, slots, locks, compiler, db, models)
        return compiled

    def _run(self, values, using: str) -> tuple[_Compiled, list[tuple]]:
        if len(values) != self.arity:
            raise TypeError(f"expected {self.arity} values, got {len(values)}")
        compiled = self._compiled.get(using) or self._compile(using)
        if compiled.locks and connections[using].get_autocommit():  # as the ORM refuses it
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        with connections[using].cursor() as cursor:
            cursor.execute(compiled.sql, compiled.bind(values))
            return compiled, cursor.fetchall()

    def rows(self, *values, using: str = DEFAULT_DB_ALIAS) -> list[tuple]:
        """The query's rows for ``values``, on the ``using`` database."""
        return self._run(values, using)[1]

    def objects(self, *values, using: str = DEFAULT_DB_ALIAS) -> list:
        """The query's model instances for ``values`` (a plain model QuerySet only)."""
        compiled, rows = self._run(values, using)
        if not compiled.models:
            raise TypeError(f"{self.build!r}: objects() needs a QuerySet of model instances")
        return compiled.instances(rows, connections[using])
