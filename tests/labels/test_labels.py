"""Contract §3, the labels row: GET/POST /contacts/{id}/labels, both dialects."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import Api

JSON_HEADERS = {"Content-Type": "application/json"}
NOT_FOUND = {"error": "Resource could not be found"}
BAD_CONTACT_IDS = ["0", "-1", "abc", "1.5", "999999999999", "9223372036854775808"]


async def get_labels(api: Api, contact_id: int | str) -> httpx.Response:
    return await api.get(f"/contacts/{contact_id}/labels")


async def set_labels(api: Api, contact_id: int | str, body: Any) -> httpx.Response:
    return await api.post(f"/contacts/{contact_id}/labels", json=body)


async def labels_of(api: Api, contact_id: int) -> list[str]:
    response = await get_labels(api, contact_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"payload"}
    labels: list[str] = body["payload"]
    return labels


async def replace(api: Api, contact_id: int, labels: list[str]) -> list[str]:
    response = await set_labels(api, contact_id, {"labels": labels})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"payload"}
    result: list[str] = body["payload"]
    assert await labels_of(api, contact_id) == result
    return result


def assert_labels_problem(response: httpx.Response) -> str:
    """A body-field 422 naming labels; returns the message."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"message", "attributes"}, body
    assert body["attributes"] == ["labels"]
    message: str = body["message"]
    assert message
    return message


async def test_new_contact_has_no_labels(api: Api) -> None:
    contact = await api.create_contact(name="Ann")
    response = await get_labels(api, contact["id"])
    assert response.status_code == 200
    assert response.json() == {"payload": []}


async def test_post_replaces_the_set(api: Api) -> None:
    contact = await api.create_contact(name="Ann")
    assert await replace(api, contact["id"], ["vip", "lead"]) == ["lead", "vip"]
    assert await replace(api, contact["id"], ["churned"]) == ["churned"]
    assert await replace(api, contact["id"], ["lead", "churned", "vip"]) == [
        "churned",
        "lead",
        "vip",
    ]


async def test_empty_list_clears(api: Api) -> None:
    contact = await api.create_contact(name="Ann")
    await replace(api, contact["id"], ["vip", "lead"])
    assert await replace(api, contact["id"], []) == []
    assert await labels_of(api, contact["id"]) == []


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (["beta", "Alpha", "gamma", "Delta"], ["Alpha", "beta", "Delta", "gamma"]),
        (["b", "A", "a2", "B1"], ["A", "a2", "b", "B1"]),
        (["Zed", "apple", "Mango"], ["apple", "Mango", "Zed"]),
    ],
)
async def test_returned_sorted_case_insensitively(
    api: Api, sent: list[str], expected: list[str]
) -> None:
    contact = await api.create_contact(name="Ann")
    assert await replace(api, contact["id"], sent) == expected


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (["  vip  "], ["vip"]),
        (["\tlead\n", "vip "], ["lead", "vip"]),
        (["  two words  "], ["two words"]),
        (["  " + "x" * 255 + "  "], ["x" * 255]),
    ],
)
async def test_labels_are_trimmed(api: Api, sent: list[str], expected: list[str]) -> None:
    contact = await api.create_contact(name="Ann")
    assert await replace(api, contact["id"], sent) == expected


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (["VIP", "vip", "Vip"], ["VIP"]),
        (["vip", "VIP"], ["vip"]),
        (["Lead", "vip", " lead ", "VIP"], ["Lead", "vip"]),
    ],
)
async def test_unique_ignoring_case_keeping_first_spelling(
    api: Api, sent: list[str], expected: list[str]
) -> None:
    contact = await api.create_contact(name="Ann")
    assert await replace(api, contact["id"], sent) == expected


async def test_spelling_is_per_contact(api: Api) -> None:
    first = await api.create_contact(name="Ann")
    second = await api.create_contact(name="Bob")
    assert await replace(api, first["id"], ["VIP"]) == ["VIP"]
    assert await replace(api, second["id"], ["vip"]) == ["vip"]
    assert await labels_of(api, first["id"]) == ["VIP"]
    # Replacing one contact's labels leaves the other's alone.
    assert await replace(api, second["id"], []) == []
    assert await labels_of(api, first["id"]) == ["VIP"]


