"""POST /contacts/import and its reports: the rules of issue 12, items 1-3 and 6."""

from __future__ import annotations

import dataclasses

import pytest

from contactdesk import limits as limits_module
from tests.actions.imports import (
    all_contacts,
    csv_text,
    error_rows,
    import_csv,
    upload,
    wait_import,
)
from tests.support import Api, agent_api, contact_labels, show

HEADER = ["name", "email", "phone_number", "identifier", "company", "city", "labels"]


async def test_import_creates_contacts_with_every_column(api: Api) -> None:
    rows = [
        [
            "Name",
            "First Name",
            "last_name",
            "E-mail",
            "Phone Number",
            "IDENTIFIER",
            "Company",
            "city",
            "Country",
            "country_code",
            "labels",
            "blocked",
            "custom_attributes.plan",
            "Favourite colour",
        ],
        [
            "Ada Lovelace",
            "Ada",
            "Lovelace",
            "ADA@example.com",
            "+14155550100",
            "crm-1",
            "Analytical",
            "London",
            "United Kingdom",
            "GB",
            "vip;newsletter",
            "true",
            "gold",
            "blue",
        ],
    ]
    summary = await import_csv(api, csv_text(rows))
    assert summary["created"] == 1
    assert summary["failed"] == 0
    assert summary["unknown_columns"] == ["E-mail", "Favourite colour"]
    [contact] = await all_contacts(api)
    shown = await show(api, contact["id"])
    assert shown["name"] == "Ada Lovelace"
    assert shown["first_name"] == "Ada"
    assert shown["last_name"] == "Lovelace"
    assert shown["email"] is None  # "E-mail" is not a column
    assert shown["phone_number"] == "+14155550100"
    assert shown["identifier"] == "crm-1"
    assert shown["blocked"] is True
    assert shown["additional_attributes"] == {
        "company_name": "Analytical",
        "city": "London",
        "country": "United Kingdom",
        "country_code": "GB",
    }
    assert shown["custom_attributes"] == {"plan": "gold"}
    assert await contact_labels(api, contact["id"]) == ["newsletter", "vip"]


async def test_semicolons_crlf_bom_and_quoted_fields(api: Api) -> None:
    text = (
        '\ufeffname;email;labels\r\n"Doe; Jane";jane@example.com;"a,b"\r\n'
        '"Multi\nLine";m@example.com;c\r\n'
    )
    summary = await import_csv(api, text.encode("utf-8"))
    assert summary["created"] == 2
    names = sorted(c["name"] for c in await all_contacts(api))
    assert names == ["Doe; Jane", "Multi\nLine"]


async def test_rows_upsert_by_identifier_then_email_then_phone(api: Api) -> None:
    by_id = await api.create_contact(name="Old", identifier="crm-7", email="keep@example.com")
    by_email = await api.create_contact(name="Mail", email="mail@example.com")
    by_phone = await api.create_contact(name="Phone", phone_number="+14155550111")
    rows = [
        ["identifier", "email", "phone_number", "name"],
        ["crm-7", "", "", "New name"],
        ["", "MAIL@example.com", "", "Mail 2"],
        ["", "", "+14155550111", "Phone 2"],
        ["crm-8", "fresh@example.com", "", "Fresh"],
    ]
    summary = await import_csv(api, csv_text(rows))
    assert (summary["created"], summary["updated"], summary["unchanged"]) == (1, 3, 0)
    assert (await show(api, by_id["id"]))["name"] == "New name"
    assert (await show(api, by_id["id"]))["email"] == "keep@example.com"  # empty cell: kept
    assert (await show(api, by_email["id"]))["name"] == "Mail 2"
    assert (await show(api, by_phone["id"]))["name"] == "Phone 2"
    assert len(await all_contacts(api)) == 4


async def test_duplicates_inside_a_file_update_the_earlier_row(api: Api) -> None:
    rows = [
        ["email", "name", "phone_number"],
        ["dup@example.com", "First", ""],
        ["other@example.com", "Other", ""],
        ["DUP@example.com", "Second", "+14155550122"],
        ["", "Third", "+14155550122"],
    ]
    summary = await import_csv(api, csv_text(rows))
    assert summary["created"] == 2
    assert summary["updated"] == 2
    assert summary["duplicates_in_file"] == 2
    contacts = await all_contacts(api)
    assert len(contacts) == 2
    dup = next(c for c in contacts if c["email"] == "dup@example.com")
    assert dup["name"] == "Third"
    assert dup["phone_number"] == "+14155550122"


