"""Rebalance API: dry run, apply in one transaction, 409 on stale plans, changes.

The seeded app has 12 residents in 3 groups of 4 with the cap at 4, so one
newcomer for a group makes it overflow and the plan must split it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, update

from service import store
from service.app import create_app
from service.models import (
    ACTIVE_STATUSES,
    ASSIGNED,
    END_REGROUPED,
    GROUP_FULL,
    QUEUED,
    Group,
    GroupChange,
    Membership,
    Registration,
    Territory,
)
from tests.service.helpers_service import (
    VOORNAAM,
    Seeded,
    TestClient,
    bearer,
    built_in_whatsapp,
    e164,
    number_forms,
    registration_body,
    residential_rows,
    seed,
    spread_rows,
    table_dump,
)

pytest_plugins = ["tests.service.fixtures_service"]

CAP = 4
CALLERS = ("anonymous", "steering", "beheerder", "other_beheerder", "resident")
CONFIRMED = (
    "Een beheerder heeft intussen een lid toegevoegd dat dit plan naar een "
    "andere groep zet; er is niets gewijzigd. Maak een nieuw plan "
    "(POST /groups/rebalance)."
)
STALE = (
    "De gegevens zijn veranderd sinds dit plan is gemaakt; er is niets "
    "gewijzigd. Maak een nieuw plan (POST /groups/rebalance)."
)


@pytest.fixture
def full(make_settings, seed_rows, seed_plan) -> Iterator[Seeded]:
    """12 residents in 3 full groups of 4 (cap 4), a steering user, 3 beheerders."""
    with TestClient(create_app(make_settings(max_group_size=CAP))) as client:
        yield seed(client, seed_rows, seed_plan)


class Newcomers:
    """Registers residents at free addresses of a chosen group's territory."""

    def __init__(self, seeded: Seeded, book: Any, plan: Any) -> None:
        self.seeded = seeded
        used = {r["row"]["address_key"] for r in seeded.residents}
        self.rows = [
            row for row in residential_rows(book) if row["address_key"] not in used
        ]
        self.territory = plan.territory
        self.count = 0

    def register(
        self, group_id: str, away_from: tuple[float, float] | None = None
    ) -> dict[str, Any]:
        """Register one newcomer in the territory of ``group_id``; its response.

        With ``away_from`` (RD New x, y) the address farthest from that point.
        """
        mine = [r for r in self.rows if self.territory[r["address_key"]] == group_id]
        row = mine[0]
        if away_from is not None:
            row = max(mine, key=lambda r: math.dist((r["x"], r["y"]), away_from))
        self.rows.remove(row)
        i = 500 + self.count
        self.count += 1
        response = self.seeded.client.post(
            "/registrations", json=registration_body(row, i)
        )
        assert response.status_code == 201, response.text
        return {**response.json(), "i": i, "row": row}


@pytest.fixture
def newcomers(full, book, seed_plan) -> Newcomers:
    """A source of newcomers for the full app."""
    return Newcomers(full, book, seed_plan)


def _plan(seeded: Seeded) -> dict[str, Any]:
    """Make a plan as the steering user; its body."""
    response = seeded.client.post("/groups/rebalance", headers=bearer(seeded.steering))
    assert response.status_code == 201, response.text
    return response.json()


def _apply(seeded: Seeded, plan_id: str) -> Any:
    """Apply a plan as the steering user; the response."""
    return seeded.client.post(
        f"/groups/rebalance/{plan_id}/apply", headers=bearer(seeded.steering)
    )


def _open_sizes(seeded: Seeded) -> dict[str, int]:
    """Open memberships per group, read from the database."""
    with seeded.services.sessions() as session:
        rows = session.execute(
            select(Membership.group_id, func.count())
            .where(Membership.ended_at.is_(None))
            .group_by(Membership.group_id)
        ).all()
    return {str(g): int(n) for g, n in rows}


def _memberships(seeded: Seeded, registration_id: str) -> list[Membership]:
    """Every membership of a registration, oldest first."""
    with seeded.services.sessions() as session:
        return list(
            session.scalars(
                select(Membership)
                .where(Membership.registration_id == registration_id)
                .order_by(Membership.id)
            )
        )


