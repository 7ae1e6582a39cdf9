"""The CBS Wijk- en Buurtkaart importer on files in the official schemas."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from partition.boundaries import normalise_boundaries
from partition.errors import BuurtgroepenError, CRSError, InputFileError
from partition.sources import cbs, merge_sources
from tests.conftest import LOSSER_BUURTEN, LOSSER_WIJKEN, SHARED_DATA, shared_file
from tests.sources.conftest import box, write_cbs_2018, write_cbs_2023


def test_2023_edition_by_code(edition_2023: Path) -> None:
    """GM0168's land buurten with wijk names, figures and the edition year."""
    result = cbs.import_cbs(cbs.read_cbs_files([edition_2023]), "GM0168")

    buurten = result.buurten
    assert list(buurten.columns) == [*cbs.BUURT_COLUMNS, "geometry"]
    assert list(buurten["buurtcode"]) == ["BU01680001", "BU01680002", "BU01680101"]
    assert list(buurten["wijknaam"]) == [
        "Wijk 00 Losser",
        "Wijk 00 Losser",
        "Wijk 01 Glane",
    ]
    assert set(buurten["gemeentenaam"]) == {"Losser"} and set(buurten["jaar"]) == {2023}
    assert buurten.crs.to_epsg() == 28992 and buurten.is_valid.all()

    # secret (-99995) and unknown (-99997) figures are missing, others kept
    assert buurten["AANT_INW"].tolist() == [1500, pd.NA, 800]
    assert buurten["AANTAL_HH"].tolist() == [650, pd.NA, 330]
    assert buurten["WONINGEN"].tolist() == [700, 20, 340]
    assert list(result.wijken["wijkcode"]) == ["WK016800", "WK016801"]
    assert result.gemeentenaam == "Losser" and result.jaar == 2023


def test_selection_by_name_equals_selection_by_code(edition_2023: Path) -> None:
    """`losser` (any case) selects what GM0168 selects."""
    layers = cbs.read_cbs_files([edition_2023])
    by_code = cbs.import_cbs(layers, "168")
    by_name = cbs.import_cbs(layers, " losser ")
    pd.testing.assert_frame_equal(by_code.buurten, by_name.buurten)
    assert by_name.gemeentecode == "GM0168"


def test_water_only_buurten_are_left_out(edition_2023: Path) -> None:
    """The buurt marked WATER = JA is not a place where anyone lives."""
    result = cbs.import_cbs(cbs.read_cbs_files([edition_2023]), "GM0168")
    assert "BU01680199" not in set(result.buurten["buurtcode"])


def test_2018_edition_shapefiles(tmp_path: Path) -> None:
    """Upper-case columns, -99999999 for secret, the year from the file name."""
    paths = write_cbs_2018(tmp_path)
    result = cbs.import_cbs(cbs.read_cbs_files(paths), "GM0168")
    assert list(result.buurten["buurtcode"]) == ["BU01680001", "BU01680002"]
    assert result.buurten["AANT_INW"].tolist() == [1480, pd.NA]
    assert result.buurten["AANTAL_HH"].tolist() == [640, pd.NA]
    assert set(result.buurten["wijknaam"]) == {"Wijk 00 Losser"}
    assert result.jaar == 2018 and result.gemeentenaam == "Losser"


def test_the_output_is_what_the_boundary_reader_expects(edition_2023: Path) -> None:
    """normalise_boundaries finds buurten and wijken with the same codes."""
    result = cbs.import_cbs(cbs.read_cbs_files([edition_2023]), "GM0168")
    layers = normalise_boundaries(result.buurten)
    assert list(layers["buurt"]["buurtcode"]) == list(result.buurten["buurtcode"])
    assert set(layers["wijk"]["wijkcode"]) == set(result.wijken["wijkcode"])
    assert normalise_boundaries(result.wijken)["wijk"]["wijknaam"].notna().all()


@pytest.mark.shared
def test_the_generalised_losser_layers(tmp_path: Path) -> None:
    """The real CBS layers of ../shared/data: 13 buurten, 5 wijken, 2024."""
    files = [shared_file(LOSSER_BUURTEN), shared_file(LOSSER_WIJKEN)]
    result = cbs.import_cbs(cbs.read_cbs_files(files), "GM0168")
    assert len(result.buurten) == 13 and len(result.wijken) == 5
    assert result.jaar == 2024 and result.generalised
    assert result.buurten["buurtcode"].str.match(r"^BU0168\d{4}$").all()
    by_code = result.buurten.set_index("buurtcode")
    assert by_code.loc["BU01680301", "wijknaam"] == "Wijk 03 De Lutte"
    assert by_code.loc["BU01680301", "buurtnaam"] == "De Lutte kern"
    area = result.buurten.area.sum() / 1e6
    assert 95 < area < 105  # Losser is about 100 km2 (SOURCES.md)

    # the WGS84 copy gives the same buurten in RD New
    wgs84 = SHARED_DATA / "losser_buurten_2024_cbs_generalised_wgs84.geojson"
    other = cbs.import_cbs(cbs.read_cbs_files([shared_file(wgs84)]), "GM0168")
    assert list(other.buurten["buurtcode"]) == list(result.buurten["buurtcode"])
    assert np.allclose(other.buurten.area, result.buurten.area, rtol=1e-3)


