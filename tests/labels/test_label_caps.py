"""POST /contacts/{id}/labels holds at most max_labels (100) labels, in both dialects: the
request names at most 100 distinct labels (the set it replaces is the contact's)."""

from __future__ import annotations

from tests.bounds import bounds
from tests.support import Api, contact_count, contact_labels

TOO_MANY = {"message": "Labels is too long (maximum is 100 labels)", "attributes": ["labels"]}


async def test_a_contact_takes_100_labels_and_no_more(api: Api) -> None:
    contact = await api.create_contact(name="Ada")
    names = [f"label-{n:03d}" for n in range(100)]
    response = await api.post(f"/contacts/{contact['id']}/labels", json={"labels": names})
    assert response.status_code == 200, response.text
    assert response.json() == {"payload": names}
    # duplicates ignoring case are one label
    again = [*names, "LABEL-000", " label-099 "]
    response = await api.post(f"/contacts/{contact['id']}/labels", json={"labels": again})
    assert response.status_code == 200, response.text
    response = await api.post(
        f"/contacts/{contact['id']}/labels", json={"labels": [*names, "label-100"]}
    )
    assert response.status_code == 422
    assert response.json() == TOO_MANY
    assert await contact_labels(api, contact["id"]) == names  # unchanged
    assert await contact_count(api, {"labels": "label-100"}) == 0


async def test_a_huge_label_list_is_refused_quickly(api: Api) -> None:
    contact = await api.create_contact(name="Ada")
    names = [f"n{n}" for n in range(20_000)]
    response = await api.post(f"/contacts/{contact['id']}/labels", json={"labels": names})
    assert response.status_code == 422
    assert response.json() == TOO_MANY
    assert await contact_labels(api, contact["id"]) == []


async def test_the_label_bound_is_configurable(api: Api) -> None:
    contact = await api.create_contact(name="Ada")
    with bounds(max_labels=2):
        response = await api.post(f"/contacts/{contact['id']}/labels", json={"labels": ["a", "b"]})
        assert response.status_code == 200
        response = await api.post(
            f"/contacts/{contact['id']}/labels", json={"labels": ["a", "b", "c"]}
        )
        assert response.status_code == 422
        assert response.json() == {
            "message": "Labels is too long (maximum is 2 labels)",
            "attributes": ["labels"],
        }