async def test_label_lengths_one_to_255_are_accepted(api: Api) -> None:
    contact = await api.create_contact(name="Ann")
    assert await replace(api, contact["id"], ["x", "y" * 255, "名" * 255]) == [
        "x",
        "y" * 255,
        "名" * 255,
    ]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"label": ["vip"]},
        {"labels": None},
        {"labels": "vip"},
        {"labels": "vip,lead"},
        {"labels": {"vip": True}},
        {"labels": 1},
        {"labels": True},
    ],
)
async def test_missing_or_non_list_labels_is_422(api: Api, body: dict[str, Any]) -> None:
    contact = await api.create_contact(name="Ann")
    await replace(api, contact["id"], ["keep"])
    message = assert_labels_problem(await set_labels(api, contact["id"], body))
    assert message == "Labels is invalid"
    assert await labels_of(api, contact["id"]) == ["keep"]


@pytest.mark.parametrize(
    "labels",
    [
        [""],
        ["   "],
        ["\t\n"],
        ["z" * 256],
        ["  " + "z" * 256 + "  "],
        ["名" * 256],
        ["a,b"],
        [","],
        ["vip", "a,b"],
        ["vip", ""],
        [1],
        [None],
        [["vip"]],
        [{"name": "vip"}],
        ["vip", True],
    ],
)
async def test_invalid_label_is_422_and_changes_nothing(api: Api, labels: list[Any]) -> None:
    contact = await api.create_contact(name="Ann")
    await replace(api, contact["id"], ["keep"])
    assert_labels_problem(await set_labels(api, contact["id"], {"labels": labels}))
    assert await labels_of(api, contact["id"]) == ["keep"]


@pytest.mark.parametrize("raw", [b"[]", b'["vip"]', b'"vip"', b"1", b"null"])
async def test_body_that_is_not_an_object_is_422(api: Api, raw: bytes) -> None:
    contact = await api.create_contact(name="Ann")
    response = await api.post(
        f"/contacts/{contact['id']}/labels", content=raw, headers=JSON_HEADERS
    )
    assert response.status_code == 422
    assert response.json() == {"error": "Request body must be a JSON object"}


async def test_malformed_json_is_400(api: Api) -> None:
    contact = await api.create_contact(name="Ann")
    response = await api.post(
        f"/contacts/{contact['id']}/labels", content=b'{"labels": ["vip",]}', headers=JSON_HEADERS
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"].startswith("Malformed JSON body: ")
    assert "line 1" in body["error"]
    assert "column 19" in body["error"]


@pytest.mark.parametrize("contact_id", BAD_CONTACT_IDS)
async def test_unknown_contact_is_404(api: Api, contact_id: str) -> None:
    for response in (
        await get_labels(api, contact_id),
        await set_labels(api, contact_id, {"labels": ["vip"]}),
        await set_labels(api, contact_id, {"labels": "not a list"}),
    ):
        assert response.status_code == 404
        assert response.json() == NOT_FOUND


async def test_deleted_contact_is_404(api: Api) -> None:
    contact = await api.create_contact(name="Ann")
    await replace(api, contact["id"], ["vip"])
    assert (await api.delete(f"/contacts/{contact['id']}")).status_code == 200
    assert (await get_labels(api, contact["id"])).json() == NOT_FOUND
    response = await set_labels(api, contact["id"], {"labels": ["vip"]})
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


async def test_contact_of_another_account_is_404(api: Api, other_api: Api) -> None:
    theirs = await other_api.create_contact(name="Theirs")
    await replace(other_api, theirs["id"], ["secret"])
    response = await get_labels(api, theirs["id"])
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    bodies: list[dict[str, Any]] = [{"labels": ["mine"]}, {"labels": []}, {"labels": "bad"}]
    for body in bodies:
        response = await set_labels(api, theirs["id"], body)
        assert response.status_code == 404
        assert response.json() == NOT_FOUND
    assert await labels_of(other_api, theirs["id"]) == ["secret"]
