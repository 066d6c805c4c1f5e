"""catalog, library and accounts have no import cycle, counting imports inside functions
too (a cycle dodged by a lazy import is still a cycle), and no app imports one above it:
catalog imports neither library nor payments, library does not import payments
(docs/architecture.md, Import graph of the apps)."""

import ast
from pathlib import Path

from django.conf import settings

APPS = ("catalog", "library", "accounts")
# What an app may not import: the apps above it.
ABOVE = {
    "accounts": ("catalog", "library", "payments"),
    "catalog": ("library", "payments"),
    "library": ("payments",),
}


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path, apps=APPS) -> dict[str, Path]:
    return {
        module_name(p, root): p
        for app in apps
        for p in (root / app).rglob("*.py")
        if "migrations" not in p.parts
    }


def imported(source: str, name: str, is_package: bool, known: set[str]) -> set[str]:
    """Every module ``source`` imports, at the top or inside a function.

    ``from package import module`` depends on that module, not on the package's
    ``__init__``: Python runs the package's ``__init__`` before any of its modules
    whichever way they are imported, so that is no edge of the graph.
    """
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else base)
    return found - {name}


def graph(root: Path, apps=APPS) -> dict[str, set[str]]:
    paths = modules(root, apps)
    known = set(paths)
    return {
        name: imported(path.read_text(), name, path.name == "__init__.py", known)
        for name, path in paths.items()
    }


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt) :], nxt]
            if nxt in edges and nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module, targets in edges.items()
        for target in targets
        for above in ABOVE.get(module.partition(".")[0], ())
        if target == above or target.startswith(f"{above}.")
    )


def test_the_walker_sees_an_import_inside_a_function_and_a_relative_one(tmp_path):
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "__init__.py").write_text("")
    (tmp_path / "catalog" / "tasks.py").write_text("from . import manuscript\n")
    (tmp_path / "catalog" / "manuscript.py").write_text(
        "def request_build():\n    from .tasks import run_build\n    from payments import x\n"
    )
    edges = graph(tmp_path, apps=("catalog",))

    assert edges["catalog.tasks"] == {"catalog.manuscript"}
    assert edges["catalog.manuscript"] == {"catalog.tasks", "payments"}
    assert find_cycle(edges) == ["catalog.manuscript", "catalog.tasks", "catalog.manuscript"]
    assert upward_imports(edges) == ["catalog.manuscript imports payments"]


def test_no_module_of_catalog_library_or_accounts_imports_itself_round_a_cycle():
    edges = graph(Path(settings.BASE_DIR))

    assert "catalog.manuscript" in edges["catalog.builds"]  # the walk found the apps
    cycle = find_cycle(edges)
    assert cycle is None, " -> ".join(cycle)


def test_catalog_imports_neither_library_nor_payments_and_library_not_payments():
    edges = graph(Path(settings.BASE_DIR))

    assert "catalog.models" in edges["library.services"]  # imports downward are seen
    assert upward_imports(edges) == []
