"""A generated national test set: every Dutch municipality at its real size.

GEGENEREERD, geen echte adressen. Each of the 342 municipalities of 2024 gets a
demo municipality (:func:`partition.demo.make_demo_municipality`) with as many
addresses as its share of the country's households, under its real gemeentecode
and name; the addresses, streets, postcodes and registrations are fictional.
It is made to measure a national run (``bench/national_bench.py``), not to
describe any real place.

The size table ``partition/data/gemeenten_2024.csv`` holds the CBS figures
(inhabitants and households per municipality, Kerncijfers wijken en buurten
2024, CC BY 4.0, see ``partition/data/SOURCES.md``).
"""

from __future__ import annotations

import math
from importlib import resources

import geopandas as gpd
import numpy as np
import pandas as pd

from partition.demo import DEMO_LABEL, DemoMunicipality, make_demo_municipality
from partition.errors import BuurtgroepenError

NATIONAL_ADDRESSES = 9_900_000
"""Addresses in the Netherlands (BAG, about 9.9 million with a residential use)."""

SIZE_COLUMNS = ["gemeentecode", "gemeentenaam", "aantal_inwoners", "huishoudens"]
PLAN_COLUMNS = ["gemeentecode", "gemeentenaam", "addresses", "registrations", "seed"]

_MIN_ADDRESSES = 100
_MAX_PARTICIPATION = 0.4


def gemeente_sizes() -> pd.DataFrame:
    """The CBS size table: one row per municipality of 2024 (``SIZE_COLUMNS``)."""
    text = resources.files("partition").joinpath("data/gemeenten_2024.csv")
    with text.open("r", encoding="utf-8") as handle:
        table = pd.read_csv(handle, dtype={"gemeentecode": "string"})
    return table[SIZE_COLUMNS]


def plan_national(
    sizes: pd.DataFrame,
    *,
    total_addresses: int = NATIONAL_ADDRESSES,
    share: float = 1.0,
    participation: float = 0.1,
    seed: int = 0,
) -> pd.DataFrame:
    """How many addresses and registrations each generated municipality gets.

    Parameters
    ----------
    sizes
        ``gemeentecode``, ``gemeentenaam`` and ``huishoudens`` per municipality
        (:func:`gemeente_sizes`).
    total_addresses
        Addresses of the whole set; shared out in proportion to the households,
        at least 100 per municipality.
    share
        Keep a seeded random sample of this share of the municipalities (0.1:
        "10 % of the national set"), at their full size.
    participation
        Registrations per address, 0 to 0.4.
    seed
        Seed of the sample and of every municipality (``seed * 10_000`` plus
        the four digits of its code).

    Returns
    -------
    plan
        ``PLAN_COLUMNS``, largest municipality first.
    """
    if not 0 < share <= 1:
        raise BuurtgroepenError(f"`share` must be in (0, 1]; got {share}.")
    if not 0 <= participation <= _MAX_PARTICIPATION:
        msg = f"`participation` must be in [0, 0.4]; got {participation}."
        raise BuurtgroepenError(msg)
    if total_addresses < _MIN_ADDRESSES * len(sizes):
        msg = (
            f"`total_addresses` must be at least {_MIN_ADDRESSES * len(sizes):,} "
            f"({_MIN_ADDRESSES} per municipality); got {total_addresses:,}."
        )
        raise BuurtgroepenError(msg)

    households = sizes["huishoudens"].to_numpy(dtype=float)
    addresses = np.maximum(
        _MIN_ADDRESSES, np.rint(households * total_addresses / households.sum())
    ).astype(np.int64)
    plan = pd.DataFrame(
        {
            "gemeentecode": sizes["gemeentecode"].to_numpy(),
            "gemeentenaam": sizes["gemeentenaam"].to_numpy(),
            "addresses": addresses,
            "registrations": np.rint(addresses * participation).astype(np.int64),
            "seed": [seed * 10_000 + int(code[2:]) for code in sizes["gemeentecode"]],
        }
    )

    if share < 1:
        keep = max(1, math.ceil(share * len(plan)))
        plan = plan.sample(n=keep, random_state=seed)
    return plan.sort_values(
        ["addresses", "gemeentecode"], ascending=[False, True]
    ).reset_index(drop=True)[PLAN_COLUMNS]


def make_national_municipality(
    gemeentecode: str,
    gemeentenaam: str,
    *,
    addresses: int,
    registrations: int,
    seed: int,
) -> DemoMunicipality:
    """One generated municipality under a real code and name (GEGENEREERD).

    The demo's fictional codes are replaced: ``gemeentecode`` is added to the
    addresses, ``BU9999..``/``WK9999..`` become ``BU<digits>..``/``WK<digits>..``,
    nummeraanduiding ids start with the four digits, woonplaats names end in the
    municipality's name (``"Demodorp Losser"``) and registration ids start with
    the code (``"GM0168-R00001"``), so nothing collides between municipalities.
    """
    demo = make_demo_municipality(
        seed=seed, n_addresses=addresses, n_registrations=registrations
    )
    digits = gemeentecode[2:]
    register = demo.addresses.copy()
    register.insert(0, "gemeentecode", gemeentecode)
    for col in ("buurtcode", "wijkcode"):
        register[col] = _recode(register[col], digits)
    register["nummeraanduiding_id"] = digits + register["nummeraanduiding_id"].str[4:]
    register["woonplaats"] = register["woonplaats"] + f" {gemeentenaam}"

    people = demo.registrations.copy()
    people["registration_id"] = f"{gemeentecode}-" + people["registration_id"]
    buurten = demo.buurten.assign(
        buurtcode=_recode(demo.buurten["buurtcode"], digits),
        wijkcode=_recode(demo.buurten["wijkcode"], digits),
    )
    wijken = demo.wijken.assign(wijkcode=_recode(demo.wijken["wijkcode"], digits))
    for frame in (register, people, buurten, wijken):
        frame.attrs["source"] = DEMO_LABEL
    return DemoMunicipality(
        name=f"{gemeentenaam} (gegenereerd)",
        gemeentecode=gemeentecode,
        addresses=gpd.GeoDataFrame(register, geometry="geometry", crs=register.crs),
        registrations=people,
        buurten=buurten,
        wijken=wijken,
    )


def _recode(codes: pd.Series, digits: str) -> pd.Series:
    """``BU99990003`` -> ``BU01680003`` for gemeente digits ``0168``."""
    return codes.str.slice(0, 2) + digits + codes.str.slice(6)
