"""The command line end to end: the demo, real Losser boundaries and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from typer.testing import CliRunner

from service.cli import app
from tests.conftest import LOSSER_BUURTEN, LOSSER_WIJKEN, shared_file

OUTPUTS = {"assignments.csv", "groups.geojson", "map.html", "summary.json"}
PHONE = re.compile(r"(\+31|0031|\b0)6[\s-]?\d{8}\b")


def invoke(*args: object) -> object:
    """Run the CLI in-process and return the click result."""
    return CliRunner().invoke(app, [str(a) for a in args])


def check_partition_outputs(out: Path, max_size: int) -> dict:
    """The invariants every partition run's outputs must satisfy."""
    assert {p.name for p in out.iterdir()} >= OUTPUTS
    summary = json.loads((out / "summary.json").read_text())
    assignments = pd.read_csv(out / "assignments.csv", dtype=str)
    unmatched = pd.read_csv(out / "unmatched.csv", dtype=str)
    registrations = pd.read_csv(out / "input" / "registrations.csv", dtype=str)

    # every geocoded registration exactly once; totals conserved
    assert assignments["registration_id"].is_unique
    assert len(assignments) == summary["geocoded"]
    assert len(assignments) + len(unmatched) == len(registrations)
    assert set(assignments["registration_id"]) | set(
        unmatched["registration_id"]
    ) == set(registrations["registration_id"])

    # no group above the cap, none across two woonplaatsen
    sizes = assignments["group_id"].value_counts()
    assert sizes.max() <= max_size
    assert (assignments.groupby("group_id")["woonplaats"].nunique() == 1).all()

    groups = gpd.read_file(out / "groups.geojson")
    assert groups.crs.to_epsg() == 4326
    assert set(groups["group_id"]) == set(sizes.index)
    assert groups.set_index("group_id")["size"].to_dict() == sizes.to_dict()
    assert groups.geometry.notna().all() and groups.is_valid.all()
    return summary


def test_demo_writes_the_four_outputs_and_prints_the_summary(tmp_path: Path) -> None:
    """`buurtgroepen demo` runs the whole pipeline on the generated default."""
    out = tmp_path / "demo"
    result = invoke("demo", "--out", out)
    assert result.exit_code == 0, result.output
    for word in ("addresses", "registrations", "geocoded", "groups", "seconds"):
        assert word in result.output
    assert str(out.resolve()) in result.output

    summary = check_partition_outputs(out, 50)
    assert summary["addresses"] == 10_000
    recruitment = pd.read_csv(out / "recruitment.csv")
    assert list(recruitment.columns) == [
        "rank",
        "woonplaats",
        "openbare_ruimte",
        "buurtcode",
        "huisnummers",
        "newly_covered",
        "cumulative_radius_coverage",
    ]
    assert recruitment["cumulative_radius_coverage"].is_monotonic_increasing
    coverage = pd.read_csv(out / "coverage.csv")
    assert set(coverage["class"]) <= {
        "blind",
        "under-covered",
        "covered",
        "well covered",
    }
    assert (out / "coverage.html").stat().st_size > 0
    assert summary["registrations"] == 460
    assert summary["unmatched"] == sum(summary["unmatched_reasons"].values())
    assert set(summary["seconds"]) >= {"geocode", "partition", "territories"}


