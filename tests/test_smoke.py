from __future__ import annotations

from tests.support import Api


async def test_create_then_show(api: Api) -> None:
    contact = await api.create_contact(name="Alice", email="Alice@Acme.inc")
    response = await api.get(f"/contacts/{contact['id']}")
    assert response.status_code == 200
    assert response.json()["payload"]["email"] == "alice@acme.inc"


async def test_other_account_cannot_see(api: Api, other_api: Api) -> None:
    contact = await api.create_contact(name="Alice")
    response = await other_api.get(f"/contacts/{contact['id']}")
    assert response.status_code == 404
    assert response.json() == {"error": "Resource could not be found"}
