"""contactdesk contacts import|export (issue 12, item 5): the API's code, progress on stderr,
the summary (or the CSV) on stdout, refusals on stderr with a non-zero exit."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path
from typing import Any

from tests.actions.imports import all_contacts, csv_text, export_rows
from tests.cli.test_cli import Cli, assert_refused
from tests.support import Api

ROWS = [
    ["name", "email", "labels", "custom_attributes.tier"],
    ["Ann", "ann@example.com", "a;b", "1"],
    ["Bad", "not-an-email", "", ""],
    ["Bob", "bob@example.com", "", "gold"],
    ["Ann again", "ANN@example.com", "", ""],
]


def summary(result: Any) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


async def test_dry_run_then_import_then_export(cli: Cli, api: Api, tmp_path: Path) -> None:
    if api.dialect != "v2":
        return  # the CLI has no dialect: once is enough

    async def run(*args: str) -> Any:
        # In a thread: the app's import runner shares this test's event loop, and on SQLite
        # a blocked loop could hold the write lock the command waits for.
        return await asyncio.to_thread(cli, *args)

    account = str(api.tenant.account_id)
    path = tmp_path / "contacts.csv"
    path.write_text(csv_text(ROWS))
    dry = await run("contacts", "import", str(path), "--account", account, "--dry-run")
    found = summary(dry)
    assert found["dry_run"] is True
    assert (found["created"], found["updated"], found["failed"]) == (2, 1, 1)
    assert found["duplicates_in_file"] == 1
    assert found["errors"] == [{"line": 3, "error": "Email is invalid"}]
    assert "rows/s" in dry.stderr
    assert await all_contacts(api) == []  # nothing written

    done = summary(await run("contacts", "import", str(path), "--account", account))
    assert done["status"] == "completed"
    assert (done["created"], done["updated"], done["unchanged"], done["failed"]) == (2, 1, 0, 1)
    contacts = await all_contacts(api)
    assert sorted(c["name"] for c in contacts) == ["Ann again", "Bob"]
    listed = await api.get("/contacts/imports")
    assert [i["id"] for i in listed.json()["payload"]["imports"]] == [done["id"]]

    exported = await run("contacts", "export", "--account", account, "--sort", "name")
    assert exported.returncode == 0, exported.stderr
    assert "exporting" in exported.stderr
    printed = list(csv.reader(io.StringIO(exported.stdout.lstrip("\ufeff"))))
    assert printed == await export_rows(api, {"sort": "name"})
    labelled = await run("contacts", "export", "--account", account, "--labels", "a")
    assert len(labelled.stdout.strip().splitlines()) == 2


def test_refusals(cli: Cli, tmp_path: Path, tenant: Any) -> None:
    account = str(tenant.account_id)
    assert_refused(cli("contacts", "import", str(tmp_path / "missing.csv"), "--account", account))
    bad = tmp_path / "bad.csv"
    bad.write_text("colour\nred\n")
    assert_refused(cli("contacts", "import", str(bad), "--account", account), "No column")
    good = tmp_path / "good.csv"
    good.write_text("email\na@example.com\n")
    assert_refused(cli("contacts", "import", str(good), "--account", "999999"), "no account")
    assert_refused(cli("contacts", "export", "--account", account, "--sort", "nope"), "sort")
    assert_refused(cli("contacts", "export", "--account", "999999"), "no account")
