"""Shared fixtures and helpers: the demo municipality, generated towns and the
real Losser open data."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from partition.demo import DemoMunicipality, make_demo_municipality
from partition.geocode import RegisterGeocoder

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LOSSER_BUURTEN = SHARED_DATA / "losser_buurten_2024_cbs_generalised_rd.geojson"
LOSSER_WIJKEN = SHARED_DATA / "losser_wijken_2024_cbs_generalised_rd.geojson"


def shared_file(path: Path) -> Path:
    """Return a file of ../shared/data, skipping the test when it is absent."""
    if not path.is_file():
        pytest.skip(f"real open data not present: {path} (needs ../shared/data)")
    return path


def generated_members(
    seed: int, n_addresses: int, n_registrations: int, n: int
) -> pd.DataFrame:
    """The first ``n`` geocoded registrations of a generated municipality."""
    demo = make_demo_municipality(
        seed=seed, n_addresses=n_addresses, n_registrations=n_registrations
    )
    register = pd.DataFrame(demo.addresses.drop(columns="geometry"))
    geocoded = RegisterGeocoder(register).geocode(demo.registrations)
    return geocoded[geocoded["match_quality"].ne("unmatched")].iloc[:n]


@pytest.fixture(scope="session")
def demo() -> DemoMunicipality:
    """The default demo municipality (seed 0)."""
    return make_demo_municipality(seed=0)


@pytest.fixture(scope="session")
def losser_buurten() -> gpd.GeoDataFrame:
    """The 13 CBS buurten of Losser (GM0168), generalised, RD New."""
    return gpd.read_file(shared_file(LOSSER_BUURTEN))


@pytest.fixture(scope="session")
def losser_wijken() -> gpd.GeoDataFrame:
    """The 5 CBS wijken of Losser (GM0168), generalised, RD New."""
    return gpd.read_file(shared_file(LOSSER_WIJKEN))
