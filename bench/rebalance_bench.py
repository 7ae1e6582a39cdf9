"""Rebalance benchmark: members moved by a rebalance against a full re-partition.

Starting from a fresh partition at cap 50, on the demo municipality and on the
real Losser buurten (CBS, ../shared/data) with generated addresses, it measures:

- 10 % new registrations, drawn from the same uneven spread as the demo's own
  (one generated set, split into the existing 91 % and the newcomers): existing
  members moved by ``rebalance`` and by a full re-partition (after matching the
  new groups to the old ones as well as possible), and the largest group;
- 5 % of the members leave: members moved (none expected without a minimum);
- the newcomers one at a time (at most ``--one-at-a-time`` of them), once with
  every addition carried out before the next newcomer and once with all of
  them still pending (``pending_adds``): total moved, and moved by the splits
  the sequence needs, against the single batch of the same newcomers; each
  step passes the previous plan's ``handed_on`` counts on and gives every
  address the group of its nearest member, and its seconds are those spent in
  ``rebalance`` (``bench/rebalance_api_bench.py`` runs the same through the
  HTTP API);
- the shape of the groups afterwards: contiguous % and hull overlap % from
  ``partition.quality`` (before the change, after the rebalance, and for the
  full re-partition);
- all of it again at 10,000 registrations (40,000 addresses), with the wall time.

With ``--split-after none,25,10,5,2,1`` it prints only the trade-off behind
``partition.rebalance.split_threshold`` instead: per limit on the members a group
hands on before it splits, the moves of 1,000 newcomers one at a time against
the batch plus the moves of the splits, on the demo tripling and at +10 % of
10,000 registrations.

It prints; it asserts nothing. Run: ``python bench/rebalance_bench.py``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import markdown_table  # noqa: E402
from partition.demo import make_demo_municipality  # noqa: E402
from partition.geocode import RegisterGeocoder  # noqa: E402
from partition.groups import partition_members  # noqa: E402
from partition.quality import partition_quality  # noqa: E402
from partition.rebalance import rebalance  # noqa: E402
from partition.register import prepare_register  # noqa: E402
from partition.territories import assign_addresses  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
LOSSER_BUURTEN = SHARED / "losser_buurten_2024_cbs_generalised_rd.geojson"
LOSSER_WIJKEN = SHARED / "losser_wijken_2024_cbs_generalised_rd.geojson"
CAP = 50


def members_of(n_addresses: int, n_registrations: int, seed: int, **places):
    """Geocoded registrations and the register of a generated municipality."""
    demo = make_demo_municipality(
        seed=seed, n_addresses=n_addresses, n_registrations=n_registrations, **places
    )
    register = prepare_register(demo.addresses)
    geocoded = RegisterGeocoder(register).geocode(demo.registrations)
    members = geocoded[geocoded["match_quality"].ne("unmatched")].copy()
    return members.reset_index(drop=True), register


def matched_moves(old: pd.Series, new: pd.Series) -> int:
    """Members in another group after matching new groups to old ones (Hungarian)."""
    table = pd.crosstab(old, new)
    rows, cols = linear_sum_assignment(-table.to_numpy())
    kept = int(table.to_numpy()[rows, cols].sum())
    return int(len(old) - kept)


def shape(members: pd.DataFrame, assignment: pd.Series) -> list[str]:
    """Contiguous % and hull overlap % of ``assignment`` (by registration_id)."""
    frame = members.drop(columns="group_id", errors="ignore")
    frame = frame.set_index("registration_id").loc[assignment.index].reset_index()
    quality = partition_quality(
        frame, pd.Series(assignment.to_numpy(), index=frame.index), max_size=CAP
    )
    return [f"{quality['contiguous_pct']:.1f}", f"{quality['hull_overlap_pct']:.1f}"]


def scenario(
    name: str,
    members: pd.DataFrame,
    register: pd.DataFrame,
    seed: int,
    one_at_a_time: int,
):
    """All figures of one municipality, as table rows."""
    rng = np.random.default_rng(seed)
    rows = []
    newcomer = rng.random(len(members)) < 1 / 11  # 10 % of the existing count
    current = members[~newcomer].copy()
    joiners = members[newcomer].copy()
    current["group_id"] = partition_members(current, max_size=CAP).to_numpy()
    territory = assign_addresses(register, current, current["group_id"]).set_axis(
        register["address_key"]
    )
    before = current.set_index("registration_id")["group_id"]
    rows.append(
        [name, "before (fresh partition)", f"{len(current):,}", "-", "-", "-"]
        + [str(int(before.value_counts().max())), "-", *shape(current, before)]
    )

    # 10 % join: rebalance against a full re-partition
    started = time.perf_counter()
    plan = rebalance(current, joiners=joiners, address_groups=territory, max_size=CAP)
    seconds = time.perf_counter() - started
    fresh = partition_members(members, max_size=CAP)
    fresh_old = fresh[~newcomer].to_numpy()
    full_moved = matched_moves(
        current["group_id"].reset_index(drop=True), pd.Series(fresh_old)
    )
    sizes = plan.assignment.value_counts()
    rows.append(
        [
            name,
            "10 % join: rebalance",
            f"{len(current):,}",
            f"{plan.summary['moved']:,}",
            f"{plan.summary['moved_share']:.1%}",
            str(plan.summary["split_groups"]),
            str(int(sizes.max())),
            f"{seconds:.3f}",
            *shape(members, plan.assignment),
        ]
    )
    rows.append(
        [
            name,
            "10 % join: full re-partition",
            f"{len(current):,}",
            f"{full_moved:,}",
            f"{full_moved / len(current):.1%}",
            "-",
            str(int(fresh.value_counts().max())),
            "-",
            *shape(
                members, pd.Series(fresh.to_numpy(), index=members["registration_id"])
            ),
        ]
    )

    # 5 % leave
    leavers = current["registration_id"].sample(frac=0.05, random_state=seed).to_numpy()
    started = time.perf_counter()
    plan = rebalance(current, leavers=leavers, max_size=CAP)
    rows.append(
        [
            name,
            "5 % leave",
            f"{len(current):,}",
            f"{plan.summary['moved']:,}",
            f"{plan.summary['moved_share']:.1%}",
            str(plan.summary["split_groups"]),
            str(int(plan.assignment.value_counts().max())),
            f"{time.perf_counter() - started:.3f}",
            *shape(current, plan.assignment),
        ]
    )

    # the same newcomers one at a time: added by their beheerders before the
    # next arrives, or all still waiting (then they can be rerouted for free)
    batch = joiners.head(one_at_a_time)
    for pending, label in ((False, "each added at once"), (True, "adds pending")):
        run = one_by_one(current, batch, register, pending)
        state = run["state"]
        end = state.set_index("registration_id")["group_id"]
        elsewhere = int((end.reindex(before.index) != before).sum())
        rows.append(
            [
                name,
                f"{len(batch):,} join one at a time, {label}",
                f"{len(current):,}",
                f"{run['moved']:,} ({run['split_moves']:,} by splits)"
                + (f" (+{run['rerouted']:,} rerouted)" if run["rerouted"] else "")
                + f"; {elsewhere:,} in another group at the end",
                f"{run['moved'] / len(current):.1%}",
                f"{run['splits']:,}",
                str(int(state["group_id"].value_counts().max())),
                f"{run['seconds']:.2f}",
                *shape(state, state.set_index("registration_id")["group_id"]),
            ]
        )
    together = rebalance(
        current, joiners=batch, address_groups=territory, max_size=CAP
    ).summary
    rows.append(
        [
            name,
            f"the same {len(batch):,} in one batch",
            f"{len(current):,}",
            f"{together['moved']:,}",
            f"{together['moved_share']:.1%}",
            str(together["split_groups"]),
            str(together["max_group_size"]),
            f"{together['seconds']:.3f}",
            "-",
            "-",
        ]
    )
    return rows


def one_by_one(
    current: pd.DataFrame,
    batch: pd.DataFrame,
    register: pd.DataFrame,
    pending: bool,
    split_after: int | None = None,
) -> dict:
    """Rebalance after every newcomer: the end state, the members moved (and by
    splits), reroutes, splits and the seconds spent in ``rebalance``.

    With ``pending`` every earlier newcomer is still waiting for their
    beheerder (``pending_adds``), as when several sign up between two rounds
    of the beheerders. Each step passes the previous plan's ``handed_on`` on and
    gives every address the group of its nearest member again, as the service
    keeps its territories (it re-shares only those of groups that changed).
    ``split_after`` replaces the rebalance's default limit on members handed on
    before a split.
    """
    state = current.copy()
    run = {"moved": 0, "split_moves": 0, "rerouted": 0, "splits": 0, "seconds": 0.0}
    waiting: list[str] = []
    handed_on: dict[str, int] = {}
    for _, one in batch.iterrows():
        territory = assign_addresses(register, state, state["group_id"])
        step = rebalance(
            state,
            joiners=one.to_frame().T,
            address_groups=territory.set_axis(register["address_key"]),
            max_size=CAP,
            pending_adds=waiting if pending else (),
            handed_on=handed_on,
            split_after=split_after,
        )
        handed_on = step.handed_on
        run["moved"] += step.summary["moved"]
        run["split_moves"] += int(step.moves["reason"].eq("split").sum())
        run["rerouted"] += step.summary["rerouted"]
        run["splits"] += step.summary["split_groups"]
        run["seconds"] += step.summary["seconds"]
        waiting.append(str(one["registration_id"]))
        everyone = pd.concat([state.drop(columns="group_id"), one.to_frame().T])
        state = everyone.set_index("registration_id").loc[step.assignment.index]
        state = state.assign(group_id=step.assignment).reset_index()
        assert state["group_id"].value_counts().max() <= CAP
    return {**run, "state": state}


NO_LIMIT = 10**9
"""``--split-after none``: a limit no group reaches."""


def limit_rows(
    name: str,
    current: pd.DataFrame,
    batch: pd.DataFrame,
    register: pd.DataFrame,
    limits: list[int | None],
) -> list[list[str]]:
    """Rows of the trade-off table: per limit on members handed on before a
    split, the moves of the newcomers one at a time (every change carried out
    at once) against the batch's moves plus the moves of the splits made."""
    territory = assign_addresses(register, current, current["group_id"])
    batch_moves = rebalance(
        current,
        joiners=batch,
        address_groups=territory.set_axis(register["address_key"]),
        max_size=CAP,
    ).summary["moved"]
    rows = []
    for limit in limits:
        run = one_by_one(current, batch, register, False, split_after=limit)
        bound = batch_moves + run["split_moves"]
        label = {None: "default", NO_LIMIT: "no limit"}.get(limit, str(limit))
        rows.append(
            [
                name,
                label,
                f"{run['moved']:,} ({run['split_moves']:,})",
                f"{batch_moves:,} + {run['split_moves']:,} = {bound:,}",
                "met" if run["moved"] <= bound else "not met",
            ]
        )
    return rows


