"""Every select, update and delete on a tenant table goes through models/tenancy.py.

A small version of the tenant-scoping lint of the model codebases: it reads the source of
every module (ast, nothing is executed) and fails on a statement built with sqlalchemy's own
select/update/delete/exists, or a session.get, that names a tenant model (a table with an
account_id column), unless it is written inside one of the markers tenancy.py defines:
keyed_by_parent (a statement keyed by a row already fetched scoped) or, in auth only,
across_accounts (a credential lookup). The message names file and line.
"""

from __future__ import annotations

import ast

import pytest

import contactdesk.models  # noqa: F401  (registers every table)
from contactdesk.db import Base
from tests.architecture.imports import SRC, source_files

STATEMENTS = {"select", "update", "delete", "exists"}
PARENT_MARKER = "keyed_by_parent"
CREDENTIAL_MARKER = "across_accounts"
RUNNER_MARKER = "any_account"
# Where a background runner looks for its next piece of work in every account.
RUNNER_MODULES = ("contactdesk/actions/imports.py",)
# Where a statement may cross accounts (a key or token names the account it belongs to).
# provisioning: `keys revoke API_KEY`, where the key names its account.
CREDENTIAL_MODULES = ("contactdesk/auth/", "contactdesk/actions/provisioning.py")
# The helper itself, and migrations (DDL and data moves over whole tables).
EXEMPT = ("contactdesk/models/tenancy.py", "contactdesk/migrations/")


def tenant_models() -> set[str]:
    return {
        mapper.class_.__name__
        for mapper in Base.registry.mappers
        if "account_id" in mapper.local_table.c
    }


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _called(node: ast.AST) -> str | None:
    if not isinstance(node, ast.Call):
        return None
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _is_statement(node: ast.Call) -> bool:
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr in STATEMENTS:
        return isinstance(func.value, ast.Name) and func.value.id in ("sa", "sqlalchemy")
    return isinstance(func, ast.Name) and func.id in STATEMENTS


def _is_session_get(node: ast.Call) -> bool:
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "get"
        and isinstance(func.value, ast.Name)
        and "session" in func.value.id
    )


def lint(source: str, relative: str, models: set[str]) -> list[str]:
    """file:line messages for the unscoped statements on tenant tables in one module."""
    tree = ast.parse(source)
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    # Names bound to a tenant table another way: aliased(Model), cast(Table, Model.__table__).
    tenant = set(models)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _names(node.value) & models:
            value = node.value
            if _called(value) in ("aliased", "cast") or (
                isinstance(value, ast.Attribute) and value.attr == "__table__"
            ):
                tenant |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    credential_module = relative.startswith(CREDENTIAL_MODULES)
    runner_module = relative.startswith(RUNNER_MODULES)
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if _is_session_get(node):
            if node.args and _names(node.args[0]) & tenant:
                problems.append(f"{relative}:{node.lineno}: session.get on a tenant model")
            continue
        if not _is_statement(node):
            continue
        # The whole method chain: sa.select(...).where(...).join(...)...
        chain: ast.AST = node
        while True:
            parent = parents.get(chain)
            method = isinstance(parent, ast.Attribute) and parent.value is chain
            call = isinstance(parent, ast.Call) and parent.func is chain
            if parent is None or not (method or call):
                break
            chain = parent
        touched = _names(chain) & tenant
        if not touched:
            continue
        marked = False
        ancestor = parents.get(chain)
        while ancestor is not None:
            name = _called(ancestor)
            if (
                name == PARENT_MARKER
                or (name == CREDENTIAL_MARKER and credential_module)
                or (name == RUNNER_MARKER and runner_module)
            ):
                marked = True
                break
            ancestor = parents.get(ancestor)
        if not marked:
            problems.append(
                f"{relative}:{node.lineno}: {ast.unparse(node.func)}() on "
                f"{', '.join(sorted(touched))} without models.tenancy (tenant_select, "
                f"tenant_update, tenant_delete or {PARENT_MARKER})"
            )
    return problems


def test_every_statement_on_a_tenant_table_is_scoped() -> None:
    models = tenant_models()
    problems = []
    for path in source_files():
        relative = str(path.relative_to(SRC))
        if relative.startswith(EXEMPT):
            continue
        problems += lint(path.read_text(), relative, models)
    assert not problems, "\n".join(problems)


def test_the_tenant_tables_are_known() -> None:
    assert {"Contact", "ContactInbox", "ContactLabel", "Inbox", "Label"} <= tenant_models()
    assert {"CustomAttributeDefinition", "ApiKey", "AccountUser"} <= tenant_models()
    assert not {"Account", "User", "AccessToken", "LabelCounter"} & tenant_models()


# The lint itself catches what it is for.

UNSCOPED = [
    "sa.select(Contact).where(Contact.id == 1)",
    "sa.select(sa.func.count()).select_from(Contact)",
    "sa.update(ContactInbox).values(contact_id=2)",
    "sa.delete(ContactLabel).where(ContactLabel.contact_id == 1)",
    "sa.exists().where(ContactLabel.contact_id == Contact.id)",
    "select(Inbox.id)",
    "sa.select(ALIAS.label_id)",
    "sa.delete(TABLE)",
    "across_accounts(sa.select(ApiKey.key))",  # not in auth
]


@pytest.mark.parametrize("statement", UNSCOPED)
def test_an_unscoped_statement_is_reported(statement: str) -> None:
    source = (
        "ALIAS = aliased(ContactLabel)\n"
        "TABLE = cast(sa.Table, Contact.__table__)\n"
        f"async def f(session):\n    return await session.execute({statement})\n"
    )
    problems = lint(source, "contactdesk/x.py", tenant_models())
    assert problems == [problems[0]]
    assert problems[0].startswith("contactdesk/x.py:4: ")


@pytest.mark.parametrize(
    "statement",
    [
        "tenant_select(account_id, Contact).where(Contact.id == 1)",
        "keyed_by_parent(sa.select(ContactInbox.source_id).where(ContactInbox.contact_id == 1))",
        "keyed_by_parent(sa.select(Contact).join(Label)).limit(1)",
        "sa.select(User).where(User.email == 'a')",
        "sa.select(sa.func.count())",
    ],
)
def test_a_scoped_or_non_tenant_statement_passes(statement: str) -> None:
    source = f"async def f(session):\n    return await session.execute({statement})\n"
    assert lint(source, "contactdesk/x.py", tenant_models()) == []


def test_session_get_of_a_tenant_model_is_reported() -> None:
    source = "async def f(session):\n    return await session.get(Contact, 1)\n"
    assert lint(source, "contactdesk/x.py", tenant_models()) == [
        "contactdesk/x.py:2: session.get on a tenant model"
    ]
    assert lint(source.replace("Contact", "Account"), "contactdesk/x.py", tenant_models()) == []


def test_credential_lookups_are_allowed_in_auth_only() -> None:
    source = (
        "async def f(session):\n"
        "    return await session.execute(across_accounts(sa.select(ApiKey)))\n"
    )
    assert lint(source, "contactdesk/auth/dependencies.py", tenant_models()) == []
    assert lint(source, "contactdesk/contacts/service.py", tenant_models())
