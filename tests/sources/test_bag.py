"""The BAG GeoPackage importer on files in the official layouts."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from partition.errors import BuurtgroepenError, CRSError, InputFileError
from partition.register import prepare_register
from partition.sources import bag
from tests.sources.conftest import BAG_ROWS, bag_row_ids, write_bag_linked


def expected_ids(gemeente: str = "0168") -> set[str]:
    """Nummeraanduiding ids of the fixture rows the importer must keep."""
    return {
        bag_row_ids(n, row.street)[1]
        for n, row in enumerate(BAG_ROWS.itertuples())
        if row.kept and bag_row_ids(n, row.street)[1].startswith(gemeente)
    }


@pytest.fixture(params=["bag_linked", "bag_flat"])
def bag_file(request) -> Path:
    """The fixture BAG GeoPackage in each layout."""
    return request.getfixturevalue(request.param)


def test_only_addresses_in_use_with_a_postcode_are_kept(bag_file: Path) -> None:
    """In-use statuses, issued addresses with postcode; ligplaatsen too."""
    register = bag.import_bag(bag.read_bag_geopackage(bag_file), gemeente="GM0168")
    ids = set(register["nummeraanduiding_id"])
    ligplaats = {"0168200000009999"} if "linked" in bag_file.name else set()
    assert ids == expected_ids() | ligplaats
    assert set(register["status"]) <= set(bag.IN_USE_STATUSES)
    assert set(register["gemeentecode"]) == {"GM0168"}


def test_the_register_follows_the_contract(bag_file: Path) -> None:
    """Columns, normalised parts, points in RD New; the reader accepts it again."""
    register = bag.import_bag(bag.read_bag_geopackage(bag_file), gemeente="0168")
    assert set(bag.REGISTER_COLUMNS) <= set(register.columns)
    assert register.crs.to_epsg() == 28992 and register["address_key"].is_unique
    row = register.set_index("address_key").loc["7581AB|7||HS"]
    assert row["openbare_ruimte"] == "Proefstraat" and row["woonplaats"] == "Losser"
    assert row["status"] == "Verbouwing verblijfsobject" and row["oppervlakte"] == 80
    assert register.set_index("address_key").loc["7581AA|1|A|", "huisletter"] == "A"
    # the street's woonplaats link gives De Lutte for the Toetsweg
    assert (
        register.set_index("address_key").loc["7587AA|10||", "woonplaats"] == "De Lutte"
    )
    assert len(prepare_register(register)) == len(register)


def test_uses_are_kept_for_the_coverage_to_filter(bag_file: Path) -> None:
    """Shops stay in the register (territories), marked by their gebruiksdoel."""
    register = bag.import_bag(bag.read_bag_geopackage(bag_file), gemeente="GM0168")
    uses = register.set_index("address_key")["gebruiksdoel"]
    assert uses["7581AB|9||"] == "winkelfunctie"
    assert uses["7581AB|5||"] == "woonfunctie,winkelfunctie"


def test_selection_by_bounding_box(bag_file: Path) -> None:
    """A box keeps exactly the in-use addresses inside it, of any gemeente."""
    layers = bag.read_bag_geopackage(bag_file)
    register = bag.import_bag(layers, bbox=(259_000, 470_000, 260_250, 472_000))
    assert set(register["postcode"]) == {"7581AA", "7581AB", "7522AA"}
    assert register["x"].between(259_000, 260_250).all()
    assert "7522AA|20||" in set(register["address_key"])


def test_other_gemeente_by_code(bag_file: Path) -> None:
    """GM0153 holds the one Enschede address of the fixture."""
    register = bag.import_bag(bag.read_bag_geopackage(bag_file), gemeente="GM0153")
    assert list(register["address_key"]) == ["7522AA|20||"]


def test_a_wrong_code_says_which_codes_are_there(bag_file: Path) -> None:
    """GM9999 is not in the file: one error listing the codes that are."""
    layers = bag.read_bag_geopackage(bag_file)
    with pytest.raises(BuurtgroepenError, match=r"GM9999.*holds none.*GM0153, GM0168"):
        bag.import_bag(layers, gemeente="GM9999")
    with pytest.raises(
        BuurtgroepenError, match="must be a gemeentecode such as GM0168"
    ):
        bag.import_bag(layers, gemeente="Losser")


def test_a_file_in_another_schema_is_refused(edition_2023: Path) -> None:
    """A CBS GeoPackage has no verblijfsobject layer."""
    with pytest.raises(
        InputFileError, match="not a BAG GeoPackage.*no `verblijfsobject`"
    ):
        bag.read_bag_geopackage(edition_2023)


def test_a_layer_without_a_needed_column_is_refused(bag_linked: Path) -> None:
    """A verblijfsobject layer without status names the missing column."""
    path = bag_linked
    layers = bag.read_bag_geopackage(path)
    layers["verblijfsobject"] = layers["verblijfsobject"].drop(columns="status")
    with pytest.raises(
        InputFileError, match="layer `verblijfsobject`.*missing column `status`"
    ):
        bag.import_bag(layers, gemeente="GM0168", source=path)


def test_a_file_without_crs_is_refused(tmp_path: Path) -> None:
    """Points without a declared CRS cannot be placed."""
    path = write_bag_linked(tmp_path / "bag.gpkg", crs=None)
    with pytest.raises(CRSError, match="declares no CRS"):
        bag.read_bag_geopackage(path)


def test_numeric_identifiers_are_zero_padded(bag_linked: Path) -> None:
    """Ids stored as numbers regain their 16 digits (and links still join)."""
    layers = bag.read_bag_geopackage(bag_linked)
    for name, column in (
        ("verblijfsobject", "nummeraanduiding_hoofdadres_identificatie"),
        ("nummeraanduiding", "identificatie"),
    ):
        layers[name] = layers[name].assign(
            **{column: layers[name][column].astype("int64")}
        )
    register = bag.import_bag(layers, gemeente="GM0168")
    assert set(register["nummeraanduiding_id"]) >= expected_ids()
    assert register["nummeraanduiding_id"].str.len().eq(16).all()


def test_a_repeated_address_is_kept_once(bag_flat: Path, caplog) -> None:
    """Two objects on one address (a source inconsistency): the first is kept."""
    layers = dict(bag.read_bag_geopackage(bag_flat))
    frame = layers["verblijfsobject"]
    twin = frame.iloc[[0]].assign(identificatie="0168010000000777")
    layers["verblijfsobject"] = gpd.GeoDataFrame(
        pd.concat([frame, twin]), crs=frame.crs
    )
    register = bag.import_bag(layers, gemeente="GM0168")
    assert register["address_key"].is_unique and len(register) == len(expected_ids())
    assert "repeat an address" in caplog.text
