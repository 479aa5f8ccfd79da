"""A server and its import worker killed with SIGKILL in the middle of an import (issue 12,
items 3 and 8): what it committed is whole, the counts match what the database holds, and
the import is resumed from its last committed batch by the next runner, to the end state of
an import never stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from tests.actions.imports import csv_text
from tests.app.test_server import CLI, cli_env, free_port, stop_process
from tests.support import Tenant, basic
from tests.webhooks.test_dispatcher_crash import healthy

ROWS = 4000


def start(database_url: str, log: Path, port: int) -> Any:
    import subprocess

    env = {
        **cli_env(database_url),
        "CONTACTDESK_IMPORTER": "true",
        "CONTACTDESK_IMPORT_BATCH_ROWS": "100",
        "CONTACTDESK_IMPORT_LEASE_SECONDS": "1",
    }
    command = [str(CLI), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def the_file() -> tuple[str, int, int, int]:
    """(CSV, distinct valid contacts, invalid rows, contacts labelled again): every 50th row
    invalid, every 40th one names the email of the row 20 before, with another label."""
    rows = [["name", "email", "labels"]]
    invalid = 0
    emails: set[str] = set()
    again: set[str] = set()
    for n in range(ROWS):
        if n % 50 == 49:
            rows.append([f"Bad {n}", f"bad-{n}", ""])
            invalid += 1
        elif n % 40 == 39:
            email = f"c{n - 20}@example.com"
            rows.append([f"Again {n}", email, "again"])
            emails.add(email)
            again.add(email)
        else:
            email = f"c{n}@example.com"
            rows.append([f"Contact {n}", email, "batch"])
            emails.add(email)
    return csv_text(rows), len(emails), invalid, len(again)


async def test_a_killed_import_resumes_to_the_same_end(
    database_url: str, tenant: Tenant, tmp_path: Path
) -> None:
    text, contacts, invalid, labelled = the_file()
    log = tmp_path / "server.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    prefix = f"{base}/api/v2/accounts"
    headers = basic(tenant.key, tenant.secret)
    process = start(database_url, log, port)
    try:
        await healthy(base, process, log)
        async with httpx.AsyncClient(headers=headers, timeout=30) as client:
            response = await client.post(
                f"{prefix}/contacts/import", files={"import_file": ("big.csv", text.encode())}
            )
            assert response.status_code == 200, response.text
            import_id = response.json()["payload"]["import_id"]
            deadline = time.monotonic() + 60
            while True:
                found = (await client.get(f"{prefix}/contacts/imports/{import_id}")).json()
                if found["payload"]["import"]["rows_read"] >= 300:
                    break
                assert time.monotonic() < deadline, found
                await asyncio.sleep(0.01)
            children = await asyncio.to_thread(
                Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text
            )
            for child in children.split():  # the import worker first, then the server
                os.kill(int(child), signal.SIGKILL)
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)
            # Whole batches only, and counts that are what the database holds.
            async with tenant.db.reader() as session:
                from sqlalchemy import text as sql

                state = (
                    await session.execute(
                        sql(
                            "SELECT status, rows_done, created, updated, unchanged, failed"
                            " FROM contact_imports WHERE id = :id"
                        ),
                        {"id": import_id},
                    )
                ).one()
                held = (
                    await session.execute(
                        sql("SELECT count(*) FROM contacts WHERE account_id = :a"),
                        {"a": tenant.account_id},
                    )
                ).scalar_one()
            assert state.status == "running"  # killed in the middle
            assert state.rows_done % 100 == 0
            assert state.rows_done < ROWS
            assert state.created == held
            assert state.created + state.updated + state.unchanged + state.failed == (
                state.rows_done
            )
        process = start(database_url, log, port)
        await healthy(base, process, log)
        async with httpx.AsyncClient(headers=headers, timeout=30) as client:
            deadline = time.monotonic() + 120
            while True:
                summary = (await client.get(f"{prefix}/contacts/imports/{import_id}")).json()
                summary = summary["payload"]["import"]
                if summary["status"] != "running" and summary["status"] != "queued":
                    break
                assert time.monotonic() < deadline, summary
                await asyncio.sleep(0.1)
            assert summary["status"] == "completed", summary
            assert summary["rows_read"] == ROWS
            assert summary["created"] == contacts
            assert summary["failed"] == invalid
            assert summary["created"] + summary["updated"] + summary["unchanged"] + invalid == ROWS
            listed = await client.get(f"{prefix}/contacts", params={"page_size": "1"})
            assert listed.json()["meta"]["count"] == contacts
            again = await client.get(
                f"{prefix}/contacts", params={"labels": "again", "page_size": "1"}
            )
            assert again.json()["meta"]["count"] == labelled
    finally:
        stop_process(process)
