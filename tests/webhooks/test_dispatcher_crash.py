"""A server killed with SIGKILL while deliveries are pending or in flight delivers every
event after it is started again (issue 11, items 3 and 8): at least once, each event's
webhook-id the same on every attempt."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.app.test_server import CLI, STARTUP_TIMEOUT, cli_env, free_port, stop_process
from tests.support import Tenant, basic
from tests.webhooks.receiver import Receiver

EVENTS = 12


def text_of(log: Path) -> str:
    return log.read_text(errors="replace")


def start(database_url: str, log: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **cli_env(database_url),
        "CONTACTDESK_DISPATCHER": "true",
        "CONTACTDESK_WEBHOOKS_ALLOW_PRIVATE": "true",
        "CONTACTDESK_WEBHOOK_TIMEOUT_SECONDS": "1",
        "CONTACTDESK_WEBHOOK_RETRY_SCHEDULE": "0.2,0.2,0.2,0.2",
        "CONTACTDESK_DISPATCHER_POLL_SECONDS": "0.1",
    }
    command = [str(CLI), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


async def healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"the server exited:\n{text_of(log)}")
            try:
                if (await client.get(f"{base}/healthz", timeout=2)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    pytest.fail(f"the server did not start:\n{text_of(log)}")


async def test_a_killed_server_delivers_its_pending_events_after_a_restart(
    database_url: str, tenant: Tenant, tmp_path: Path
) -> None:
    receiver = Receiver(delay=0.4, statuses=[500] * 3)
    await receiver.start()
    log = tmp_path / "serve.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/v2/accounts"
    auth = basic(tenant.key, tenant.secret)
    process = start(database_url, log, port)
    try:
        await healthy(f"http://127.0.0.1:{port}", process, log)
        async with httpx.AsyncClient(headers=auth, timeout=10) as client:
            response = await client.post(
                f"{base}/webhooks",
                json={"url": receiver.url, "subscriptions": ["contact_created"]},
            )
            assert response.status_code == 200, response.text
            for n in range(EVENTS):
                response = await client.post(
                    f"{base}/contacts", json={"inbox_id": tenant.inbox_id, "name": f"K{n}"}
                )
                assert response.status_code == 200, response.text
        await receiver.until(1, within=20)
        os.kill(process.pid, signal.SIGKILL)  # mid-flight: some sent, some claimed, some waiting
        process.wait(timeout=10)
        process = start(database_url, log, port)
        await healthy(f"http://127.0.0.1:{port}", process, log)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            delivered = {
                r.headers["webhook-id"]
                for r in receiver.received
                if r.json()["name"].startswith("K")
            }
            if len(delivered) == EVENTS:
                break
            await asyncio.sleep(0.2)
    finally:
        stop_process(process)
        await receiver.stop()
    names = {r.json()["name"] for r in receiver.received}
    assert names >= {f"K{n}" for n in range(EVENTS)}, text_of(log)
    assert len(delivered) == EVENTS