async def test_bad_rows_fail_alone_with_their_reason(api: Api) -> None:
    await api.create_contact(name="A", email="a@example.com")
    await api.create_contact(name="B", identifier="crm-b")
    rows = [
        ["name", "email", "phone_number", "identifier", "blocked"],
        ["Good", "good@example.com", "", "", ""],
        ["Bad mail", "not-an-email", "", "", ""],
        ["Bad phone", "", "555", "", ""],
        ["Bad flag", "", "", "", "maybe"],
        ["Two", "a@example.com", "", "crm-b", ""],
        ["", "", "", "", ""],
        ["x" * 300, "", "", "", ""],
    ]
    summary = await import_csv(api, csv_text(rows))
    assert summary["created"] == 1
    assert summary["failed"] == 6
    errors = await error_rows(api, summary["id"])
    assert errors[0] == ["line", "error", "name", "email", "phone_number", "identifier", "blocked"]
    by_line = {int(r[0]): r for r in errors[1:]}
    assert sorted(by_line) == [3, 4, 5, 6, 7, 8]
    assert by_line[3][1] == "Email is invalid"
    assert by_line[3][2:] == rows[2]  # the row as it was sent
    assert "e164" in by_line[4][1]
    assert by_line[5][1] == "Blocked is invalid"
    assert "identify different contacts" in by_line[6][1]
    assert by_line[7][1] == "The row has no values"
    assert "too long" in by_line[8][1]
    assert len(await all_contacts(api)) == 3


async def test_typed_custom_attributes_are_checked(api: Api) -> None:
    for key, kind, extra in (
        ("seats", "number", {}),
        ("plan", "list", {"attribute_values": ["gold", "silver"]}),
        ("vip", "checkbox", {}),
    ):
        body = {
            "attribute_key": key,
            "attribute_display_name": key,
            "attribute_display_type": kind,
            "attribute_model": "contact_attribute",
            **extra,
        }
        response = await api.post("/custom_attribute_definitions", json=body)
        assert response.status_code == 200, response.text
    rows = [
        [
            "email",
            "custom_attributes.seats",
            "custom_attributes.plan",
            "custom_attributes.vip",
            "custom_attributes.free",
        ],
        ["ok@example.com", "12", "gold", "true", "00123"],
        ["bad@example.com", "lots", "gold", "", ""],
        ["bad2@example.com", "", "bronze", "", ""],
    ]
    summary = await import_csv(api, csv_text(rows))
    assert (summary["created"], summary["failed"]) == (1, 2)
    [contact] = await all_contacts(api)
    assert contact["custom_attributes"] == {
        "seats": 12,
        "plan": "gold",
        "vip": True,
        "free": "00123",
    }
    errors = await error_rows(api, summary["id"])
    assert "seats" in errors[1][1]
    assert "plan" in errors[2][1]


async def test_the_same_file_again_changes_nothing(api: Api) -> None:
    rows = [
        HEADER,
        ["Ann", "ann@example.com", "+14155550131", "crm-a", "Acme", "Paris", "x;y"],
        ["Bob", "bob@example.com", "", "", "", "", ""],
        ["Bob", "bob@example.com", "", "", "", "", "z"],
    ]
    first = await import_csv(api, csv_text(rows))
    assert (first["created"], first["updated"]) == (2, 1)
    before = await all_contacts(api)
    again = await import_csv(api, csv_text(rows))
    assert (again["created"], again["updated"], again["unchanged"], again["failed"]) == (0, 0, 3, 0)
    assert await all_contacts(api) == before


async def test_import_writes_events_with_source_import(api: Api) -> None:
    existing = await api.create_contact(name="Before", email="ev@example.com")
    rows = [["email", "name"], ["ev@example.com", "After"], ["new@example.com", "New"]]
    await import_csv(api, csv_text(rows))
    response = await api.get("/events", params={"limit": "100"})
    assert response.status_code == 200, response.text
    events = [e["payload"] for e in response.json()["payload"]]
    events = [e for e in events if e["source"] == "import"]
    assert sorted(e["event"] for e in events) == ["contact_created", "contact_updated"]
    updated = next(e for e in events if e["event"] == "contact_updated")
    assert updated["id"] == existing["id"]
    assert updated["name"] == "After"
    assert updated["account"] == {"id": api.tenant.account_id, "name": "Acme"}
    assert updated["changed_attributes"] == [
        {"name": {"previous_value": "Before", "current_value": "After"}}
    ]