def _assert_one_open_membership_each(seeded: Seeded) -> None:
    """Every assigned registration is in exactly one group, nobody else in any."""
    with seeded.services.sessions() as session:
        open_per_registration = dict(
            session.execute(
                select(Membership.registration_id, func.count())
                .where(Membership.ended_at.is_(None))
                .group_by(Membership.registration_id)
            ).all()
        )
        assigned = set(
            session.scalars(
                select(Registration.id).where(Registration.status == ASSIGNED)
            )
        )
    assert set(open_per_registration) == assigned
    assert set(open_per_registration.values()) <= {1}


def test_a_dry_run_changes_nothing_and_shows_no_number(full, newcomers):
    group = full.groups[0]
    newcomer = newcomers.register(group)
    assert newcomer["status"] == QUEUED
    engine = full.services.engine
    before = table_dump(engine, skip=("rebalance_plans", "audit_log"))

    response = full.client.post("/groups/rebalance", headers=bearer(full.steering))

    assert response.status_code == 201
    plan = response.json()
    assert table_dump(engine, skip=("rebalance_plans", "audit_log")) == before
    assert plan["applied_at"] is None
    # the full group splits: one new group, the members of the new half move
    summary = plan["summary"]
    assert (summary["joined"], summary["new_groups"], summary["split_groups"]) == (
        1,
        1,
        1,
    )
    (new,) = plan["new_groups"]
    (join,) = plan["joins"]
    assert join["registration_id"] == newcomer["registration_id"]
    assert join["group_id"] in {group, new["group_id"]}
    assert new["group_id"] not in full.groups
    assert 1 <= len(plan["moves"]) <= CAP // 2 + 1
    assert {m["from_group"] for m in plan["moves"]} == {group}
    assert {m["to_group"] for m in plan["moves"]} == {new["group_id"]}
    assert all(size["after"] <= CAP for size in plan["sizes"].values())
    assert plan["territory_addresses"] > 0
    # the steering change lists hold registration ids only
    moved = {m["registration_id"] for m in plan["moves"]}
    assert set(plan["changes"][group]["remove"]) == moved
    for resident in [*full.residents, newcomer]:
        assert not any(form in response.text for form in number_forms(resident["i"]))
    assert VOORNAAM not in response.text
    # the stored plan reads back the same
    again = full.client.get(
        f"/groups/rebalance/{plan['plan_id']}", headers=bearer(full.steering)
    )
    assert again.json() == plan


