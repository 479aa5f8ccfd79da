"""GET /contacts/export.csv and POST /contacts/export (issue 12, item 4)."""

from __future__ import annotations

from typing import Any

from tests.actions.imports import all_contacts, csv_text, export_rows, import_csv
from tests.support import Api, contact_labels, set_labels

STANDARD = [
    "name",
    "first_name",
    "last_name",
    "email",
    "phone_number",
    "identifier",
    "company",
    "city",
    "country",
    "country_code",
    "labels",
    "blocked",
]
COMPARED = (
    "name",
    "first_name",
    "last_name",
    "email",
    "phone_number",
    "identifier",
    "blocked",
    "additional_attributes",
    "custom_attributes",
)


async def _tricky_contacts(api: Api) -> list[dict[str, Any]]:
    made = [
        await api.create_contact(
            name="=SUM(A1:A9)",
            email="formula@example.com",
            phone_number="+14155550141",
            identifier="@crm-1",
            additional_attributes={"company_name": "-Minus", "city": "Köln", "country": "DE"},
            custom_attributes={
                "seats": 12,
                "ratio": 0.5,
                "flag": True,
                "zip": "02134",
                "looks_numeric": "123",
                "looks_bool": "true",
                "quoted": '"q"',
                "nested": {"a": [1, 2]},
                "nothing": None,
                "apostrophe": "'=not a formula",
            },
        ),
        await api.create_contact(first_name="Only", last_name="Names", identifier="only"),
        await api.create_contact(name="Ünïcødé 名前", email="u@example.com", blocked=True),
    ]
    await set_labels(api, made[0]["id"], ["vip", "semi;colon"])
    await set_labels(api, made[2]["id"], ["solo;label"])
    return made


async def test_export_columns_and_formula_escaping(api: Api) -> None:
    await _tricky_contacts(api)
    rows = await export_rows(api, {"sort": "email"})
    header = rows[0]
    assert header[: len(STANDARD)] == STANDARD
    assert header[len(STANDARD) :] == sorted(header[len(STANDARD) :])
    assert "custom_attributes.seats" in header
    by_email = {r[3]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    formula = by_email["formula@example.com"]
    assert formula["name"] == "'=SUM(A1:A9)"
    assert formula["phone_number"] == "'+14155550141"
    assert formula["identifier"] == "'@crm-1"
    assert formula["company"] == "'-Minus"
    assert formula["labels"] == "semi;colon,vip"
    assert formula["custom_attributes.seats"] == "12"
    assert formula["custom_attributes.looks_numeric"] == '"123"'
    assert formula["custom_attributes.apostrophe"] == "''=not a formula"
    for row in rows[1:]:
        for cell in row:
            assert not cell or cell[0] not in "=+-@", row


async def test_an_export_imports_back_unchanged(api: Api, other_api: Api) -> None:
    await _tricky_contacts(api)
    before = await all_contacts(api)
    exported = await export_rows(api)
    text = csv_text(exported)
    again = await import_csv(api, text)
    assert (again["created"], again["updated"], again["failed"]) == (0, 0, 0), again
    assert again["unchanged"] == 3
    assert await all_contacts(api) == before
    # Into another account: the same contacts, labels included.
    elsewhere = await import_csv(other_api, text)
    assert (elsewhere["created"], elsewhere["failed"]) == (3, 0)
    copied = await all_contacts(other_api)

    def key(c: dict[str, Any]) -> str:
        return str(c["email"] or c["name"])

    assert sorted(({k: c[k] for k in COMPARED} for c in copied), key=key) == sorted(
        ({k: c[k] for k in COMPARED} for c in before), key=key
    )
    originals = {key(c): c["id"] for c in before}
    for contact in copied:
        mine = await contact_labels(api, originals[key(contact)])
        assert await contact_labels(other_api, contact["id"]) == mine


async def test_export_follows_q_labels_and_filters(api: Api, other_api: Api) -> None:
    for n in range(25):
        contact = await api.create_contact(name=f"Person {n:02d}", email=f"p{n}@example.com")
        if n % 5 == 0:
            await set_labels(api, contact["id"], ["fifth"])
    await other_api.create_contact(name="Person elsewhere", email="else@example.com")
    everyone = await export_rows(api, {"sort": "name"})
    assert [r[0] for r in everyone[1:]] == [f"Person {n:02d}" for n in range(25)]
    labelled = await export_rows(api, {"labels": "fifth", "sort": "-name"})
    assert [r[0] for r in labelled[1:]] == [f"Person {n:02d}" for n in (20, 15, 10, 5, 0)]
    searched = await export_rows(api, {"q": "Person 1"})
    assert sorted(r[0] for r in searched[1:]) == [f"Person {n}" for n in range(10, 20)]
    body = {
        "payload": [
            {"attribute_key": "email", "filter_operator": "contains", "values": ["p2"]},
        ]
    }
    response = await api.post("/contacts/export", json=body, params={"sort": "email"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.content.decode("utf-8-sig").splitlines()
    assert [line.split(",")[3] for line in lines[1:]] == sorted(
        ["p2@example.com", *(f"p{n}@example.com" for n in range(20, 25))]
    )
    response = await api.post("/contacts/export")  # no conditions: every contact
    assert response.status_code == 200
    assert len(response.content.decode("utf-8-sig").splitlines()) == 26


async def test_export_of_another_account_holds_none_of_these(api: Api, other_api: Api) -> None:
    await api.create_contact(name="Mine", email="mine@example.com")
    rows = await export_rows(other_api)
    assert rows[1:] == []
    assert rows[0][: len(STANDARD)] == STANDARD


async def test_bad_export_parameters(api: Api) -> None:
    for params in ({"sort": "nope"}, {"q": "x" * 5000}):
        response = await api.get("/contacts/export.csv", params=params)
        assert response.status_code == 422, response.text
        assert "error" in response.json()
    response = await api.post(
        "/contacts/export", json={"payload": [{"attribute_key": "nope", "values": ["x"]}]}
    )
    assert response.status_code == 422, response.text
    response = await api.post("/contacts/export", content=b"{not json")
    assert response.status_code == 400, response.text
