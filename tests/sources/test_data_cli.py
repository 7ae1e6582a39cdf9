"""`buurtgroepen data ...` end to end with typer's CliRunner on `data_app`."""

from __future__ import annotations

import functools
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from typer.testing import CliRunner

from partition import io
from partition.demo import make_demo_municipality
from partition.sources import _http, pdok
from service import jobs
from service.data_cli import data_app
from tests.conftest import LOSSER_BUURTEN, LOSSER_WIJKEN, shared_file
from tests.sources.conftest import BAG_ITEMS, FakePdok, Fault, expected_bag_ids


def invoke(*args: object) -> object:
    """Run a `data` command in-process; return the click result."""
    return CliRunner().invoke(data_app, [str(a) for a in args])


def error_lines(result: object) -> list[str]:
    """The `error:` lines a failed command printed."""
    return [line for line in result.output.splitlines() if line.startswith("error:")]


@pytest.fixture
def fast_pdok(monkeypatch) -> None:
    """The download's own HTTP client, without real sleeping (retries, throttle)."""
    fast = functools.partial(_http.HttpClient, sleep=lambda seconds: None, timeout=5.0)
    monkeypatch.setattr(pdok, "HttpClient", fast)


@pytest.mark.shared
def test_import_cbs_of_losser_feeds_the_partition(tmp_path: Path) -> None:
    """The shared Losser layers become boundaries the partition run accepts."""
    out = tmp_path / "data" / "wijken" / "GM0168"
    files = [shared_file(LOSSER_BUURTEN), shared_file(LOSSER_WIJKEN)]
    result = invoke("import-cbs", *files, "--gemeente", "GM0168", "--out", out)
    assert result.exit_code == 0, result.output
    assert "imported 13 buurten and 5 wijken of GM0168 (edition 2024)" in result.output
    assert {p.name for p in out.iterdir()} == {
        "buurten.gpkg",
        "wijken.gpkg",
        "SOURCES.md",
    }

    # the boundary reader takes the file as it is: buurten and their wijken
    layers = io.read_boundaries(out / "buurten.gpkg")
    assert len(layers["buurt"]) == 13 and len(layers["wijk"]) == 5
    assert io.read_boundaries(out / "wijken.gpkg")["wijk"]["wijknaam"].notna().all()
    sources = (out / "SOURCES.md").read_text()
    assert "CC BY 4.0" in sources and "Bron: CBS, Kadaster" in sources
    assert "edition 2024" in sources and "generalised" in sources

    # generated addresses inside those buurten, partitioned within the buurten
    buurten = gpd.read_file(out / "buurten.gpkg")
    demo = make_demo_municipality(
        seed=3, n_addresses=1_500, n_registrations=150, buurten=buurten
    )
    inputs = tmp_path / "input"
    inputs.mkdir()
    demo.addresses.drop(columns="geometry").to_csv(
        inputs / "addresses.csv", index=False
    )
    demo.registrations.to_csv(inputs / "registrations.csv", index=False)
    summary = jobs.partition(
        inputs / "addresses.csv",
        inputs / "registrations.csv",
        tmp_path / "run",
        boundaries=out / "buurten.gpkg",
        max_size=30,
        within="buurt",
    )
    assert summary["groups"] > 0 and summary["group_size"]["max"] <= 30
    assert (tmp_path / "run" / "groups.geojson").is_file()


@pytest.mark.shared
def test_import_cbs_of_buurten_alone(tmp_path: Path) -> None:
    """Without a wijk layer there are no wijk names: the reader derives the codes."""
    out = tmp_path / "GM0168"
    result = invoke(
        "import-cbs", shared_file(LOSSER_BUURTEN), "--gemeente", "168", "--out", out
    )
    assert result.exit_code == 0, result.output
    assert not (out / "wijken.gpkg").exists()
    layers = io.read_boundaries(out / "buurten.gpkg")
    assert set(layers) == {"buurt"}
    assert layers["buurt"]["wijkcode"].str.match(r"^WK0168\d{2}$").all()