def test_apply_moves_members_keeps_history_and_lists_the_changes(full, newcomers):
    group = full.groups[0]
    newcomer = newcomers.register(group)
    plan = _plan(full)
    (new,) = [g["group_id"] for g in plan["new_groups"]]
    old_numbers = {
        m.registration_id: m.member_number
        for r in full.in_group(group)
        for m in _memberships(full, r["registration_id"])
    }

    response = _apply(full, plan["plan_id"])

    assert response.status_code == 200, response.text
    assert response.json()["moved"] == len(plan["moves"])
    # every move: the old membership ended as "regrouped", a new one open
    for move in plan["moves"]:
        old, current = _memberships(full, move["registration_id"])
        assert (old.group_id, old.end_reason) == (group, END_REGROUPED)
        assert old.ended_at is not None and current.ended_at is None
        assert current.group_id == new
    (joined,) = _memberships(full, newcomer["registration_id"])
    assert joined.ended_at is None
    sizes = _open_sizes(full)
    assert max(sizes.values()) <= CAP
    assert sum(sizes.values()) == len(full.residents) + 1
    assert {g: sizes[g] for g in plan["sizes"]} == {
        g: s["after"] for g, s in plan["sizes"].items()
    }
    _assert_one_open_membership_each(full)
    overview = full.client.get("/groups", headers=bearer(full.steering)).json()
    row = next(g for g in overview if g["group_id"] == new)
    assert row["territory_addresses"] > 0
    # applying twice is refused
    again = _apply(full, plan["plan_id"])
    assert (again.status_code, again.json()["detail"]) == (
        409,
        "Dit plan is al uitgevoerd.",
    )

    # the old beheerder removes by member number, and sees no number
    removals = full.client.get(
        f"/groups/{group}/changes", headers=bearer(full.beheerders[group])
    ).json()
    moved = {m["registration_id"] for m in plan["moves"]}
    assert sorted(c["member_number"] for c in removals if c["action"] == "remove") == (
        sorted(old_numbers[r] for r in moved)
    )
    assert all("telefoon" not in c for c in removals if c["action"] == "remove")

    # the new group's beheerder adds the moved members by number and vCard
    with full.services.sessions() as session, session.begin():
        token = store.add_user(session, "beheerder", new, None)[1]
    additions = full.client.get(f"/groups/{new}/changes", headers=bearer(token)).json()
    by_id = {r["registration_id"]: r for r in [*full.residents, newcomer]}
    added = plan["changes"][new]["add"]
    assert moved <= set(added) <= moved | {newcomer["registration_id"]}
    expected = sorted(e164(by_id[r]["i"]) for r in added)
    assert sorted(c["telefoon"] for c in additions) == expected
    assert {c["action"] for c in additions} == {"add"}
    assert all(c["voornaam"] == VOORNAAM for c in additions)
    cards = full.client.get(f"/groups/{new}/changes.vcf", headers=bearer(token))
    assert cards.headers["content-type"].startswith("text/vcard")
    assert (
        sorted(
            line.removeprefix("TEL;TYPE=CELL:")
            for line in cards.text.split("\r\n")
            if line.startswith("TEL;")
        )
        == expected
    )

    # the steering view lists what is pending, then nothing once confirmed
    pending = full.client.get(
        "/groups/changes/pending", headers=bearer(full.steering)
    ).json()
    counts = {p["group_id"]: (p["add"], p["remove"]) for p in pending}
    assert counts == {
        g: (len(c["add"]), len(c["remove"])) for g, c in plan["changes"].items()
    }
    assert counts[group][1] == len(moved)
    assert "+316" not in str(pending)
    for group_id, user_token in ((new, token), (group, full.beheerders[group])):
        for change in full.client.get(
            f"/groups/{group_id}/changes", headers=bearer(user_token)
        ).json():
            done = full.client.post(
                f"/groups/{group_id}/changes/{change['change_id']}/done",
                headers=bearer(user_token),
            )
            assert done.status_code == 200 and done.json()["done_at"]
    pending = full.client.get("/groups/changes/pending", headers=bearer(full.steering))
    assert pending.json() == []

    # a moved resident sees both memberships and the read of their number
    resident = by_id[next(iter(moved))]
    me = full.client.get("/registrations/me", headers=bearer(resident["token"])).json()
    assert [m["group_id"] for m in me["memberships"]] == [group, new]
    assert me["member_list_reads"]


def test_apply_after_a_concurrent_registration_is_409_and_changes_nothing(
    full, newcomers
):
    group = full.groups[0]
    newcomers.register(group)
    plan = _plan(full)
    newcomers.register(full.groups[1])  # lands between the plan and its apply
    engine = full.services.engine
    before = table_dump(engine)

    response = _apply(full, plan["plan_id"])

    assert (response.status_code, response.json()["detail"]) == (409, STALE)
    assert table_dump(engine) == before
    # a fresh plan of the new state applies
    fresh = _plan(full)
    assert fresh["summary"]["joined"] == 2
    assert _apply(full, fresh["plan_id"]).status_code == 200
    assert max(_open_sizes(full).values()) <= CAP


def _refresh_territory(seeded: Seeded, newcomers: Newcomers) -> None:
    """Let the newcomer source follow the territories a plan changed."""
    with seeded.services.sessions() as session:
        rows = session.execute(select(Territory.address_key, Territory.group_id))
        newcomers.territory = {str(k): str(g) for k, g in rows}


