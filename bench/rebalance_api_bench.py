"""Newcomers one at a time through the HTTP API, against one batch rebalance.

The FastAPI app runs in this process (Starlette's test client, a SQLite file in a
temporary folder) on a generated demo municipality, written to CSV and loaded by
the service like any register. A fresh partition (cap 50) places the first
members; then every newcomer registers (``POST /registrations``: placed at once
when the group of their address has room, else queued) and the steering group
plans and applies a rebalance (``POST /groups/rebalance``, ``.../apply``), in two
runs from the same start:

- "adds pending": the beheerders catch up later, so the earlier newcomers'
  additions are still pending when the next one arrives (a pending member can
  be placed elsewhere without a removal: a reroute, not a move);
- "adds done at once": after every step each beheerder marks every change done
  (``POST /groups/{id}/changes/{change_id}/done``), the worst case.

The batch is :func:`partition.rebalance.rebalance` on the same start with all
newcomers at once, as one plan would see them if they had all been queued.
After every step the largest group is checked against the cap. It prints one
table and asserts nothing but the cap. Run from the repository root::

    python bench/rebalance_api_bench.py [--members 500] [--newcomers 1000] [--seed 0]
        [--municipality demo|losser]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import markdown_table  # noqa: E402
from partition import io  # noqa: E402
from partition.demo import make_demo_municipality  # noqa: E402
from partition.geocode import RegisterGeocoder  # noqa: E402
from partition.rebalance import rebalance  # noqa: E402
from partition.register import prepare_register  # noqa: E402
from service import store  # noqa: E402
from service.app import create_app  # noqa: E402
from service.config import Settings  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

CAP = 50
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
LOSSER_BUURTEN = SHARED / "losser_buurten_2024_cbs_generalised_rd.geojson"
LOSSER_WIJKEN = SHARED / "losser_wijken_2024_cbs_generalised_rd.geojson"


def people(seed: int, n_addresses: int, n_registrations: int, newcomers: int, **places):
    """The demo's addresses and registrations, split into members and newcomers;
    ``places`` (``buurten``, ``wijken``) lays the demo out on real boundaries."""
    demo = make_demo_municipality(
        seed=seed, n_addresses=n_addresses, n_registrations=n_registrations, **places
    )
    register = prepare_register(demo.addresses)
    geocoded = RegisterGeocoder(register).geocode(demo.registrations)
    placed = geocoded[geocoded["match_quality"].ne("unmatched")].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(placed))
    joining = placed.iloc[order[:newcomers]].reset_index(drop=True)
    members = placed.iloc[order[newcomers:]].reset_index(drop=True)
    return demo.addresses, register, members, joining


def body(row: pd.Series, i: int, privacy_version: str) -> dict[str, Any]:
    """The registration form of one person, with a fictional mobile number."""
    postcode = str(row["postcode"])
    return {
        "postcode": f"{postcode[:4]} {postcode[4:]}",
        "huisnummer": str(row["huisnummer"]),
        "huisletter": text_or_none(row["huisletter"]),
        "huisnummertoevoeging": text_or_none(row["huisnummertoevoeging"]),
        "telefoon": f"06{20_000_000 + i:08d}",
        "voornaam": "Demo",
        "consent": True,
        "privacy_version": privacy_version,
    }


def text_or_none(value: object) -> str | None:
    """A register text field for the form: None when empty or missing."""
    return None if pd.isna(value) or str(value) == "" else str(value)


class Service:
    """One app on its own database, with the first members placed."""

    def __init__(self, folder: Path, addresses: Path, members: pd.DataFrame) -> None:
        self.settings = Settings(
            data_dir=folder / "data",
            database_url=f"sqlite:///{folder / 'buurtgroepen.db'}",
            addresses=addresses,
            max_group_size=CAP,
        )
        self.client = TestClient(create_app(self.settings))
        self.client.__enter__()
        self.services = self.client.app.state.services
        self.count = 0
        for _, row in members.iterrows():
            self.register(row)
        keys = members["address_key"].astype(str).tolist()
        plan = store.plan_groups(self.services.book, keys, CAP)
        with self.services.sessions() as session, session.begin():
            store.apply_plan(session, plan, replace=False)
            self.steering = store.add_user(session, "steering", None, "Stuurgroep")[1]
        self.beheerders: dict[str, str] = {}
        # the start: the beheerders have built their WhatsApp groups
        self.confirm_everything()

    def register(self, row: pd.Series) -> dict[str, Any]:
        """Sign one person up through the API."""
        self.count += 1
        form = body(row, self.count, self.settings.privacy_version)
        response = self.client.post("/registrations", json=form)
        if response.status_code != 201:
            raise RuntimeError(f"sign-up refused: {response.text}")
        return response.json()

    def rebalance(self) -> dict[str, Any]:
        """Plan and apply one rebalance as the steering group; the plan."""
        steering = {"Authorization": f"Bearer {self.steering}"}
        plan = self.client.post("/groups/rebalance", headers=steering)
        if plan.status_code != 201:
            raise RuntimeError(f"plan refused: {plan.text}")
        plan_id = plan.json()["plan_id"]
        applied = self.client.post(
            f"/groups/rebalance/{plan_id}/apply", headers=steering
        )
        if applied.status_code != 200:
            raise RuntimeError(f"apply refused: {applied.text}")
        return plan.json()

    def confirm_everything(self) -> int:
        """Every beheerder marks every pending change done; how many."""
        steering = {"Authorization": f"Bearer {self.steering}"}
        pending = self.client.get("/groups/changes/pending", headers=steering).json()
        done = 0
        for group in pending:
            token = self.beheerder(group["group_id"])
            for change in group["changes"]:
                url = f"/groups/{group['group_id']}/changes/{change['change_id']}/done"
                reply = self.client.post(
                    url, headers={"Authorization": f"Bearer {token}"}
                )
                done += reply.status_code == 200
        return done

    def beheerder(self, group_id: str) -> str:
        """The token of a beheerder of the group, made on first use."""
        if group_id not in self.beheerders:
            with self.services.sessions() as session, session.begin():
                token = store.add_user(session, "beheerder", group_id, None)[1]
            self.beheerders[group_id] = token
        return self.beheerders[group_id]

    def groups(self) -> pd.Series:
        """The group of every member, by registration id, read from the database."""
        with self.services.sessions() as session:
            current = store.rebalance_inputs(session).current
        return current.set_index("registration_id")["group_id"].astype(str)

    def largest_group(self) -> int:
        """Members of the largest group, read from the database."""
        return int(self.groups().value_counts().max())

    def close(self) -> None:
        """Stop the app and close its database connections."""
        self.client.__exit__(None, None, None)


def one_at_a_time(
    folder: Path,
    addresses: Path,
    members: pd.DataFrame,
    joining: pd.DataFrame,
    *,
    confirm: bool,
) -> dict[str, Any]:
    """Register the newcomers one by one, a rebalance after each."""
    service = Service(folder, addresses, members)
    start = service.groups()
    totals = {"moved": 0, "rerouted": 0, "split_groups": 0, "split_moves": 0}
    largest = 0
    started = time.perf_counter()
    for _, row in joining.iterrows():
        service.register(row)
        plan = service.rebalance()
        for name in ("moved", "rerouted", "split_groups"):
            totals[name] += plan["summary"][name]
        totals["split_moves"] += sum(m["reason"] == "split" for m in plan["moves"])
        largest = max(largest, service.largest_group())
        if largest > CAP:
            raise AssertionError(f"a group of {largest} after a step, cap {CAP}")
        if confirm:
            service.confirm_everything()
    seconds = time.perf_counter() - started
    end = service.groups().reindex(start.index)
    service.close()
    elsewhere = int((end != start).sum())
    return {**totals, "elsewhere": elsewhere, "largest": largest, "seconds": seconds}


def batch(
    folder: Path, addresses: Path, members: pd.DataFrame, joining: pd.DataFrame
) -> dict[str, Any]:
    """The same newcomers in one rebalance, from the same start."""
    service = Service(folder, addresses, members)
    with service.services.sessions() as session:
        start = store.rebalance_inputs(session)
    service.close()
    joiners = joining[["address_key", "x", "y", "woonplaats"]].assign(
        registration_id=[f"N{i:05d}" for i in range(len(joining))]
    )
    started = time.perf_counter()
    plan = rebalance(
        start.current,
        joiners=joiners,
        address_groups=start.territory,
        max_size=CAP,
        within=store.REBALANCE_WITHIN,
    )
    return {
        "moved": plan.summary["moved"],
        "rerouted": plan.summary["rerouted"],
        "split_groups": plan.summary["split_groups"],
        "split_moves": int((plan.moves["reason"] == "split").sum()),
        "elsewhere": plan.summary["moved"],
        "largest": plan.summary["max_group_size"],
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    """Run the batch and both one-at-a-time runs; print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--newcomers", type=int, default=1_000)
    parser.add_argument("--addresses", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--municipality",
        choices=("demo", "losser"),
        default="demo",
        help="the generated demo, or generated addresses on the real Losser "
        "buurten and wijken (CBS, ../shared/data)",
    )
    args = parser.parse_args()
    logging.disable(logging.INFO)
    places = {}
    if args.municipality == "losser":
        if not LOSSER_BUURTEN.is_file():
            print(f"skipped Losser: {LOSSER_BUURTEN} not found (needs ../shared/data)")
            return
        places = {
            "buurten": gpd.read_file(LOSSER_BUURTEN),
            "wijken": gpd.read_file(LOSSER_WIJKEN),
        }

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n_registrations = args.members + args.newcomers
        addresses, _, members, joining = people(
            args.seed, args.addresses, n_registrations, args.newcomers, **places
        )
        register_file = root / "addresses.csv"
        io.csv_writer(addresses.drop(columns="geometry"))(register_file)
        runs = {
            "one batch (library)": batch(root / "b", register_file, members, joining),
            "one at a time, adds pending": one_at_a_time(
                root / "p", register_file, members, joining, confirm=False
            ),
            "one at a time, adds done at once": one_at_a_time(
                root / "c", register_file, members, joining, confirm=True
            ),
        }

    header = [
        "run",
        "members",
        "newcomers",
        "moved",
        "of which split",
        "in another group at the end",
        "rerouted",
        "splits",
        "largest group",
        "seconds",
    ]
    rows = [
        [
            name,
            f"{len(members):,}",
            f"{len(joining):,}",
            f"{r['moved']:,}",
            f"{r['split_moves']:,}",
            f"{r['elsewhere']:,}",
            f"{r['rerouted']:,}",
            f"{r['split_groups']:,}",
            str(r["largest"]),
            f"{r['seconds']:.1f}",
        ]
        for name, r in runs.items()
    ]
    where = (
        "demo municipality"
        if args.municipality == "demo"
        else "generated addresses on the Losser buurten"
    )
    print(f"{where}, {args.addresses:,} addresses, seed {args.seed}, cap {CAP}")
    print("moved = existing members placed in another group (two manual steps each)")
    print(
        "in another group at the end = first members whose group at the end is not "
        "their first (a member moved twice counts once, one moved back not at all)"
    )
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
