"""200 registrations posted at once against a running server, on both backends."""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from service import store
from service.app import create_app
from service.models import ASSIGNED, GROUP_FULL, QUEUED, Membership, Registration
from tests.service.helpers_service import registration_body, spread_rows

pytest_plugins = ["tests.service.fixtures_service"]

REGISTRATIONS = 200
REPEATS = 40
CLIENTS = 16
CAP = 50


def _post_all(base_url: str, bodies: list[dict]) -> list[httpx.Response]:
    """Post every body from CLIENTS threads, each with its own connection pool."""
    local = threading.local()
    clients: list[httpx.Client] = []

    def post(body: dict) -> httpx.Response:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=base_url, timeout=60)
            clients.append(local.client)
        return local.client.post("/registrations", json=body)

    try:
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            return list(pool.map(post, bodies))
    finally:
        for client in clients:
            client.close()


def test_concurrent_registrations_are_neither_lost_nor_duplicated(
    make_settings, live_server, book, seed_plan
):
    app = create_app(make_settings(max_group_size=CAP))
    base_url = live_server(app)
    services = app.state.services
    with services.sessions() as session, session.begin():
        store.apply_plan(session, seed_plan, replace=False)

    # 200 different residents (a third per woonplaats, so each group overflows)
    # and 40 of them posting twice, all in a shuffled order
    rows = spread_rows(book, 67)[:REGISTRATIONS]
    bodies = [registration_body(row, i) for i, row in enumerate(rows)]
    order = list(range(REGISTRATIONS)) + list(range(REPEATS))
    random.Random(0).shuffle(order)
    responses = _post_all(base_url, [bodies[i] for i in order])

    # every post answered; one 201 per resident, the repeats 200 with the same id
    assert Counter(r.status_code for r in responses) == {
        201: REGISTRATIONS,
        200: REPEATS,
    }
    ids: dict[int, set[str]] = defaultdict(set)
    for i, response in zip(order, responses, strict=True):
        ids[i].add(response.json()["registration_id"])
    assert all(len(found) == 1 for found in ids.values())
    assert len({found.pop() for found in ids.values()}) == REGISTRATIONS

    # stored exactly once; each group filled to the cap, never over it
    expected = Counter(seed_plan.territory[row["address_key"]] for row in rows)
    with services.sessions() as session:
        stored = session.scalars(select(Registration)).all()
        numbers = session.execute(
            select(Membership.group_id, Membership.member_number)
        ).all()
        open_total = session.scalar(select(func.count()).select_from(Membership))
    assert len(stored) == REGISTRATIONS
    assert len({r.phone_hmac for r in stored}) == REGISTRATIONS
    per_group = defaultdict(list)
    for group_id, number in numbers:
        per_group[group_id].append(number)
    assert {g: sorted(n) for g, n in per_group.items()} == {
        g: list(range(1, min(CAP, n) + 1)) for g, n in expected.items()
    }
    statuses = Counter((r.status, r.queue_reason) for r in stored)
    assert (
        statuses[(ASSIGNED, None)]
        == open_total
        == sum(min(CAP, n) for n in expected.values())
    )
    assert statuses[(QUEUED, GROUP_FULL)] == REGISTRATIONS - open_total


def test_identical_posts_at_the_same_moment_store_one_row(
    make_settings, live_server, book
):
    app = create_app(make_settings())
    base_url = live_server(app)
    body = registration_body(spread_rows(book, 1)[0], 1)

    responses = _post_all(base_url, [body] * 24)

    assert Counter(r.status_code for r in responses) == {201: 1, 200: 23}
    assert len({r.json()["registration_id"] for r in responses}) == 1
    with app.state.services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Registration)) == 1
