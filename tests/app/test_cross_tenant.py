"""Cross-tenant fuzz (issue 13, item 7): for every operation of the OpenAPI document (so a new
route is covered without a change here), account A's administrator tries account B's ids in
the path, the query, the body and filter values. Every attempt answers 4xx or a result with
nothing of B's in it, none answers 5xx, and afterwards B's data is as it was.

In v1 A's token is also tried with B's account id in the path: every operation refuses it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from tests.support import Api

ALLOWED = {200, 400, 401, 403, 404, 405, 409, 413, 422}


class Victim:
    """B's objects, each with a marker that must never show in A's answers."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.tag = uuid.uuid4().hex[:10]
        self.ids: dict[str, Any] = {}
        self.markers: list[str] = []

    async def make(self) -> None:
        api, tag = self.api, self.tag
        contact = await api.create_contact(
            name=f"Zed {tag}",
            email=f"zed-{tag}@b.example",
            identifier=f"zed-id-{tag}",
            phone_number=f"+1555{int(tag[:6], 16) % 10_000_000:07d}",
            custom_attributes={f"bkey_{tag}": f"secret-{tag}"},
        )
        self.contact = contact
        labels = await api.post(f"/contacts/{contact['id']}/labels", json={"labels": [f"bl-{tag}"]})
        assert labels.status_code == 200, labels.text
        definition = await api.post(
            "/custom_attribute_definitions",
            json={"attribute_display_name": f"B {tag}", "attribute_key": f"bdef_{tag}"},
        )
        assert definition.status_code == 200, definition.text
        webhook = await api.post(
            "/webhooks",
            json={
                "url": f"https://93.184.216.34/hooks/{tag}",
                "subscriptions": ["contact_created"],
            },
        )
        assert webhook.status_code == 200, webhook.text
        csv = f"name,email\nImported {tag},imp-{tag}@b.example\n"
        imported = await api.post(
            "/contacts/import", files={"import_file": ("b.csv", csv.encode(), "text/csv")}
        )
        assert imported.status_code == 200, imported.text
        import_id = imported.json()["payload"]["import_id"]
        for _ in range(200):  # B's own import runs in the background: let it end first
            shown = (await api.get(f"/contacts/imports/{import_id}")).json()["payload"]
            if (shown.get("import") or shown).get("status") in ("completed", "failed"):
                break
            await asyncio.sleep(0.05)
        self.ids = {
            "contact_id": contact["id"],
            "definition_id": definition.json()["id"],
            "webhook_id": webhook.json()["payload"]["webhook"]["id"]
            if "payload" in webhook.json()
            else webhook.json()["id"],
            "import_id": imported.json()["payload"]["import_id"],
            "delivery_id": 1,
            "inbox_id": api.tenant.inbox_id,
            "label": f"bl-{tag}",
        }
        # Values only B's objects hold: A's requests send B's emails, identifiers, labels and
        # keys (and may create objects of A's own with them), never these.
        self.markers = [
            f"Zed {tag}",
            f"secret-{tag}",
            f"B {tag}",
            f"/hooks/{tag}",
            f"imp-{tag}",
        ]

    async def snapshot(self) -> dict[str, Any]:
        """What B sees of its own data (compared before and after)."""
        api, contact_id = self.api, self.ids["contact_id"]
        parts: dict[str, Any] = {}
        for name, path in (
            ("contact", f"/contacts/{contact_id}"),
            ("labels", f"/contacts/{contact_id}/labels"),
            ("definitions", "/custom_attribute_definitions"),
            ("webhooks", "/webhooks"),
            ("webhook", f"/webhooks/{self.ids['webhook_id']}"),
            ("contacts", "/contacts"),
        ):
            response = await api.get(path)
            assert response.status_code == 200, (path, response.text)
            parts[name] = _stable(response.json())
        imported = await api.get(f"/contacts/imports/{self.ids['import_id']}")
        assert imported.status_code == 200
        payload = imported.json()["payload"]
        parts["import_cancelled"] = (payload.get("import") or payload).get("status") == "cancelled"
        return parts


def _stable(value: Any) -> Any:
    """The answer without what changes by itself (timestamps of activity)."""
    text = json.dumps(value, sort_keys=True)
    return json.loads(text)


def _fill_path(path: str, ids: dict[str, Any], account_id: int) -> str:
    out = path
    for name, value in {**ids, "account_id": account_id}.items():
        out = out.replace("{" + name + "}", str(value))
    assert "{" not in out, f"a path parameter this test does not know: {path}"
    return out