def _pending_reroute(full: Seeded, newcomers: Newcomers) -> dict[str, Any]:
    """A plan that reroutes a member whose "add" is still pending.

    One newcomer splits the first group; the next ones fill it at intake (room
    after the split) and wait for their beheerder; one more overflows the
    group, which hands a waiting member next door.
    """
    group = full.groups[0]
    newcomers.register(group)
    split = _plan(full)
    assert split["summary"]["split_groups"] == 1
    assert _apply(full, split["plan_id"]).status_code == 200
    _refresh_territory(full, newcomers)
    placed = [newcomers.register(group) for _ in range(CAP - _open_sizes(full)[group])]
    assert placed and {(p["status"], p["group_id"]) for p in placed} == {
        (ASSIGNED, group)
    }
    assert newcomers.register(group)["status"] == QUEUED
    return _plan(full)


def test_intake_placement_is_an_add_for_the_beheerder(full, newcomers):
    """A sign-up placed straight into a group with room is on the beheerder's
    change list with its number, and counts as not added until marked done."""
    group = full.groups[0]
    with full.services.sessions() as session, session.begin():
        session.execute(
            update(Membership)
            .where(
                Membership.registration_id == full.in_group(group)[0]["registration_id"]
            )
            .values(ended_at=store.utcnow(), end_reason="left")
        )
    placed = newcomers.register(group)
    assert placed["status"] == ASSIGNED
    token = full.beheerders[group]

    (change,) = full.client.get(
        f"/groups/{group}/changes", headers=bearer(token)
    ).json()

    assert (change["action"], change["reason"]) == ("add", "join")
    assert change["telefoon"] == e164(placed["i"])
    with full.services.sessions() as session:
        assert store.rebalance_inputs(session).pending_adds == [
            placed["registration_id"]
        ]
    done = full.client.post(
        f"/groups/{group}/changes/{change['change_id']}/done", headers=bearer(token)
    )
    assert done.status_code == 200
    with full.services.sessions() as session:
        assert store.rebalance_inputs(session).pending_adds == []


def test_a_member_not_added_yet_is_rerouted_without_a_removal(full, newcomers):
    group = full.groups[0]
    plan = _pending_reroute(full, newcomers)
    with full.services.sessions() as session:
        waiting = set(store.rebalance_inputs(session).pending_adds)

    assert plan["summary"]["moved"] == 0 and plan["moves"] == []
    (reroute,) = plan["reroutes"]
    assert reroute["registration_id"] in waiting
    assert reroute["from_group"] == group and reroute["reason"] == "overflow"
    target = reroute["to_group"]
    assert reroute["registration_id"] in plan["changes"][target]["add"]
    assert (
        reroute["registration_id"]
        not in plan["changes"].get(group, {"remove": []})["remove"]
    )

    response = _apply(full, plan["plan_id"])

    assert response.status_code == 200, response.text
    assert (response.json()["moved"], response.json()["rerouted"]) == (0, 1)
    assert max(_open_sizes(full).values()) <= CAP
    old, new = _memberships(full, reroute["registration_id"])
    assert (old.group_id, old.end_reason, new.group_id) == (
        group,
        END_REGROUPED,
        target,
    )
    # the old beheerder's pending add now says it is no longer needed, and
    # neither shows the number nor asks for a removal
    rows = full.client.get(
        f"/groups/{group}/changes", headers=bearer(full.beheerders[group])
    ).json()
    mine = [r for r in rows if r["member_number"] == old.member_number]
    assert [r["action"] for r in mine] == ["add"]
    assert "hoeft niet meer" in mine[0]["text"] and "telefoon" not in mine[0]
    with full.services.sessions() as session, session.begin():
        token = store.add_user(session, "beheerder", target, None)[1]
    added = full.client.get(f"/groups/{target}/changes", headers=bearer(token)).json()
    row = next(r for r in added if r["member_number"] == new.member_number)
    assert row["action"] == "add" and row["telefoon"].startswith("+316")
    _assert_one_open_membership_each(full)


