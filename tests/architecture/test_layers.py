"""Imports only point down: core → models → domains → actions → dialects → app
(docs/architecture.md). Read from the source with ast; nothing is imported."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from tests.architecture.imports import SRC, Import, all_imports, imports_of, source_files

LAYERS = ("core", "models", "domains", "actions", "dialects", "app")
CORE = {
    "config",
    "db",
    "errors",
    "values",
    "security",
    "responses",
    "body",
    "gate",
    "limits",
    "transport",
    "driver",
    "routing",
    "logs",
    "ratelimit",
    "health",
    "dbfaults",
    "metrics",
}
DOMAINS = (
    "auth",
    "events",
    "webhooks",
    "inboxes",
    "custom_attributes",
    "contacts",
    "labels",
    "contact_inboxes",
)
# The lower domains each domain may use, as docs/architecture.md lists them.
DOMAIN_IMPORTS: dict[str, set[str]] = {
    "auth": set(),
    "events": {"auth"},
    "webhooks": {"auth", "events"},
    "inboxes": {"auth"},
    "custom_attributes": {"auth"},
    "contacts": {"auth", "inboxes", "custom_attributes", "events"},
    "labels": {"auth", "contacts", "events"},
    "contact_inboxes": {"auth", "contacts", "inboxes", "events"},
}


def layer_of(module: str) -> tuple[str, str] | None:
    """(layer, the domain package or the module's own name) of a contactdesk module."""
    parts = module.split(".")
    if parts == ["contactdesk"]:
        return "core", "contactdesk"
    top = parts[1]
    if top in CORE:
        return "core", top
    if top in ("models", "migrations"):
        return "models", top
    if top in DOMAINS:
        return "domains", top
    if top == "actions":
        return "actions", top
    if top == "dialects":
        return "dialects", top
    if top in ("app", "cli"):
        return "app", top
    return None


def violations(imports: list[Import]) -> list[str]:
    """Each import that runs back up the layers or crosses domains outside DOMAIN_IMPORTS."""
    found = []
    for imp in imports:
        source, target = layer_of(imp.importer), layer_of(imp.imported)
        where = f"{imp.path.relative_to(SRC.parent)}:{imp.line}"
        if source is None or target is None:
            unknown = imp.importer if source is None else imp.imported
            found.append(f"{where}: {unknown} has no layer (add it to tests/architecture)")
            continue
        if LAYERS.index(target[0]) > LAYERS.index(source[0]):
            found.append(
                f"{where}: {imp.importer} ({source[0]}) imports {imp.imported} ({target[0]}),"
                " a higher layer"
            )
        elif (
            source[0] == target[0] == "domains"
            and source[1] != target[1]
            and target[1] not in DOMAIN_IMPORTS[source[1]]
        ):
            found.append(
                f"{where}: domain {source[1]} imports domain {target[1]}, which "
                "docs/architecture.md does not allow"
            )
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of a graph (each reported once, from its first node found)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for successor in sorted(edges.get(node, ())):
            if state.get(successor) == 1:
                found.append([*path[path.index(successor) :], successor])
            elif successor not in state:
                visit(successor)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def module_graph(imports: list[Import]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in imports:
        if imp.imported != imp.importer:
            edges[imp.importer].add(imp.imported)
    return edges


def test_every_module_has_a_layer() -> None:
    from tests.architecture.imports import module_name

    unplaced = [module_name(p) for p in source_files() if layer_of(module_name(p)) is None]
    assert not unplaced, unplaced


def test_imports_only_point_down() -> None:
    problems = violations(all_imports())
    assert not problems, "\n".join(problems)


def test_no_import_cycle() -> None:
    found = cycles(module_graph(all_imports()))
    assert not found, "\n".join(" -> ".join(cycle) for cycle in found)


def test_no_cycle_between_domains() -> None:
    packages: dict[str, set[str]] = defaultdict(set)
    for imp in all_imports():
        source, target = layer_of(imp.importer), layer_of(imp.imported)
        if source and target and source[0] == target[0] == "domains" and source[1] != target[1]:
            packages[source[1]].add(target[1])
    assert not cycles(packages)
    assert "contacts" not in packages["custom_attributes"]


# The checks themselves: each catches what it is for.


def _fake(importer: str, imported: str) -> Import:
    return Import(importer, imported, SRC / "contactdesk" / "x.py", 1)


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("contactdesk.values", "contactdesk.models"),  # core -> models
        ("contactdesk.models.contact", "contactdesk.contacts.service"),  # models -> domain
        ("contactdesk.contacts.service", "contactdesk.actions.merge"),  # domain -> action
        ("contactdesk.actions.bulk", "contactdesk.dialects"),  # action -> dialects
        ("contactdesk.dialects", "contactdesk.app"),  # dialects -> app
        ("contactdesk.custom_attributes.service", "contactdesk.contacts.fields"),  # domain edge
        ("contactdesk.inboxes.service", "contactdesk.contacts.service"),  # domain edge
        ("contactdesk.nowhere", "contactdesk.db"),  # a module with no layer
    ],
)
def test_a_wrong_import_is_reported(importer: str, imported: str) -> None:
    problems = violations([_fake(importer, imported)])
    assert len(problems) == 1
    assert "x.py:1" in problems[0]


def test_an_import_cycle_is_reported() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]


def test_relative_and_from_imports_are_resolved(tmp_path: Path) -> None:
    path = SRC / "contactdesk" / "contacts" / "service.py"
    source = (
        "from contactdesk.contacts import counters\n"
        "from . import fields\n"
        "from ..actions import merge\n"
        "import contactdesk.app\n"
    )
    names = {imp.imported for imp in imports_of(path, source)}
    assert {
        "contactdesk.contacts.counters",
        "contactdesk.contacts.fields",
        "contactdesk.actions.merge",
        "contactdesk.app",
    } <= names
    assert violations(imports_of(path, source))  # the last two run up the layers