def _query(operation: dict[str, Any], victim: Victim) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for parameter in operation.get("parameters", []):
        if parameter["in"] != "query":
            continue
        name = parameter["name"]
        if name in ("labels", "labels[]"):
            params[name] = victim.ids["label"]
        elif name == "q":
            params[name] = f"zed-{victim.tag}"
        elif name.endswith("_id") and name in victim.ids:
            params[name] = victim.ids[name]
    return params


def _body(victim: Victim) -> dict[str, Any]:
    """Every id and value of B's a body of any operation might name."""
    ids, tag = victim.ids, victim.tag
    email = f"zed-{tag}@b.example"
    condition = {"attribute_key": "email", "filter_operator": "equal_to", "values": [email]}
    return {
        "inbox_id": ids["inbox_id"],
        "contact_id": ids["contact_id"],
        "ids": [ids["contact_id"]],
        "base_contact_id": ids["contact_id"],
        "mergee_contact_id": ids["contact_id"],
        "type": "Contact",
        "labels": [ids["label"]],
        "custom_attributes": [f"bkey_{tag}"],
        "identifier": f"zed-id-{tag}",
        "payload": [condition],
        "attribute_key": f"bdef_{tag}",
        "attribute_display_name": "A's own",
        "url": f"https://93.184.216.34/a-hooks/{tag}",
        "subscriptions": ["contact_created"],
        "source_id": f"src-{tag}",
    }


def _bodies(path: str, victim: Victim, own_contact: int) -> list[dict[str, Any]]:
    """The bodies tried on an operation: for the ones whose body must be well formed to reach
    the ids, that shape; for any other (a new route too) the body of every id (_body)."""
    b = victim.ids["contact_id"]
    if path.endswith("/actions/contact_merge"):
        return [
            {"base_contact_id": own_contact, "mergee_contact_id": b},
            {"base_contact_id": b, "mergee_contact_id": own_contact},
        ]
    if path.endswith("/bulk_actions"):
        return [
            {"type": "Contact", "ids": [b], "action_name": "delete"},
            {"type": "Contact", "ids": [b], "labels": {"add": ["a-label"], "remove": ["bl"]}},
        ]
    if path.endswith("/contacts") or path.endswith("/contacts/upsert"):
        return [
            {"inbox_id": victim.ids["inbox_id"], "name": "A contact"},
            {"identifier": f"zed-id-{victim.tag}", "name": "A upsert"},
        ]
    return [_body(victim)]


async def _attempts(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    operation: dict[str, Any],
    headers: dict[str, str],
    victim: Victim,
    own_contact: int,
) -> list[httpx.Response]:
    kwargs: dict[str, Any] = {"params": _query(operation, victim), "headers": headers}
    content = operation.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in content:
        tag = victim.tag
        csv = f"name,email,identifier\nA {tag},zed-{tag}@b.example,zed-id-{tag}\n"
        kwargs["files"] = {"import_file": ("a.csv", csv.encode(), "text/csv")}
    elif content:
        return [
            await client.request(method.upper(), path, json=body, **kwargs)
            for body in _bodies(path, victim, own_contact)
        ]
    return [await client.request(method.upper(), path, **kwargs)]


def _operations(app: FastAPI, prefix: str) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, operations in app.openapi()["paths"].items():
        if not path.startswith(prefix):
            continue
        for method, operation in operations.items():
            if method in ("get", "post", "put", "patch", "delete"):
                found.append((method, path, operation))
    assert len(found) > 30
    return found


async def test_another_accounts_ids_everywhere(
    app: FastAPI, client: httpx.AsyncClient, dialect: str, api: Api, other_api: Api
) -> None:
    victim = Victim(other_api)
    await victim.make()
    before = await victim.snapshot()
    own = (await api.create_contact(name="A's own"))["id"]
    prefix = "/api/v2/accounts" if dialect == "v2" else "/api/v1/accounts/{account_id}"
    problems = []
    for method, template, operation in _operations(app, prefix):
        # A's own account in the path (v1), B's ids everywhere else.
        path = _fill_path(template, victim.ids, api.tenant.account_id)
        where = f"{method.upper()} {template}"
        for response in await _attempts(client, method, path, operation, api.headers, victim, own):
            if response.status_code not in ALLOWED:
                problems.append(f"{where}: {response.status_code} {response.text[:200]}")
                continue
            for marker in victim.markers:
                if marker in response.text:
                    problems.append(f"{where}: B's {marker!r} in an answer {response.status_code}")
        if dialect == "v1":
            # B's account id in the path with A's token: refused, whatever the operation.
            foreign = _fill_path(template, victim.ids, victim.api.tenant.account_id)
            for refused in await _attempts(
                client, method, foreign, operation, api.headers, victim, own
            ):
                if refused.status_code != 401:
                    problems.append(f"{where} in B's account: {refused.status_code}")
    assert not problems, "\n".join(problems)
    assert await victim.snapshot() == before
