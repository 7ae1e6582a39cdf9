"""Shared fixtures: the demo municipality and the real Losser open data."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest

from partition.demo import DemoMunicipality, make_demo_municipality

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LOSSER_BUURTEN = SHARED_DATA / "losser_buurten_2024_cbs_generalised_rd.geojson"
LOSSER_WIJKEN = SHARED_DATA / "losser_wijken_2024_cbs_generalised_rd.geojson"


def shared_file(path: Path) -> Path:
    """Return a file of ../shared/data, skipping the test when it is absent."""
    if not path.is_file():
        pytest.skip(f"real open data not present: {path} (needs ../shared/data)")
    return path


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