def test_a_wrong_code_names_the_codes_present(edition_2023: Path) -> None:
    """GM9999 is refused with the codes the file does hold."""
    layers = cbs.read_cbs_files([edition_2023])
    with pytest.raises(BuurtgroepenError, match=r"GM9999 is not in .*GM0153, GM0168"):
        cbs.import_cbs(layers, "GM9999")
    with pytest.raises(BuurtgroepenError, match="'Atlantis' is not in"):
        cbs.import_cbs(layers, "Atlantis")


def test_a_name_without_names_in_the_file_asks_for_the_code(tmp_path: Path) -> None:
    """Generalised layers carry no gemeentenaam: select them by code."""
    frame = gpd.GeoDataFrame(
        {
            "statcode": ["BU01680001"],
            "statnaam": ["Centrum"],
            "jrstatcode": ["2024BU01680001"],
        },
        geometry=[box(260_000, 470_000, 261_000, 471_000)],
        crs="EPSG:28992",
    )
    with pytest.raises(BuurtgroepenError, match="pass the gemeentecode instead"):
        cbs.import_cbs([("buurt_2024.geojson", frame)], "Losser")


def test_a_file_in_another_schema_is_refused(bag_linked: Path) -> None:
    """A BAG GeoPackage is not a Wijk- en Buurtkaart: one InputFileError."""
    layers = cbs.read_cbs_files([bag_linked])
    with pytest.raises(InputFileError, match="not a CBS Wijk- en Buurtkaart layer"):
        cbs.import_cbs(layers, "GM0168")


def test_a_file_without_crs_is_refused(tmp_path: Path) -> None:
    """RD New metres in a GeoJSON without `crs` member, or a GPKG without SRS."""
    geojson = tmp_path / "buurten.geojson"
    feature = {
        "type": "Feature",
        "properties": {"statcode": "BU01680001", "statnaam": "Centrum"},
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[260000, 470000], [261000, 470000], [261000, 471000], [260000, 470000]]
            ],
        },
    }
    geojson.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    with pytest.raises(CRSError, match="declares no CRS"):
        cbs.read_cbs_files([geojson])

    gpkg = write_cbs_2023(tmp_path / "no_crs.gpkg", crs=None)
    with pytest.raises(CRSError, match="layer `gemeenten`: the layer declares no CRS"):
        cbs.read_cbs_files([gpkg])


def test_a_malformed_code_names_the_row_and_field(tmp_path: Path) -> None:
    """A buurtcode that is not BU + 8 digits stops the import at that row."""
    frame = gpd.GeoDataFrame(
        {
            "buurtcode": ["BU01680001", "BU0168002X"],
            "buurtnaam": ["A", "B"],
            "gemeentecode": ["GM0168"] * 2,
        },
        geometry=[box(0, 300_000, 1, 300_001), box(1, 300_000, 2, 300_001)],
        crs="EPSG:28992",
    )
    with pytest.raises(
        InputFileError, match=r"row 2, field `buurtcode`: expected a CBS buurt code"
    ):
        cbs.import_cbs([("buurten.gpkg", frame)], "GM0168")


@given(
    st.integers(1, 9999),
    st.sampled_from(["GM{:04d}", "gm{:04d}", "{:04d}", "{}", " GM{} "]),
)
def test_gemeentecodes_in_any_spelling(number: int, spelling: str) -> None:
    """Codes normalise to GM + four digits; names and zero do not."""
    assert cbs.normalise_gemeentecode(spelling.format(number)) == f"GM{number:04d}"


@pytest.mark.parametrize("value", ["Losser", "GM", "GM12345", "0", "", "BU01680001"])
def test_non_codes_are_not_gemeentecodes(value: str) -> None:
    """Anything but 1-4 digits (optionally after GM) is not a code."""
    assert cbs.normalise_gemeentecode(value) is None


def test_sources_md_keeps_the_blocks_of_other_imports() -> None:
    """A new CBS block replaces the old CBS block and keeps the BAG block."""
    text = merge_sources(None, "bag", "## BAG addresses\n\n- one")
    text = merge_sources(text, "cbs", "## CBS old")
    text = merge_sources(text, "cbs", "## CBS new")
    assert text.count("## BAG addresses") == 1 and "## CBS new" in text
    assert "CBS old" not in text and text.startswith("# Sources")