def test_a_file_without_polygons_is_refused(tmp_path: Path) -> None:
    """A CSV (an attribute table) is no boundary file: exit 2, nothing written."""
    table = tmp_path / "kerncijfers.csv"
    table.write_text("gwb_code,aantal_inwoners\nGM0168,23376\n")
    result = invoke(
        "import-cbs", table, "--gemeente", "GM0168", "--out", tmp_path / "out"
    )
    assert result.exit_code == 2
    assert "holds CBS wijk or buurt polygons" in error_lines(result)[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "bad",
    ["wrong-code", "wrong-schema", "no-crs", "missing-file", "name-in-generalised"],
)
def test_import_cbs_bad_input_gives_one_error_and_writes_nothing(
    bad: str, tmp_path: Path, edition_2023: Path, bag_linked: Path
) -> None:
    """Each bad input ends with one `error:` line, exit 2, and no output folder."""
    out = tmp_path / "out"
    arguments = {
        "wrong-code": (edition_2023, "--gemeente", "GM9999"),
        "wrong-schema": (bag_linked, "--gemeente", "GM0168"),
        "no-crs": (_no_crs_geojson(tmp_path), "--gemeente", "GM0168"),
        "missing-file": (tmp_path / "absent.gpkg", "--gemeente", "GM0168"),
        "name-in-generalised": (
            _no_crs_geojson(tmp_path, crs=True),
            "--gemeente",
            "Losser",
        ),
    }[bad]
    result = invoke("import-cbs", *arguments, "--out", out)
    assert result.exit_code == 2, result.output
    assert len(error_lines(result)) == 1
    assert not out.exists()


def _no_crs_geojson(folder: Path, *, crs: bool = False) -> Path:
    """A statcode layer in RD New metres, with or without its `crs` member."""
    member = (
        ', "crs": {"type": "name", "properties": {"name": "EPSG:28992"}}' if crs else ""
    )
    path = folder / ("with_crs.geojson" if crs else "no_crs.geojson")
    path.write_text(
        '{"type": "FeatureCollection"' + member + ', "features": [{"type": "Feature", '
        '"properties": {"statcode": "BU01680001", "statnaam": "Centrum"}, '
        '"geometry": {"type": "Polygon", "coordinates": [[[260000, 470000], '
        "[261000, 470000], [261000, 471000], [260000, 470000]]]}}]}"
    )
    return path


def test_import_bag_then_cbs_into_one_folder(
    tmp_path: Path, bag_linked: Path, edition_2023: Path
) -> None:
    """Addresses and boundaries side by side; SOURCES.md keeps both notices."""
    out = tmp_path / "GM0168"
    result = invoke("import-bag", bag_linked, "--gemeente", "GM0168", "--out", out)
    assert result.exit_code == 0, result.output
    assert "imported 8 addresses" in result.output
    result = invoke("import-cbs", edition_2023, "--gemeente", "Losser", "--out", out)
    assert result.exit_code == 0, result.output

    register = io.read_addresses(out / "addresses.gpkg")
    assert len(register) == 8 and register["nummeraanduiding_id"].str.len().eq(16).all()
    assert len(io.read_boundaries(out / "buurten.gpkg")["buurt"]) == 3
    sources = (out / "SOURCES.md").read_text()
    assert "## BAG addresses" in sources and "## CBS wijken en buurten" in sources
    assert "CC0 1.0" in sources and '"Verblijfsobject in gebruik"' in sources


def test_import_bag_by_bounding_box(tmp_path: Path, bag_flat: Path) -> None:
    """`--bbox` in RD New metres selects the addresses inside it."""
    out = tmp_path / "box"
    result = invoke(
        "import-bag", bag_flat, "--bbox", "259000,470000,260250,472000", "--out", out
    )
    assert result.exit_code == 0, result.output
    assert set(io.read_addresses(out / "addresses.gpkg")["postcode"]) == {
        "7581AA",
        "7581AB",
        "7522AA",
    }


