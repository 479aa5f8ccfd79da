"""Deterministic, realistic contact rows for the benchmark."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

FIRST = [
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Wei",
    "Yuki",
    "Hiroshi",
    "Mei",
    "Ana",
    "Luis",
    "Sofia",
    "Mateo",
    "Olga",
    "Ivan",
    "Fatima",
    "Omar",
    "Priya",
    "Arjun",
    "Chloe",
    "Lucas",
    "Emma",
    "Noah",
    "Mia",
    "Liam",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Tanaka",
    "Suzuki",
    "Wang",
    "Zhang",
    "Kowalski",
    "Novak",
    "Silva",
    "Costa",
]
COMPANIES = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Wonka",
    "Cyberdyne",
    "Soylent",
    "Tyrell",
    "Aperture",
    "Gringotts",
    "Oceanic",
    "Massive",
    "Dynamic",
    "Pied",
    "Piper",
    "Monsters",
    "Prestige",
]
CITIES = [
    "London",
    "Paris",
    "Berlin",
    "Madrid",
    "Rome",
    "Tokyo",
    "Osaka",
    "Beijing",
    "Shanghai",
    "Taipei",
    "Seoul",
    "Sydney",
    "Toronto",
    "Chicago",
    "Austin",
    "Boston",
    "Lisbon",
    "Warsaw",
    "Prague",
    "Dublin",
]
COUNTRIES = (
    ("United Kingdom", "GB"),
    ("France", "FR"),
    ("Germany", "DE"),
    ("Spain", "ES"),
    ("Italy", "IT"),
    ("Japan", "JP"),
    ("China", "CN"),
    ("Taiwan", "TW"),
    ("South Korea", "KR"),
    ("Australia", "AU"),
    ("Canada", "CA"),
    ("United States", "US"),
    ("Portugal", "PT"),
    ("Poland", "PL"),
)
LABELS = [
    "vip",
    "lead",
    "customer",
    "churn-risk",
    "newsletter",
    "beta",
    "partner",
    "trial",
    "enterprise",
    "smb",
    "support-priority",
    "billing",
    "event",
    "webinar",
    "referral",
]
DOMAINS = ("example.com", "mail.test", "corp.example", "shop.example")
NOW = 1_795_000_000
THREE_YEARS = 3 * 365 * 86400


@dataclass
class ContactRow:
    id: int
    account_id: int
    name: str
    first_name: str
    last_name: str
    email: str
    phone_number: str
    identifier: str
    additional_attributes: dict[str, Any]
    custom_attributes: dict[str, Any]
    last_activity_at: int | None
    created_at: int
    labels: tuple[str, ...]


def contacts(first_id: int, count: int, account_ids: list[int], seed: int) -> Iterator[ContactRow]:
    """count rows with ids from first_id, spread round-robin over account_ids."""
    rng = random.Random(seed)
    for n in range(count):
        contact_id = first_id + n
        first, last = rng.choice(FIRST), rng.choice(LAST)
        country, code = rng.choice(COUNTRIES)
        blank = rng.random() < 0.1
        additional = {
            "company_name": "" if blank else rng.choice(COMPANIES),
            "city": "" if blank else rng.choice(CITIES),
            "country": country,
            "country_code": code,
            "description": "",
        }
        created = NOW - rng.randrange(THREE_YEARS)
        activity = created + rng.randrange(NOW - created + 1) if rng.random() < 0.7 else None
        labels: tuple[str, ...] = ()
        if rng.random() < 0.1:
            labels = tuple(rng.sample(LABELS, rng.choice((1, 1, 2))))
        yield ContactRow(
            id=contact_id,
            account_id=account_ids[n % len(account_ids)],
            name=f"{first} {last}",
            first_name=first,
            last_name=last,
            email=f"{first}.{last}.{contact_id}@{rng.choice(DOMAINS)}".lower(),
            phone_number=f"+1{2_000_000_000 + contact_id}",
            identifier=f"user-{contact_id}",
            additional_attributes=additional,
            custom_attributes={"plan": rng.choice(("free", "pro", "team")), "score": n % 100},
            last_activity_at=activity,
            created_at=created,
            labels=labels,
        )
