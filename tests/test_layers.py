"""The architecture as a test (docs/architecture.md, "Layers"): no import cycle
between any two modules of the project, and no app importing one above it.
Imports inside functions count: a cycle dodged by a lazy import is still a cycle.

    core  <-  accounts  <-  catalog  <-  library  <-  payments  <-  webhooks  <-  api  <-  demo, storefront
"""

import ast
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
# Bottom to top; an app may import its own layer and those below it.
LAYERS = ["core", "accounts", "catalog", "library", "payments", "webhooks", "api", "demo"]
PROJECT = "storefront"  # settings, URLs, Celery, gunicorn, home: may import every app


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in [*LAYERS, PROJECT]
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }


def imports_of(path: Path, name: str, modules) -> set[str]:
    """The project modules ``path`` imports, wherever the import statement is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # "from pkg import mod" imports the module; "from pkg import name", pkg.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        found |= {t for t in targets if t in modules and t != name}
    return found


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, name, modules) for name, path in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def layer(module: str) -> int:
    app = module.split(".")[0]
    return len(LAYERS) if app == PROJECT else LAYERS.index(app)


def upward(edges) -> list[str]:
    return sorted(
        f"{source} imports {target}"
        for source, targets in edges.items()
        for target in targets
        if layer(target) > layer(source)
        # An app's apps.py may load the project's settings-level modules? No: none may.
    )


def test_the_walker_finds_a_cycle_made_by_a_lazy_import_and_an_upward_import():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert upward({"catalog.views": {"payments.models"}}) == [
        "catalog.views imports payments.models"
    ]
    assert upward({"core.mail": {"storefront.settings"}}) == [
        "core.mail imports storefront.settings"
    ]
    lazy = ast.parse("def f():\n    from .services import mark_paid\n")
    assert any(isinstance(n, ast.ImportFrom) for n in ast.walk(lazy))


def test_no_module_imports_itself_round_a_cycle():
    edges = graph()
    assert "payments.services" in edges["payments.credit_purchases"]  # the walker sees edges
    cycle = find_cycle(edges)
    assert cycle is None, " -> ".join(cycle)


def test_no_app_imports_an_app_above_it_and_the_kernel_imports_none():
    assert upward(graph()) == []
