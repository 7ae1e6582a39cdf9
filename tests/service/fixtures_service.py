"""Fixtures of the service tests, on top of infra's conftest.

Loaded by the test modules with ``pytest_plugins``. They build apps on the
``database_url`` of each backend, load the demo register once, compute one
group plan per session, and seed an app with residents, groups and users.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from service.app import create_app
from service.config import Settings
from service.store import AddressBook, GroupPlan, load_address_book, plan_groups
from tests.service.helpers_service import (
    RESIDENTS_PER_WOONPLAATS,
    Seeded,
    TestClient,
    seed,
    spread_rows,
)


@pytest.fixture(scope="session")
def book() -> AddressBook:
    """The demo address register, loaded once (as the service caches it)."""
    return load_address_book(None)


@pytest.fixture(scope="session")
def seed_rows(book: AddressBook) -> list[dict[str, Any]]:
    """The addresses of the seeded residents: four per woonplaats."""
    return spread_rows(book, RESIDENTS_PER_WOONPLAATS)


@pytest.fixture(scope="session")
def seed_plan(book: AddressBook, seed_rows: list[dict[str, Any]]) -> GroupPlan:
    """The group plan of the seeded residents (one partition run per session)."""
    return plan_groups(book, [row["address_key"] for row in seed_rows], 50)


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings on the test's database and a private data directory."""

    def make(**changes: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
        }
        values.update(changes)
        return Settings(**values)

    return make


@pytest.fixture
def client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    """A test client of an app on an empty database (both backends)."""
    with TestClient(create_app(make_settings())) as test_client:
        yield test_client


@pytest.fixture
def seeded(
    client: TestClient, seed_rows: list[dict[str, Any]], seed_plan: GroupPlan
) -> Seeded:
    """An app with 12 residents in 3 groups, a steering user and 3 beheerders."""
    return seed(client, seed_rows, seed_plan)