def test_map_shows_layers_and_no_personal_data(tmp_path: Path) -> None:
    """The map has its layers and no phone number or full address in it."""
    out = tmp_path / "demo"
    assert invoke("demo", "--out", out).exit_code == 0

    # rerun the partition with phone numbers added to the registrations
    inputs = out / "input"
    registrations = pd.read_csv(inputs / "registrations.csv", dtype=str)
    registrations["telefoon"] = [
        f"06{10_000_000 + i}" for i in range(len(registrations))
    ]
    registrations.to_csv(inputs / "registrations.csv", index=False)
    result = invoke(
        "partition",
        "--addresses",
        inputs / "addresses.csv",
        "--registrations",
        inputs / "registrations.csv",
        "--boundaries",
        inputs / "buurten.geojson",
        "--max-size",
        50,
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output

    html = (out / "map.html").read_text()
    for layer in ("Buurtgrenzen", "Dekking per buurt", "Groepen"):
        assert layer in html
    assert "GEGENEREERD" in html
    assert not PHONE.search(html)
    addresses = pd.read_csv(inputs / "addresses.csv", dtype=str)
    registered = addresses.merge(registrations, on=["postcode", "huisnummer"])
    for row in registered.head(50).itertuples():
        assert f"{row.openbare_ruimte} {row.huisnummer}" not in html
        assert row.postcode not in html


def test_demo_in_real_losser_boundaries_keeps_villages_apart(tmp_path: Path) -> None:
    """Generated addresses in the CBS buurten of Losser: five woonplaatsen."""
    out = tmp_path / "losser"
    result = invoke(
        "demo",
        "--out",
        out,
        "--boundaries",
        shared_file(LOSSER_BUURTEN),
        "--wijken",
        shared_file(LOSSER_WIJKEN),
    )
    assert result.exit_code == 0, result.output
    summary = check_partition_outputs(out, 50)
    assert set(summary["woonplaatsen"]) == {
        "Losser",
        "Overdinkel",
        "De Lutte",
        "Glane",
        "Beuningen",
    }
    assignments = pd.read_csv(out / "assignments.csv", dtype=str)
    assert assignments["buurtcode"].str.match(r"^BU0168\d{4}$").all()


def test_partition_within_buurt_never_crosses_a_buurt(tmp_path: Path) -> None:
    """`--within buurt` keeps every group inside one buurt."""
    out = tmp_path / "demo"
    assert invoke("demo", "--out", out).exit_code == 0
    inputs = out / "input"
    result = invoke(
        "partition",
        "--addresses",
        inputs / "addresses.csv",
        "--registrations",
        inputs / "registrations.csv",
        "--boundaries",
        inputs / "buurten.geojson",
        "--max-size",
        30,
        "--within",
        "buurt",
        "--seed",
        7,
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    check_partition_outputs(out, 30)
    assignments = pd.read_csv(out / "assignments.csv", dtype=str)
    assert (assignments.groupby("group_id")["buurtcode"].nunique() == 1).all()


def test_geocode_command_writes_one_row_per_registration(tmp_path: Path) -> None:
    """`buurtgroepen geocode` reports counts and keeps every registration."""
    out = tmp_path / "demo"
    assert invoke("demo", "--out", out).exit_code == 0
    target = tmp_path / "geocoded.csv"
    result = invoke(
        "geocode",
        "--addresses",
        out / "input" / "addresses.csv",
        "--registrations",
        out / "input" / "registrations.csv",
        "--out",
        target,
    )
    assert result.exit_code == 0, result.output
    geocoded = pd.read_csv(target, dtype=str)
    assert len(geocoded) == 460
    assert (
        geocoded["match_quality"]
        .isin(["exact", "toevoeging_unique", "fuzzy", "unmatched"])
        .all()
    )


@pytest.fixture(scope="module")
def demo_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo input files to break in various ways."""
    out = tmp_path_factory.mktemp("inputs")
    assert invoke("demo", "--out", out).exit_code == 0
    return out / "input"


def break_file(source: Path, target: Path, change: object) -> Path:
    """Copy a CSV with one change applied to its frame."""
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    changed = change(frame)
    (frame if changed is None else changed).to_csv(target, index=False)
    return target


def set_cell(column: str, row: int, value: str) -> object:
    """A change that overwrites one cell."""

    def change(frame: pd.DataFrame) -> None:
        frame.loc[row, column] = value

    return change


@pytest.mark.parametrize(
    ("which", "change", "expected"),
    [
        (
            "addresses",
            lambda f: f.drop(columns="woonplaats"),
            r"addresses\.csv.*`woonplaats`",
        ),
        (
            "addresses",
            set_cell("postcode", 41, "75 81AB"),
            r"addresses\.csv, row 42, field `postcode`",
        ),
        (
            "addresses",
            set_cell("x", 7, "not-a-number"),
            r"addresses\.csv, row 8, field `x`",
        ),
        ("addresses", set_cell("y", 3, "52.3"), r"row 4, field `y`.*EPSG:28992"),
        (
            "registrations",
            lambda f: f.drop(columns="huisnummer"),
            r"registrations\.csv.*`huisnummer`",
        ),
        (
            "registrations",
            set_cell("registration_id", 5, "R00001"),
            r"registrations\.csv, row 6, field `registration_id`",
        ),
    ],
)
def test_bad_input_files_exit_2_and_write_nothing(
    demo_inputs: Path, tmp_path: Path, which: str, change: object, expected: str
) -> None:
    """One message naming file, row and field; exit 2; no output folder."""
    files = {
        "addresses": demo_inputs / "addresses.csv",
        "registrations": demo_inputs / "registrations.csv",
    }
    files[which] = break_file(files[which], tmp_path / f"{which}.csv", change)
    out = tmp_path / "out"
    result = invoke(
        "partition",
        "--addresses",
        files["addresses"],
        "--registrations",
        files["registrations"],
        "--max-size",
        50,
        "--out",
        out,
    )
    assert result.exit_code == 2
    assert re.search(expected, result.output), result.output
    assert not out.exists()
    assert "75 81AB" not in result.output


def _partition(addresses: Path, registrations: Path, out: Path) -> object:
    """Run `partition` on the two files at cap 50."""
    return invoke(
        "partition",
        "--addresses",
        addresses,
        "--registrations",
        registrations,
        "--max-size",
        50,
        "--out",
        out,
    )


@pytest.mark.parametrize(
    ("separator", "encoding"),
    [(";", "cp1252"), (",", "utf-8-sig"), ("\t", "utf-8")],
    ids=["dutch-excel", "utf-8-with-bom", "tabs"],
)
def test_spreadsheet_csv_dialects_read_as_the_plain_file(
    demo_inputs: Path, tmp_path: Path, separator: str, encoding: str
) -> None:
    """Semicolons, decimal commas and Windows-1252 (a Dutch Excel), a byte-order
    mark or tabs give the same groups as the plain UTF-8 comma files; a UTF-16
    file exits 2."""
    plain = demo_inputs / "registrations.csv"
    frame = pd.read_csv(plain, dtype=str, keep_default_na=False)
    frame.loc[0, "voornaam"] = "Zoë"  # a letter that differs in the two encodings
    frame.to_csv(tmp_path / "plain.csv", index=False)
    saved = tmp_path / "saved.csv"
    frame.to_csv(saved, index=False, sep=separator, encoding=encoding)
    addresses = demo_inputs / "addresses.csv"
    register = pd.read_csv(addresses, dtype=str, keep_default_na=False)
    register[["x", "y"]] = register[["x", "y"]].astype(float) + 0.25
    register.to_csv(tmp_path / "register.csv", index=False)
    decimal = "," if separator == ";" else "."
    saved_register = tmp_path / "saved_register.csv"
    register.to_csv(
        saved_register, index=False, sep=separator, encoding=encoding, decimal=decimal
    )

    first = _partition(
        tmp_path / "register.csv", tmp_path / "plain.csv", tmp_path / "plain"
    )
    second = _partition(saved_register, saved, tmp_path / "saved")

    assert first.exit_code == 0 and second.exit_code == 0, second.output
    for name in ("assignments.csv", "unmatched.csv"):
        assert (tmp_path / "plain" / name).read_bytes() == (
            tmp_path / "saved" / name
        ).read_bytes()
    frame.to_csv(tmp_path / "wide.csv", index=False, encoding="utf-16")
    wide = _partition(saved_register, tmp_path / "wide.csv", tmp_path / "wide")
    assert wide.exit_code == 2 and "UTF-16" in wide.output
    assert not (tmp_path / "wide").exists()


def test_boundaries_without_crs_exit_2(demo_inputs: Path, tmp_path: Path) -> None:
    """A GeoJSON with no CRS member and non-WGS84 numbers is refused."""
    buurten = gpd.read_file(demo_inputs / "buurten.geojson").to_crs(28992)
    layer = json.loads(buurten.to_json(drop_id=True))
    layer.pop("crs", None)
    path = tmp_path / "no_crs.json"
    path.write_text(json.dumps(layer))
    out = tmp_path / "out"
    result = invoke(
        "partition",
        "--addresses",
        demo_inputs / "addresses.csv",
        "--registrations",
        demo_inputs / "registrations.csv",
        "--boundaries",
        path,
        "--max-size",
        50,
        "--out",
        out,
    )
    assert result.exit_code == 2
    assert "no_crs.json" in result.output
    assert not out.exists()


@pytest.mark.parametrize(("cap", "message"), [(2000, "1024"), (0, "between 1")])
def test_cap_outside_whatsapp_limit_exits_2(
    demo_inputs: Path, tmp_path: Path, cap: int, message: str
) -> None:
    """`--max-size` above 1024 (the WhatsApp limit) or below 1 is refused."""
    out = tmp_path / "out"
    result = invoke(
        "partition",
        "--addresses",
        demo_inputs / "addresses.csv",
        "--registrations",
        demo_inputs / "registrations.csv",
        "--max-size",
        cap,
        "--out",
        out,
    )
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()


def _rebalance(inputs: Path, registrations: Path, assignments: Path, out: Path):
    """Run `rebalance` on the demo's addresses at cap 50."""
    return invoke(
        "rebalance",
        "--addresses",
        inputs / "addresses.csv",
        "--registrations",
        registrations,
        "--assignments",
        assignments,
        "--max-size",
        50,
        "--out",
        out,
    )


def test_rebalance_keeps_the_cap_and_writes_change_lists(tmp_path: Path) -> None:
    """New registrations join, leavers leave, every group stays under the cap."""
    out = tmp_path / "demo"
    assert invoke("demo", "--out", out).exit_code == 0
    inputs = out / "input"
    registrations = pd.read_csv(inputs / "registrations.csv", dtype=str)
    addresses = pd.read_csv(inputs / "addresses.csv", dtype=str)
    newcomers = addresses[addresses["gebruiksdoel"] == "woonfunctie"].sample(
        40, random_state=1
    )
    newcomers = pd.DataFrame(
        {
            "registration_id": [f"N{i:03d}" for i in range(len(newcomers))],
            "postcode": newcomers["postcode"].to_numpy(),
            "huisnummer": newcomers["huisnummer"].to_numpy(),
            "huisletter": newcomers["huisletter"].to_numpy(),
            "huisnummertoevoeging": newcomers["huisnummertoevoeging"].to_numpy(),
        }
    )
    staying = registrations.iloc[10:]
    now = tmp_path / "now.csv"
    pd.concat([staying, newcomers], ignore_index=True).to_csv(now, index=False)

    target = tmp_path / "rebalanced"
    result = _rebalance(inputs, now, out / "assignments.csv", target)
    assert result.exit_code == 0, result.output
    assert "moved" in result.output and "split" in result.output

    assignments = pd.read_csv(target / "assignments.csv", dtype=str)
    assert assignments["group_id"].value_counts().max() <= 50
    assert (assignments.groupby("group_id")["woonplaats"].nunique() == 1).all()
    assert not set(registrations["registration_id"].iloc[:10]) & set(
        assignments["registration_id"]
    )
    plan = json.loads((target / "plan.json").read_text())
    assert plan["summary"]["left"] == len(
        set(registrations["registration_id"].iloc[:10])
        & set(pd.read_csv(out / "assignments.csv", dtype=str)["registration_id"])
    )
    changes = pd.concat(
        pd.read_csv(p, dtype=str) for p in (target / "changes").glob("*.csv")
    )
    assert set(changes["action"]) <= {"add", "remove"}
    assert (changes["action"] == "add").sum() >= 1


def _newcomers_at_free_homes(
    inputs: Path, registrations: pd.DataFrame, n: int, tag: str
) -> pd.DataFrame:
    """``n`` registrations at demo homes nobody registered yet, ids ``<tag>NNN``."""
    addresses = pd.read_csv(inputs / "addresses.csv", dtype=str)
    homes = addresses[addresses["gebruiksdoel"] == "woonfunctie"]
    taken = set(
        zip(registrations["postcode"], registrations["huisnummer"], strict=True)
    )
    free = homes[
        [
            k not in taken
            for k in zip(homes["postcode"], homes["huisnummer"], strict=True)
        ]
    ].sample(n, random_state=2)
    newcomers = free[["postcode", "huisnummer", "huisletter", "huisnummertoevoeging"]]
    newcomers.insert(0, "registration_id", [f"{tag}{i:03d}" for i in range(n)])
    return newcomers.reset_index(drop=True)


def _demo_and_newcomers(
    tmp_path: Path, n: int
) -> tuple[Path, pd.DataFrame, pd.DataFrame, Path]:
    """The demo's outputs, its registrations, ``n`` newcomers at free homes and
    the registrations file with both (``now.csv``)."""
    out = tmp_path / "demo"
    assert invoke("demo", "--out", out).exit_code == 0
    registrations = pd.read_csv(out / "input" / "registrations.csv", dtype=str)
    newcomers = _newcomers_at_free_homes(out / "input", registrations, n, "N")
    now = tmp_path / "now.csv"
    pd.concat([registrations, newcomers], ignore_index=True).to_csv(now, index=False)
    return out, registrations, newcomers, now


def test_rebalance_counts_members_handed_on_and_reads_the_count_back(
    tmp_path: Path,
) -> None:
    """The new assignments give each group's count of members handed on to a
    neighbour; a rebalance from them splits a group whose count reached the
    threshold instead of handing on more, and hands on from one below it. A
    count that is not a whole number exits 2."""
    out, registrations, first, now = _demo_and_newcomers(tmp_path, 60)
    inputs = out / "input"
    assert (
        _rebalance(inputs, now, out / "assignments.csv", tmp_path / "a").exit_code == 0
    )

    plan = json.loads((tmp_path / "a" / "plan.json").read_text())
    result = pd.read_csv(tmp_path / "a" / "assignments.csv", dtype=str)
    counts = result.groupby("group_id")["handed_on"].first().astype(int)
    overflow = [m["from_group"] for m in plan["moves"] if m["reason"] == "overflow"]
    assert counts[counts > 0].to_dict() == pd.Series(overflow).value_counts().to_dict()
    assert plan["handed_on"] == counts[counts > 0].to_dict() != {}

    # three more sign-ups at addresses of a group that handed on join it by
    # address and cannot be handed on: its existing members would have to go
    group = counts.idxmax()
    everyone = pd.concat([registrations, first], ignore_index=True)
    mine = result["group_id"] == group
    again = everyone[
        everyone["registration_id"].isin(result.loc[mine, "registration_id"])
    ]
    again = again.head(3).assign(registration_id=["M0", "M1", "M2"])
    later = tmp_path / "later.csv"
    pd.concat([everyone, again], ignore_index=True).to_csv(later, index=False)
    reasons = {}
    for count in (4, 5):  # the threshold at cap 50 is 5
        result.loc[mine, "handed_on"] = str(count)
        result.to_csv(tmp_path / f"with{count}.csv", index=False)
        run = _rebalance(
            inputs, later, tmp_path / f"with{count}.csv", tmp_path / f"b{count}"
        )
        assert run.exit_code == 0, run.output
        plan = json.loads((tmp_path / f"b{count}" / "plan.json").read_text())
        reasons[count] = {
            m["reason"] for m in plan["moves"] if m["from_group"] == group
        }
    assert reasons == {4: {"overflow"}, 5: {"split"}}

    for wrong in ("-1", "1" * 20, "\u0663"):  # negative, too large, not 0-9
        result.loc[0, "handed_on"] = wrong
        result.to_csv(tmp_path / "bad.csv", index=False)
        bad = _rebalance(inputs, later, tmp_path / "bad.csv", tmp_path / "c")
        assert bad.exit_code == 2 and "row 1, field `handed_on`" in bad.output
        assert not (tmp_path / "c").exists()


def test_rebalance_reroutes_members_not_added_yet(tmp_path: Path) -> None:
    """With an `added` column, members nobody has added yet are rerouted (an
    "add" elsewhere, no removal) instead of moved, and the new assignments say
    who still has to be added."""
    out, registrations, newcomers, now = _demo_and_newcomers(tmp_path, 300)
    inputs = out / "input"
    old = pd.read_csv(out / "assignments.csv", dtype=str)
    waiting = set(old["registration_id"].iloc[::2])  # every other one not added
    old["added"] = ["nee" if r in waiting else "ja" for r in old["registration_id"]]
    marked = tmp_path / "assignments.csv"
    old.to_csv(marked, index=False)

    plans = {}
    for name, assignments in (("plain", out / "assignments.csv"), ("marked", marked)):
        result = _rebalance(inputs, now, assignments, tmp_path / name)
        assert result.exit_code == 0, result.output
        plans[name] = json.loads((tmp_path / name / "plan.json").read_text())
    plain, plan = plans["plain"], plans["marked"]

    assert plain["reroutes"] == [] and plain["summary"]["moved"] > 0
    rerouted = {r["registration_id"] for r in plan["reroutes"]}
    moved = {m["registration_id"] for m in plan["moves"]}
    assert rerouted and rerouted <= waiting and not moved & waiting
    assert plan["summary"]["moved"] < plain["summary"]["moved"]
    changes = pd.concat(
        pd.read_csv(p, dtype=str) for p in (tmp_path / "marked" / "changes").glob("*")
    )
    removed = set(changes.loc[changes["action"] == "remove", "registration_id"])
    assert removed == moved
    # the old group is told its earlier "add" of a rerouted member is off
    called_off = {
        (path.stem, r)
        for path in (tmp_path / "marked" / "changes").glob("*.csv")
        for r in pd.read_csv(path, dtype=str).query("action == 'cancel'")[
            "registration_id"
        ]
    }
    assert called_off == {
        (r["from_group"], r["registration_id"]) for r in plan["reroutes"]
    }
    result = pd.read_csv(tmp_path / "marked" / "assignments.csv", dtype=str)
    added = result.set_index("registration_id")["added"]
    to_add = set(changes.loc[changes["action"] == "add", "registration_id"])
    expect = {
        r: "no"
        if r in waiting or r in to_add or r not in set(old["registration_id"])
        else "yes"
        for r in added.index
    }
    assert added.to_dict() == expect
    old.loc[3, "added"] = "misschien"
    old.to_csv(marked, index=False)
    bad = _rebalance(inputs, now, marked, tmp_path / "bad")
    assert bad.exit_code == 2 and "row 4, field `added`" in bad.output
    assert not (tmp_path / "bad").exists()


def test_rebalance_with_a_bad_assignments_file_exits_2(
    demo_inputs: Path, tmp_path: Path
) -> None:
    """A registration assigned twice is refused before anything is written."""
    bad = tmp_path / "assignments.csv"
    bad.write_text("registration_id,group_id\nR00001,a-01\nR00001,a-02\n")
    out = tmp_path / "out"
    result = _rebalance(demo_inputs, demo_inputs / "registrations.csv", bad, out)
    assert result.exit_code == 2
    assert "row 2, field `registration_id`" in result.output
    assert not out.exists()


def test_coverage_command_writes_its_outputs(demo_inputs: Path, tmp_path: Path) -> None:
    """`buurtgroepen coverage` on the demo inputs, with a custom radius."""
    out = tmp_path / "coverage"
    result = invoke(
        "coverage",
        "--addresses",
        demo_inputs / "addresses.csv",
        "--registrations",
        demo_inputs / "registrations.csv",
        "--boundaries",
        demo_inputs / "buurten.geojson",
        "--radius",
        150,
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    assert "within 150 m" in result.output
    for name in (
        "coverage.html",
        "coverage.csv",
        "coverage_buurten.csv",
        "recruitment.csv",
        "recruitment.geojson",
    ):
        assert (out / name).is_file()