def test_a_reroute_confirmed_before_apply_is_409_and_changes_nothing(full, newcomers):
    """The beheerder adds the member while the plan waits: the plan's reroute
    would now need a removal, so it is refused whole."""
    group = full.groups[0]
    plan = _pending_reroute(full, newcomers)
    (reroute,) = plan["reroutes"]
    (membership,) = [
        m for m in _memberships(full, reroute["registration_id"]) if m.ended_at is None
    ]
    assert membership.group_id == group
    token = full.beheerders[group]
    rows = full.client.get(f"/groups/{group}/changes", headers=bearer(token)).json()
    change = next(
        r
        for r in rows
        if r["action"] == "add" and r["member_number"] == membership.member_number
    )
    full.client.post(
        f"/groups/{group}/changes/{change['change_id']}/done", headers=bearer(token)
    )
    engine = full.services.engine
    before = table_dump(engine)

    response = _apply(full, plan["plan_id"])

    assert (response.status_code, response.json()["detail"]) == (409, CONFIRMED)
    assert table_dump(engine) == before


def test_a_failure_halfway_through_apply_leaves_the_database_as_before(
    full, newcomers, monkeypatch
):
    newcomers.register(full.groups[0])
    plan = _plan(full)
    assert len(plan["joins"]) + len(plan["moves"]) >= 2
    engine = full.services.engine
    before = table_dump(engine)
    real = store._start_membership
    calls = []

    def fail_second(session, group, registration, now):
        # the first membership is really written before the failure
        number = real(session, group, registration, now)
        session.flush()
        calls.append(number)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return number

    monkeypatch.setattr(store, "_start_membership", fail_second)

    with pytest.raises(RuntimeError, match="disk full"):
        _apply(full, plan["plan_id"])

    assert len(calls) == 2
    assert table_dump(engine) == before
    # the same plan still applies once the failure is gone
    monkeypatch.undo()
    assert _apply(full, plan["plan_id"]).status_code == 200
    _assert_one_open_membership_each(full)


# (method, path, status per caller in CALLERS order); {p} a plan, {g} the
# beheerder's group, {c} a pending change of that group
MATRIX = [
    ("POST", "/groups/rebalance", (401, 201, 403, 403, 403)),
    ("GET", "/groups/rebalance/{p}", (401, 200, 403, 403, 403)),
    ("GET", "/groups/changes/pending", (401, 200, 403, 403, 403)),
    ("GET", "/groups/{g}/changes", (401, 403, 200, 403, 403)),
    ("GET", "/groups/{g}/changes.vcf", (401, 403, 200, 403, 403)),
    ("POST", "/groups/{g}/changes/{c}/done", (401, 403, 200, 403, 403)),
    ("POST", "/groups/rebalance/{p}/apply", (401, 200, 403, 403, 403)),
]