async def test_cancel_and_another_account_sees_nothing(api: Api, other_api: Api) -> None:
    rows = [["email"], *([f"c{i}@example.com"] for i in range(5))]
    summary = await import_csv(api, csv_text(rows))
    import_id = summary["id"]
    for path in (f"/contacts/imports/{import_id}", f"/contacts/imports/{import_id}/errors.csv"):
        response = await other_api.get(path)
        assert response.status_code == 404, response.text
        assert response.json() == {"error": "Resource could not be found"} or response.json()
    response = await other_api.post(f"/contacts/imports/{import_id}/cancel")
    assert response.status_code == 404
    listed = await other_api.get("/contacts/imports")
    assert listed.status_code == 200
    assert import_id not in [i["id"] for i in listed.json()["payload"]["imports"]]
    mine = await api.get("/contacts/imports")
    assert import_id in [i["id"] for i in mine.json()["payload"]["imports"]]
    # An ended import is answered as it is.
    response = await api.post(f"/contacts/imports/{import_id}/cancel")
    assert response.status_code == 200
    assert response.json()["payload"]["import"]["status"] == "completed"


async def test_agents_cannot_import(api: Api) -> None:
    agent = await agent_api(api.client, api.dialect, api.tenant)
    response = await upload(agent, csv_text([["email"], ["a@example.com"]]))
    assert response.status_code in (401, 403)
    assert "error" in response.json()
    response = await agent.get("/contacts/imports")
    assert response.status_code in (401, 403)
    response = await agent.get("/contacts/export.csv")
    assert response.status_code in (401, 403)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"name,email\r\n", "no rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "line 1"),
        (b"name,email\nAnn,a@example.com\nB\xe9a,b@example.com\n", "Line 3 is not UTF-8"),
        (b"name,email\nAnn,a@example.com\nBob\n", "Line 3 has 1 cells"),
        (b"colour,size\nred,big\n", "No column"),
        (b"name,Name\nA,B\n", "twice"),
        (b'name,email\n"unterminated,x\n', "not valid CSV"),
        (b"name\n" + b"x" * (2 * 1024 * 1024) + b"\n", "Line 2 has a field over"),
    ],
)
async def test_files_that_cannot_be_imported_are_refused(
    api: Api, content: bytes, expected: str
) -> None:
    response = await upload(api, content)
    assert response.status_code == 422, response.text
    assert expected.lower() in response.json()["error"].lower()
    listed = await api.get("/contacts/imports")
    assert listed.json()["payload"]["imports"] == []


async def test_no_file_or_not_multipart(api: Api) -> None:
    response = await api.post("/contacts/import", json={"import_file": "x"})
    assert response.status_code == 422
    assert "multipart" in response.json()["error"]
    response = await api.post("/contacts/import", files={"other": ("a.csv", b"name\nA\n")})
    assert response.status_code == 422
    assert "No file" in response.json()["error"]


async def test_unknown_import_ids(api: Api) -> None:
    for path in (
        "/contacts/imports/999999999",
        "/contacts/imports/abc",
        "/contacts/imports/" + "9" * 40,
    ):
        response = await api.get(path)
        assert response.status_code == 404, response.text
        assert "error" in response.json()


async def test_waiting_for_a_queued_import(api: Api) -> None:
    response = await upload(api, csv_text([["email"], ["w@example.com"]]))
    body = response.json()["payload"]
    assert set(body) == {"import_id", "status", "import"}
    done = await wait_import(api, body["import_id"])
    assert done["status"] == "completed"
    assert done["started_at"] is not None
    assert done["finished_at"] is not None


async def test_more_rows_than_a_spreadsheet_holds_are_refused(api: Api) -> None:
    if api.dialect != "v2":
        return  # the same code in both dialects; the file is large to build
    content = b"name\n" + b"a\n" * 1_048_577
    response = await upload(api, content)
    assert response.status_code == 422, response.text
    assert "more than 1,048,576 rows" in response.json()["error"]
    content = b"name\n" + b"a\n" * 1_048_576  # the most: accepted
    response = await upload(api, content)
    assert response.status_code == 200, response.text
    cancelled = await api.post(
        f"/contacts/imports/{response.json()['payload']['import_id']}/cancel"
    )
    assert cancelled.json()["payload"]["import"]["status"] in ("cancelled", "completed")


async def test_a_file_over_the_size_limit_is_refused(api: Api) -> None:
    before = limits_module.limits()
    limits_module.install(dataclasses.replace(before, import_max_mb=1))
    try:
        big = b"name\n" + b"x" * 100 + b"\n"
        big += b"someone\n" * (1024 * 1024 // 8 + 10)
        response = await upload(api, big)
        assert response.status_code == 413, response.text
        assert response.json() == {"error": "The file is too large (the limit is 1 MB)"}
        listed = await api.get("/contacts/imports")
        assert listed.json()["payload"]["imports"] == []
    finally:
        limits_module.install(before)