def limit_table(seed: int, limits: list[int | None]) -> None:
    """Print the trade-off behind ``split_threshold`` on two settings: the demo
    tripling (500 members and 1,000 newcomers, the inputs of
    ``rebalance_api_bench.py``) and 10 % newcomers at 10,000 registrations."""
    from bench.rebalance_api_bench import people

    _, register, members, joining = people(seed, 10_000, 1_500, 1_000)
    members = members.assign(group_id=partition_members(members, max_size=CAP))
    rows = limit_rows("demo, tripling", members, joining, register, limits)

    everyone, register = members_of(40_000, 11_000, seed)
    newcomer = np.random.default_rng(seed).random(len(everyone)) < 1 / 11
    current = everyone[~newcomer].copy()
    current["group_id"] = partition_members(current, max_size=CAP).to_numpy()
    batch = everyone[newcomer].head(1_000)
    rows += limit_rows("40,000 addresses, +10 %", current, batch, register, limits)

    header = ["setting", "members handed on before a split", "moved (by splits)"]
    header += ["batch + splits", "moved within it"]
    print(f"cap {CAP}; newcomers one at a time, every change carried out at once")
    print(markdown_table(header, rows))


def _limits(text: str) -> list[int | None]:
    """``none,25,5,default`` -> [NO_LIMIT, 25, 5, None]."""
    limits: list[int | None] = []
    for part in text.split(","):
        part = part.strip().lower()
        if part == "none":
            limits.append(NO_LIMIT)
        elif part == "default":
            limits.append(None)
        elif part.isdigit() and int(part) >= 1:
            limits.append(int(part))
        else:
            raise ValueError(f"{part!r} is not none, default or a number >= 1")
    return limits


