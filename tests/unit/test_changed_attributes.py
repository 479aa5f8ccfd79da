"""contact_updated's changed_attributes (issue 11, item 2): one object per changed rendered
attribute, none for activity alone."""

from __future__ import annotations

import json

from contactdesk.events.service import changed_attributes, update_params

BEFORE = {
    "id": 7,
    "name": "Ada",
    "email": None,
    "custom_attributes": {"plan": "free"},
    "last_activity_at": 100,
    "conversations_count": 0,
}


def test_each_changed_attribute_once_in_rendered_order() -> None:
    after = {**BEFORE, "name": "Ada L", "email": "ada@example.com", "custom_attributes": {}}
    assert changed_attributes(BEFORE, after) == [
        {"name": {"previous_value": "Ada", "current_value": "Ada L"}},
        {"email": {"previous_value": None, "current_value": "ada@example.com"}},
        {"custom_attributes": {"previous_value": {"plan": "free"}, "current_value": {}}},
    ]


def test_nothing_or_only_activity_is_no_event() -> None:
    assert changed_attributes(BEFORE, dict(BEFORE)) == []
    assert changed_attributes(BEFORE, {**BEFORE, "last_activity_at": 200}) == []
    assert update_params(1, "api", BEFORE, {**BEFORE, "last_activity_at": 200}) is None


def test_activity_rides_along_but_is_not_listed() -> None:
    params = update_params(1, "api", BEFORE, {**BEFORE, "name": "B", "last_activity_at": 200})
    assert params is not None
    body = json.loads(params["body"])
    assert body["changed_attributes"] == [{"name": {"previous_value": "Ada", "current_value": "B"}}]
    assert body["last_activity_at"] == 200
