"""contactdesk webhooks list|create|delete and deliveries (issue 11, item 6): JSON on stdout,
errors on stderr with a non-zero exit, nothing written on a refusal."""

from __future__ import annotations

import json
from typing import Any

from tests.cli.test_cli import Cli, created
from tests.support import Api, Tenant

KEYS = {"id", "url", "name", "subscriptions", "exclude_sources", "account_id", "status"}
PUBLIC = "https://93.184.216.34/hooks"


def printed(result: Any) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_create_list_deliveries_delete(cli: Cli, tenant: Tenant, other_tenant: Tenant) -> None:
    account = str(tenant.account_id)
    webhook = created(
        cli(
            "webhooks",
            "create",
            "--account",
            account,
            "--url",
            PUBLIC,
            "--events",
            "contact_created, contact_merged",
            "--name",
            "crm",
        ),
        KEYS | {"secret"},
    )
    assert webhook["secret"].startswith("whsec_")
    assert webhook["subscriptions"] == ["contact_created", "contact_merged"]
    listed = printed(cli("webhooks", "list", "--account", account))
    assert listed == {"webhooks": [{k: v for k, v in webhook.items() if k != "secret"}]}
    other = printed(cli("webhooks", "list", "--account", str(other_tenant.account_id)))
    assert other == {"webhooks": []}
    log = printed(cli("webhooks", "deliveries", str(webhook["id"])))
    assert log == {"webhook_id": webhook["id"], "count": 0, "deliveries": []}
    # another account's id does not reach it
    refused = cli(
        "webhooks", "delete", str(webhook["id"]), "--account", str(other_tenant.account_id)
    )
    assert refused.returncode != 0
    assert printed(cli("webhooks", "delete", str(webhook["id"]), "--account", account)) == {
        "deleted": webhook["id"]
    }
    assert printed(cli("webhooks", "list", "--account", account)) == {"webhooks": []}


def test_refusals_write_nothing(cli: Cli, tenant: Tenant, api: Api) -> None:
    account = str(tenant.account_id)
    for args in (
        ["--url", "http://127.0.0.1:9000/", "--events", "contact_created"],
        ["--url", "ftp://93.184.216.34/", "--events", "contact_created"],
        ["--url", PUBLIC, "--events", "message_created"],
    ):
        result = cli("webhooks", "create", "--account", account, *args)
        assert result.returncode != 0
        assert result.stdout == ""
        assert result.stderr.startswith("error: ")
    assert printed(cli("webhooks", "list", "--account", account)) == {"webhooks": []}
    missing = cli("webhooks", "deliveries", str(2**40))
    assert missing.returncode != 0
    assert "no webhook" in missing.stderr