def main() -> None:
    """Run the scenarios and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--one-at-a-time",
        type=int,
        default=1_000,
        help="newcomers added one by one per municipality (default 1,000)",
    )
    parser.add_argument(
        "--split-after",
        help="only the trade-off table: comma-separated limits on members a "
        "group hands on before it splits (none, default or a number), e.g. "
        "none,25,10,5,2,1",
    )
    args = parser.parse_args()
    logging.disable(logging.INFO)
    if args.split_after:
        try:
            limits = _limits(args.split_after)
        except ValueError as error:
            parser.error(f"--split-after: {error}")
        limit_table(args.seed, limits)
        return

    rows = []
    members, register = members_of(10_000, 506, args.seed)
    rows += scenario(
        "demo (10,000 addresses)", members, register, args.seed, args.one_at_a_time
    )
    if LOSSER_BUURTEN.is_file():
        places = {
            "buurten": gpd.read_file(LOSSER_BUURTEN),
            "wijken": gpd.read_file(LOSSER_WIJKEN),
        }
        members, register = members_of(10_000, 506, args.seed, **places)
        rows += scenario(
            "Losser buurten, generated",
            members,
            register,
            args.seed,
            args.one_at_a_time,
        )
    else:
        print(f"skipped Losser: {LOSSER_BUURTEN} not found (needs ../shared/data)")

    # 10,000 registrations
    members, register = members_of(40_000, 11_000, args.seed)
    rows += scenario(
        "demo (40,000 addresses)", members, register, args.seed, args.one_at_a_time
    )

    header = [
        "municipality",
        "scenario",
        "members",
        "moved",
        "moved %",
        "splits",
        "largest group",
        "seconds",
        "contiguous %",
        "hull overlap %",
    ]
    print(f"cap {CAP}; moved = existing members placed in another group")
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