@pytest.mark.parametrize(
    "options",
    [
        ("--gemeente", "GM0168", "--bbox", "259000,470000,260250,472000"),
        (),
        ("--bbox", "260000,470000"),
        ("--bbox", "262000,470000,261000,472000"),
        ("--gemeente", "GM9999"),
        ("--gemeente", "Losser"),
    ],
    ids=["both", "neither", "three-numbers", "inverted", "wrong-code", "a-name"],
)
def test_import_bag_bad_options_give_one_error(
    options: tuple, tmp_path: Path, bag_linked: Path
) -> None:
    """Exactly one of --gemeente/--bbox, well formed; else exit 2, nothing written."""
    out = tmp_path / "out"
    result = invoke("import-bag", bag_linked, *options, "--out", out)
    assert result.exit_code == 2, result.output
    assert len(error_lines(result)) == 1
    assert not out.exists()


def test_download_writes_boundaries_addresses_and_sources(
    pdok: FakePdok, fast_pdok, tmp_path: Path
) -> None:
    """The gemeente from PDOK, in the files `partition` reads; no journal left."""
    pdok.max_limit = 25
    out = tmp_path / "GM0168"
    result = invoke(
        "download", "--gemeente", "GM0168", "--out", out, "--base-url", pdok.url
    )
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"GM0168.gpkg", "SOURCES.md"}
    assert {name for name, _ in pyogrio.list_layers(out / "GM0168.gpkg")} == {
        "addresses",
        "buurten",
        "wijken",
    }

    register = io.read_addresses(out / "GM0168.gpkg")
    assert set(register["nummeraanduiding_id"]) == expected_bag_ids(pdok.bag)
    assert len(io.read_boundaries(out / "GM0168.gpkg")["buurt"]) == 2
    sources = (out / "SOURCES.md").read_text()
    assert "Downloaded" in sources and pdok.url in sources
    assert "CC0 1.0" in sources and "CC BY 4.0" in sources


def test_an_interrupted_download_resumes_without_duplicates(
    pdok: FakePdok, fast_pdok, tmp_path: Path
) -> None:
    """PDOK fails halfway: exit 2, journal kept; the rerun fetches only the rest."""
    pdok.max_limit = 10
    out = tmp_path / "GM0168"
    pdok.faults.append(Fault(BAG_ITEMS, status=503, times=100, after=4))
    first = invoke(
        "download", "--gemeente", "GM0168", "--out", out, "--base-url", pdok.url
    )
    assert first.exit_code == 2, first.output
    assert "did not answer" in error_lines(first)[0]
    assert [p.name for p in out.iterdir()] == [".download"]
    fetched = pdok.requests(BAG_ITEMS)[:4]

    pdok.faults.clear()
    start = len(pdok.log)
    second = invoke(
        "download", "--gemeente", "GM0168", "--out", out, "--base-url", pdok.url
    )
    assert second.exit_code == 0, second.output
    rerun = [r for r in pdok.log[start:] if r.startswith(BAG_ITEMS)]
    assert not set(fetched) & set(rerun)

    register = io.read_addresses(out / "GM0168.gpkg")
    assert register["nummeraanduiding_id"].is_unique
    assert set(register["nummeraanduiding_id"]) == expected_bag_ids(pdok.bag)
    assert not (out / ".download").exists()


def test_download_of_an_unknown_gemeente_writes_nothing(
    pdok: FakePdok, fast_pdok, tmp_path: Path
) -> None:
    """GM9999 is unknown to the CBS service: one error, no folder, no BAG request."""
    out = tmp_path / "GM9999"
    result = invoke(
        "download", "--gemeente", "GM9999", "--out", out, "--base-url", pdok.url
    )
    assert result.exit_code == 2
    assert "GM9999" in error_lines(result)[0]
    assert not out.exists() and not pdok.requests(BAG_ITEMS)


def test_a_geopackage_with_unknown_layers_is_refused(tmp_path: Path) -> None:
    """Several layers and none of the expected names: one clear error."""
    import geopandas as gpd
    import shapely

    from partition.errors import InputFileError

    path = tmp_path / "mixed.gpkg"
    frame = gpd.GeoDataFrame(
        {"a": [1]}, geometry=[shapely.Point(260_000, 470_000)], crs=28992
    )
    for layer in ("foo", "bar"):
        frame.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")
    with pytest.raises(InputFileError, match="several layers"):
        io.read_addresses(path)
