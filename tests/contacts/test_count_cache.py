"""The count cache (contacts/counters.py) is bounded in bytes whatever the filters, searches and
label names sent (issue 10 item 7): keys are 16-byte digests, entries are evicted beyond
count_cache_max_bytes // ENTRY_BYTES, and ENTRY_BYTES is what an entry really costs."""

from __future__ import annotations

import hashlib
import tracemalloc

import pytest

from contactdesk.contacts import counters
from contactdesk.driver import BoundedCache
from tests.bounds import bounds
from tests.support import Api, set_labels


@pytest.fixture
def empty_cache(monkeypatch: pytest.MonkeyPatch) -> BoundedCache[bytes, tuple[int, int]]:
    """A fresh cache for the test (the process's own is put back after it)."""
    fresh: BoundedCache[bytes, tuple[int, int]] = BoundedCache(counters.ENTRY_BYTES)
    monkeypatch.setattr(counters, "_cache", fresh)
    return fresh


def test_the_cache_stays_within_its_byte_budget(
    empty_cache: BoundedCache[bytes, tuple[int, int]],
) -> None:
    budget = 256 * 1024
    with bounds(count_cache_max_bytes=budget):
        most = counters.max_entries()
        assert most == budget // counters.ENTRY_BYTES
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            peak_entries = 0
            for n in range(5 * most):
                key = counters.cache_digest("db", 1, ("filter", str(n) * 1000))
                # generations and counts beyond the small ints, as a busy account has
                counters.remember(key, 10**15 + n, 10**9 + n)
                peak_entries = max(peak_entries, len(empty_cache))
            used = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert peak_entries == most
    assert used <= budget, (used, budget)
    # and not far below it either: ENTRY_BYTES is what an entry costs, with some margin
    assert used >= budget // 2, (used, budget)


def test_keys_are_digests_of_whatever_was_sent() -> None:
    long_key = ("list", "q" * 200, tuple(f"label-{n}" * 20 for n in range(100)))
    digest = counters.cache_digest("sqlite:///x.db", 7, long_key)
    assert isinstance(digest, bytes)
    assert len(digest) == 16
    assert digest == counters.cache_digest("sqlite:///x.db", 7, long_key)
    assert digest != counters.cache_digest("sqlite:///x.db", 8, long_key)
    assert digest != counters.cache_digest("sqlite:///y.db", 7, long_key)
    assert digest != hashlib.blake2b(b"", digest_size=16).digest()


async def test_large_filters_add_small_entries_and_counts_stay_exact(
    api: Api, empty_cache: BoundedCache[bytes, tuple[int, int]]
) -> None:
    """20 filters of 100 values of 1,000 characters (the issue: 450 MB of keys) leave 20
    16-byte keys, and each count is still the exact one."""
    ada = await api.create_contact(name="Ada Lovelace")
    await api.create_contact(name="Bo Peep")
    await set_labels(api, ada["id"], ["vip"])
    for n in range(20):
        patterns = [f"{n}-{v}-" + "x" * 1000 for v in range(99)]
        condition = {
            "attribute_key": "name",
            "filter_operator": "does_not_contain",
            "values": [*patterns, "peep"],
        }
        response = await api.post("/contacts/filter", json={"payload": [condition]})
        assert response.status_code == 200, response.text[:300]
        assert response.json()["meta"]["count"] == 1
    # a search with many label names is one small entry too
    response = await api.get(
        "/contacts/search",
        params={"q": "a" * 5, "labels": ",".join(f"label-{n}" + "y" * 200 for n in range(100))},
    )
    assert response.status_code == 200
    assert len(empty_cache) == 21
    assert all(isinstance(key, bytes) and len(key) == 16 for key in empty_cache)
    # a hit answers the same exact count, and a write moves it
    body = {
        "payload": [{"attribute_key": "labels", "filter_operator": "equal_to", "values": ["x"]}]
    }
    counts = []
    for _ in range(2):
        response = await api.post("/contacts/filter", json=body)
        counts.append(response.json()["meta"]["count"])
    await set_labels(api, ada["id"], ["x"])
    response = await api.post("/contacts/filter", json=body)
    assert [*counts, response.json()["meta"]["count"]] == [0, 0, 1]


async def test_the_cache_evicts_beyond_its_budget_over_http(
    api: Api, empty_cache: BoundedCache[bytes, tuple[int, int]]
) -> None:
    await api.create_contact(name="Ada")
    with bounds(count_cache_max_bytes=3 * counters.ENTRY_BYTES):
        for n in range(6):
            response = await api.get("/contacts/search", params={"q": f"term-{n}"})
            assert response.status_code == 200
            assert len(empty_cache) <= 3
    assert len(empty_cache) == 3