def test_every_rebalance_endpoint_answers_every_caller_as_the_matrix_says(
    full, newcomers
):
    client = full.client
    group, other = full.groups[0], full.groups[1]
    newcomers.register(group)
    assert _apply(full, _plan(full)["plan_id"]).status_code == 200
    (change, *_) = client.get(
        f"/groups/{group}/changes", headers=bearer(full.beheerders[group])
    ).json()
    newcomers.register(other)
    plan_id = _plan(full)["plan_id"]
    tokens = {
        "anonymous": None,
        "steering": full.steering,
        "beheerder": full.beheerders[group],
        "other_beheerder": full.beheerders[other],
        "resident": full.residents[-1]["token"],
    }

    wrong = []
    for method, template, expected in MATRIX:
        path = template.format(p=plan_id, g=group, c=change["change_id"])
        for caller, status in zip(CALLERS, expected, strict=True):
            token = tokens[caller]
            response = client.request(
                method, path, headers=bearer(token) if token else {}
            )
            if response.status_code != status:
                wrong.append((method, path, caller, status, response.status_code))
            if caller == "steering":
                assert "+316" not in response.text, path

    assert wrong == []
    steering, beheerder = bearer(full.steering), bearer(full.beheerders[group])
    missing = [
        client.get("/groups/rebalance/nope", headers=steering),
        client.post("/groups/rebalance/nope/apply", headers=steering),
        client.post(f"/groups/{group}/changes/999999/done", headers=beheerder),
    ]
    assert [(r.status_code, r.json()["detail"]) for r in missing] == [
        (404, "Onbekend plan."),
        (404, "Onbekend plan."),
        (404, "Onbekende wijziging."),
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_registrants_one_at_a_time_never_leave_a_group_above_the_cap(
    make_settings, book, seed_rows, seed_plan
):
    cap, arrivals = 20, 300
    used = {row["address_key"] for row in seed_rows}
    rows = [r for r in spread_rows(book, 120) if r["address_key"] not in used]
    assert len(rows) >= arrivals
    with TestClient(create_app(make_settings(max_group_size=cap))) as client:
        seeded = seed(client, seed_rows, seed_plan)
        services = seeded.services
        tokens, rebalances, moved = [], 0, 0

        for n, row in enumerate(rows[:arrivals]):
            response = client.post(
                "/registrations", json=registration_body(row, 1000 + n)
            )
            assert response.status_code == 201
            tokens.append(response.json()["token"])
            if n % 30 == 29:  # now and then somebody leaves
                leave = client.post(
                    "/registrations/me/leave", headers=bearer(tokens.pop(0))
                )
                assert leave.status_code == 200
            if response.json()["status"] == QUEUED:
                with services.sessions() as session:
                    reason = session.get(
                        Registration, response.json()["registration_id"]
                    ).queue_reason
                assert reason == GROUP_FULL
                plan = _plan(seeded)
                assert _apply(seeded, plan["plan_id"]).status_code == 200
                rebalances += 1
                moved += len(plan["moves"])
            assert max(_open_sizes(seeded).values()) <= cap, n

        with services.sessions() as session:
            active = session.scalar(
                select(func.count())
                .select_from(Registration)
                .where(Registration.status.in_(ACTIVE_STATUSES))
            )
            queued = session.scalar(
                select(func.count())
                .select_from(Registration)
                .where(Registration.status == QUEUED)
            )
    _assert_one_open_membership_each(seeded)
    assert queued == 0
    assert sum(_open_sizes(seeded).values()) == active
    assert rebalances > 0
    # a split moves at most the new half of a group that overflowed by one
    assert moved <= rebalances * (cap // 2 + 1)


def _confirm(seeded: Seeded, group_id: str, token: str, registration_id: str) -> None:
    """The beheerder marks the pending changes of one open member done."""
    (membership,) = [
        m for m in _memberships(seeded, registration_id) if m.ended_at is None
    ]
    rows = seeded.client.get(f"/groups/{group_id}/changes", headers=bearer(token))
    for change in rows.json():
        if change["member_number"] == membership.member_number:
            done = seeded.client.post(
                f"/groups/{group_id}/changes/{change['change_id']}/done",
                headers=bearer(token),
            )
            assert done.status_code == 200


def test_a_member_sent_back_before_its_removal_keeps_its_number(full, newcomers):
    """Members moved out by a split, with their removal and addition both still
    to do, flow back when the new group overflows: the old membership reopens
    under its number, nobody is added there, and the removal no longer asks for
    anything."""
    group = full.groups[0]
    newcomers.register(group)
    split = _plan(full)
    (new,) = [g["group_id"] for g in split["new_groups"]]
    assert _apply(full, split["plan_id"]).status_code == 200
    old_number = {
        m.registration_id: m.member_number
        for move in split["moves"]
        for m in _memberships(full, move["registration_id"])
        if m.group_id == group
    }
    _refresh_territory(full, newcomers)
    with full.services.sessions() as session, session.begin():
        token = store.add_user(session, "beheerder", new, None)[1]
    for join in split["joins"]:
        if join["group_id"] == new:
            _confirm(full, new, token, join["registration_id"])

    # the new group fills with confirmed newcomers, then one more arrives on
    # its far side, so the members that came from the old group are its edge
    # towards the one group with room
    stayers = [
        r["row"] for r in full.in_group(group) if r["registration_id"] not in old_number
    ]
    centre = (
        sum(r["x"] for r in stayers) / len(stayers),
        sum(r["y"] for r in stayers) / len(stayers),
    )
    while _open_sizes(full)[new] < CAP:
        placed = newcomers.register(new, away_from=centre)
        _confirm(full, new, token, placed["registration_id"])
    assert newcomers.register(new, away_from=centre)["status"] == QUEUED
    plan = _plan(full)
    (back,) = [r for r in plan["reroutes"] if r["to_group"] == group]
    member = back["registration_id"]
    assert member in old_number and back["from_group"] == new
    # the plan already shows no addition there: the member never left
    assert member not in plan["changes"].get(group, {"add": []})["add"]

    assert _apply(full, plan["plan_id"]).status_code == 200

    assert max(_open_sizes(full).values()) <= CAP
    _assert_one_open_membership_each(full)
    here, there = _memberships(full, member)
    assert (here.group_id, here.member_number) == (group, old_number[member])
    assert here.ended_at is None and here.end_reason is None
    assert (there.group_id, there.end_reason) == (new, END_REGROUPED)
    rows = full.client.get(
        f"/groups/{group}/changes", headers=bearer(full.beheerders[group])
    ).json()
    mine = [r for r in rows if r["member_number"] == old_number[member]]
    assert [r["action"] for r in mine] == ["remove"]
    assert "hoeft niet meer te worden verwijderd" in mine[0]["text"]
    assert "telefoon" not in mine[0]
    added = full.client.get(f"/groups/{new}/changes", headers=bearer(token)).json()
    (add,) = [r for r in added if r["member_number"] == there.member_number]
    assert "hoeft niet meer te worden toegevoegd" in add["text"]
    done = full.client.post(
        f"/groups/{group}/changes/{mine[0]['change_id']}/done",
        headers=bearer(full.beheerders[group]),
    )
    assert "hoeft niet meer te worden verwijderd" in done.json()["text"]


def test_removals_still_to_do_follow_the_member(full, newcomers):
    """The bookkeeping of apply, driven directly: a member moved by a split and
    then rerouted has one removal, naming where it went last; moved back after
    that addition was carried out, it keeps its old number in the first group
    and only the group it leaves gets a removal."""
    group, other = full.groups[0], full.groups[1]
    newcomers.register(group)
    split = _plan(full)
    assert _apply(full, split["plan_id"]).status_code == 200
    member = split["moves"][0]["registration_id"]
    first = next(m for m in _memberships(full, member) if m.group_id == group)

    def apply(kind: str, from_group: str, to_group: str) -> None:
        entry = {
            "registration_id": member,
            "from_group": from_group,
            "to_group": to_group,
            "reason": "overflow",
        }
        document = {"joins": [], "moves": [], "reroutes": [], kind: [entry]}
        with full.services.sessions() as session, session.begin():
            groups = {g.id: g for g in session.scalars(select(Group))}
            store._apply_memberships(
                session, document, groups, split["plan_id"], store.utcnow()
            )

    def rows(group_id: str) -> list[dict[str, Any]]:
        """The member's pending changes in a group, as its beheerder sees them."""
        with full.services.sessions() as session:
            changes = store.group_changes(session, full.services.vault, group_id)
            ids = set(
                session.scalars(
                    select(GroupChange.id).where(GroupChange.registration_id == member)
                )
            )
        return [c for c in changes if c["change_id"] in ids]

    # rerouted before anybody added it: the removal from the first group now
    # names the new group, and nobody is asked to remove it twice
    apply("reroutes", split["moves"][0]["to_group"], other)
    (removal,) = rows(group)
    assert (removal["action"], removal["other_group_id"]) == ("remove", other)
    assert f"naar groep {other}" in removal["text"]
    (added,) = rows(other)
    assert added["action"] == "add" and added["telefoon"].startswith("+316")

    # carried out, then moved back: the old membership reopens, no addition
    with full.services.sessions() as session, session.begin():
        session.execute(
            update(GroupChange)
            .where(GroupChange.id == added["change_id"])
            .values(done_at=store.utcnow())
        )
    apply("moves", other, group)
    (open_,) = [m for m in _memberships(full, member) if m.ended_at is None]
    assert (open_.group_id, open_.member_number) == (group, first.member_number)
    (removal,) = rows(group)
    assert "hoeft niet meer te worden verwijderd" in removal["text"]
    (leave,) = rows(other)
    assert (leave["action"], leave["other_group_id"]) == ("remove", group)
    _assert_one_open_membership_each(full)


def _handed_on(seeded: Seeded, group_id: str) -> int:
    """The group's count of members handed on, as stored."""
    with seeded.services.sessions() as session:
        return session.get(Group, group_id).handed_on


def test_a_group_that_handed_on_its_headroom_splits_at_its_next_overflow(
    make_settings, book
):
    """Cap 6 (planned fill 5, so one member of headroom), two groups of 4 per
    woonplaats: the third newcomer in a group makes it hand an edge member to
    the neighbour, counted in the group; at the next overflow the neighbour
    still has room, yet the group splits instead of handing on another member,
    and the count is reset."""
    rows = spread_rows(book, 8)
    groups = store.plan_groups(book, [row["address_key"] for row in rows], 6)
    with TestClient(create_app(make_settings(max_group_size=6))) as client:
        seeded = seed(client, rows, groups)
        arrivals = Newcomers(seeded, book, groups)
        group = seeded.groups[0]
        woonplaats = seeded.in_group(group)[0]["row"]["woonplaats"]
        others = [
            r["row"]
            for r in seeded.residents
            if r["group_id"] != group and r["row"]["woonplaats"] == woonplaats
        ]
        assert others, "the woonplaats needs a second group"
        far_side = (
            sum(r["x"] for r in others) / len(others),
            sum(r["y"] for r in others) / len(others),
        )

        # the overflowing newcomers share the address of the member farthest
        # from the neighbour: they cannot be handed on, an existing member must
        deep = max(
            seeded.in_group(group),
            key=lambda r: math.dist((r["row"]["x"], r["row"]["y"]), far_side),
        )["row"]

        def overflow() -> dict[str, Any]:
            arrivals.count += 1
            body = registration_body(deep, 900 + arrivals.count)
            assert client.post("/registrations", json=body).status_code == 201
            with seeded.services.sessions() as session, session.begin():
                built_in_whatsapp(session)
            plan = _plan(seeded)
            assert _apply(seeded, plan["plan_id"]).status_code == 200
            with seeded.services.sessions() as session, session.begin():
                built_in_whatsapp(session)
            return plan

        for _ in range(2):  # fill the group to the cap
            arrivals.register(group, away_from=far_side)
        relieved = overflow()
        assert relieved["summary"]["split_groups"] == 0
        assert [m["reason"] for m in relieved["moves"]] == ["overflow"]
        assert {m["from_group"] for m in relieved["moves"]} == {group}
        assert _handed_on(seeded, group) == 1
        (neighbour,) = {m["to_group"] for m in relieved["moves"]}
        assert _open_sizes(seeded)[neighbour] < 6  # room for one more
        overview = client.get("/groups", headers=bearer(seeded.steering)).json()
        rows = {g["group_id"]: g for g in overview}
        assert (rows[group]["handed_on"], rows[group]["splits_next"]) == (1, True)
        assert (rows[neighbour]["handed_on"], rows[neighbour]["splits_next"]) == (
            0,
            False,
        )

        split = overflow()
        assert split["summary"]["split_groups"] == 1
        assert {m["reason"] for m in split["moves"]} == {"split"}
        assert _handed_on(seeded, group) == 0
        assert max(_open_sizes(seeded).values()) <= 6
        _assert_one_open_membership_each(seeded)

        # a plan is made on the counts too, and new groups start from zero
        with seeded.services.sessions() as session, session.begin():
            before = store.data_version(session)
            session.get(Group, neighbour).handed_on = 3
        with seeded.services.sessions() as session, session.begin():
            assert store.data_version(session) != before
            store.apply_plan(session, groups, replace=True)
        assert _handed_on(seeded, neighbour) == 0
