"""Helpers for the import and export tests: upload a CSV, wait for its import to end."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from typing import Any

from tests.support import Api

FINAL = ("completed", "failed", "cancelled")


def csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return out.getvalue()


async def upload(
    api: Api, content: bytes | str, filename: str = "contacts.csv", field: str = "import_file"
) -> Any:
    data = content.encode() if isinstance(content, str) else content
    return await api.post("/contacts/import", files={field: (filename, data, "text/csv")})


async def wait_import(api: Api, import_id: int, seconds: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        response = await api.get(f"/contacts/imports/{import_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()["payload"]["import"]
        if found["status"] in FINAL:
            return found
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.05)


async def import_csv(api: Api, content: bytes | str) -> dict[str, Any]:
    """Upload, which must be accepted, and wait for the end: the import's summary."""
    response = await upload(api, content)
    assert response.status_code == 200, response.text
    payload = response.json()["payload"]
    assert payload["status"] == "queued"
    summary = await wait_import(api, payload["import_id"])
    assert summary["status"] == "completed", summary
    counted = summary["created"] + summary["updated"] + summary["unchanged"] + summary["failed"]
    assert counted == summary["rows_read"] == summary["total_rows"], summary
    return summary


async def error_rows(api: Api, import_id: int) -> list[list[str]]:
    response = await api.get(f"/contacts/imports/{import_id}/errors.csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.text)))


async def export_rows(api: Api, params: dict[str, str] | None = None) -> list[list[str]]:
    response = await api.get("/contacts/export.csv", params=params or {})
    assert response.status_code == 200, response.text
    text = response.content.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


async def all_contacts(api: Api) -> list[dict[str, Any]]:
    """Every contact of the account, by the list's cursor."""
    found: list[dict[str, Any]] = []
    params = {"page_size": "100", "sort": "created_at", "include_contact_inboxes": "false"}
    while True:
        response = await api.get("/contacts", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        found += body["payload"]
        cursor = body["meta"]["next_cursor"]
        if cursor is None:
            return found
        params = {**params, "after": cursor}
        params.pop("page", None)
