"""Several municipalities in one run: Dask against one process, failures, resume."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from typer.testing import CliRunner

from partition.national_demo import (
    gemeente_sizes,
    make_national_municipality,
    plan_national,
)
from service.cli import app

TOWNS = [
    ("GM0168", "Losser", 3_000),
    ("GM0153", "Enschede", 6_000),
    ("GM0088", "Ameland", 400),
]


def invoke(*args: object) -> object:
    """Run the CLI in-process and return the click result."""
    return CliRunner().invoke(app, [str(a) for a in args])


def run(
    command: str,
    addresses: object,
    registrations: object,
    out: object,
    *options: object,
) -> object:
    """Run ``partition`` or ``coverage`` on the given inputs and output folder."""
    return invoke(
        command,
        "--addresses",
        addresses,
        "--registrations",
        registrations,
        "--out",
        out,
        *options,
    )


def write_towns(root: Path, towns=TOWNS) -> tuple[Path, Path]:
    """Per-municipality registers and registrations, named by gemeentecode."""
    addresses, registrations = root / "addresses", root / "registrations"
    addresses.mkdir(parents=True)
    registrations.mkdir(parents=True)
    for code, name, n in towns:
        town = make_national_municipality(
            code, name, addresses=n, registrations=n // 10, seed=int(code[2:])
        )
        town.addresses.to_parquet(addresses / f"{code}.parquet", index=False)
        town.registrations.to_csv(registrations / f"{code}.csv", index=False)
    return addresses, registrations


def municipality_files(out: Path, code: str, name: str) -> pd.DataFrame:
    """One output file of one municipality."""
    path = out / "municipalities" / code / name
    return gpd.read_parquet(path) if name == "groups.parquet" else pd.read_parquet(path)


@pytest.fixture(scope="module")
def towns(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Three generated municipalities, written once for the module."""
    return write_towns(tmp_path_factory.mktemp("towns"))


@pytest.fixture(scope="module")
def runs(towns: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The same partition and coverage, in one process and on a Dask cluster."""
    addresses, registrations = towns
    root = tmp_path_factory.mktemp("runs")
    done = {}
    for engine in ("local", "dask"):
        out = root / f"partition-{engine}"
        result = run(
            "partition",
            addresses,
            registrations,
            out,
            "--engine",
            engine,
            "--workers",
            2,
        )
        assert result.exit_code == 0, result.output
        coverage = root / f"coverage-{engine}"
        result = run(
            "coverage",
            addresses,
            registrations,
            coverage,
            "--assignments",
            out,
            "--engine",
            engine,
            "--workers",
            2,
        )
        assert result.exit_code == 0, result.output
        done[engine] = (out, coverage)
    return done


def test_dask_gives_the_same_files_as_one_process(runs: dict) -> None:
    """Assignments, territories and coverage are identical, not just close."""
    (local, local_cov), (dask, dask_cov) = runs["local"], runs["dask"]
    for code, _, _ in TOWNS:
        first = municipality_files(local, code, "assignments.parquet")
        assert first.equals(municipality_files(dask, code, "assignments.parquet"))
        assert len(first) > 0 and (first["gemeentecode"] == code).all()
        groups = municipality_files(local, code, "groups.parquet")
        other = municipality_files(dask, code, "groups.parquet")
        assert groups.drop(columns="geometry").equals(other.drop(columns="geometry"))
        assert groups.geom_equals_exact(other, 0).all()
        assert groups.crs.to_epsg() == 28992
        for name in ("coverage_streets.parquet", "coverage_buurten.parquet"):
            assert municipality_files(local_cov, code, name).equals(
                municipality_files(dask_cov, code, name)
            )


def test_national_path_equals_the_one_town_command(
    towns: tuple[Path, Path], runs: dict, tmp_path: Path
) -> None:
    """A municipality in a national run gets the groups `partition` gives it alone."""
    addresses, registrations = towns
    out = tmp_path / "alone"
    result = run(
        "partition",
        addresses / "GM0168.parquet",
        registrations / "GM0168.csv",
        out,
    )
    assert result.exit_code == 0, result.output
    alone = pd.read_csv(out / "assignments.csv", dtype=str)
    national = municipality_files(runs["dask"][0], "GM0168", "assignments.parquet")
    columns = ["registration_id", "group_id"]
    pd.testing.assert_frame_equal(
        alone[columns].reset_index(drop=True),
        national[columns].astype(str).reset_index(drop=True),
        check_dtype=False,
    )


def test_an_existing_cluster_is_used_through_its_scheduler_address(
    towns: tuple[Path, Path], runs: dict, tmp_path: Path
) -> None:
    """`--scheduler ADDRESS` runs on that cluster and gives the same files."""
    from distributed import LocalCluster

    addresses, registrations = towns
    out = tmp_path / "on-cluster"
    with LocalCluster(
        n_workers=1, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        result = run(
            "partition",
            addresses,
            registrations,
            out,
            "--engine",
            "dask",
            "--scheduler",
            cluster.scheduler_address,
        )
        assert result.exit_code == 0, result.output
        workers = set(pd.read_csv(out / "summary.csv")["worker"])
        assert len(workers) == 1
    totals = json.loads((out / "run.json").read_text())
    assert totals["scheduler"].startswith("tcp://")
    for code, _, _ in TOWNS:
        assert municipality_files(out, code, "assignments.parquet").equals(
            municipality_files(runs["local"][0], code, "assignments.parquet")
        )


def test_one_municipality_file_runs_on_dask(
    towns: tuple[Path, Path], runs: dict, tmp_path: Path
) -> None:
    """`--engine dask` with one register named by its code is one task."""
    addresses, registrations = towns
    out = tmp_path / "one"
    result = run(
        "partition",
        addresses / "GM0088.parquet",
        registrations / "GM0088.csv",
        out,
        "--engine",
        "dask",
        "--workers",
        1,
    )
    assert result.exit_code == 0, result.output
    assert municipality_files(out, "GM0088", "assignments.parquet").equals(
        municipality_files(runs["local"][0], "GM0088", "assignments.parquet")
    )


def test_run_summary_has_a_row_per_municipality(runs: dict) -> None:
    """summary.csv and run.json carry counts, seconds and worker memory."""
    out = runs["dask"][0]
    table = pd.read_csv(out / "summary.csv")
    assert sorted(table["gemeentecode"]) == sorted(code for code, _, _ in TOWNS)
    assert (table["status"] == "done").all()
    assert (table["peak_mb"] > 0).all() and (table["seconds"] > 0).all()
    totals = json.loads((out / "run.json").read_text())
    assert totals["done"] == 3 and totals["failed"] == 0
    assert totals["engine"] == "dask"
    assert totals["registrations"] == int(table["registrations"].sum())


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_failed_municipality_is_reported_and_the_others_complete(
    tmp_path: Path, engine: str
) -> None:
    """A task that raises is one failed row; the rest is written; exit code 2."""
    addresses, registrations = write_towns(tmp_path, TOWNS[1:])
    broken = gpd.read_parquet(addresses / "GM0088.parquet").drop(columns="huisnummer")
    broken.to_parquet(addresses / "GM0088.parquet", index=False)
    out = tmp_path / "out"
    result = run(
        "partition",
        addresses,
        registrations,
        out,
        "--engine",
        engine,
        "--workers",
        2,
    )
    assert result.exit_code == 2
    assert "GM0088" in result.output and "huisnummer" in result.output

    table = pd.read_csv(out / "summary.csv").set_index("gemeentecode")
    assert table.loc["GM0088", "status"] == "failed"
    assert "huisnummer" in table.loc["GM0088", "error"]
    assert table.loc["GM0153", "status"] == "done"
    assert (out / "municipalities" / "GM0153" / "summary.json").is_file()
    assert not (out / "municipalities" / "GM0088").exists()


def test_rerun_resumes_and_redoes_only_what_is_missing(tmp_path: Path) -> None:
    """Finished municipalities are not run again; other settings run everything."""
    addresses, registrations = write_towns(tmp_path, TOWNS[1:])
    out = tmp_path / "out"
    args = ["partition", addresses, registrations, out]
    assert run(*args).exit_code == 0
    kept = out / "municipalities" / "GM0153" / "assignments.parquet"
    stamp = kept.stat().st_mtime_ns
    for path in (out / "municipalities" / "GM0088").iterdir():
        path.unlink()

    assert run(*args).exit_code == 0
    status = pd.read_csv(out / "summary.csv").set_index("gemeentecode")["status"]
    assert status.to_dict() == {"GM0088": "done", "GM0153": "resumed"}
    assert kept.stat().st_mtime_ns == stamp

    assert run(*args, "--max-size", 40).exit_code == 0
    status = pd.read_csv(out / "summary.csv")["status"]
    assert (status == "done").all()
    assert kept.stat().st_mtime_ns != stamp

    # changed registrations make a municipality stale
    changed = registrations / "GM0088.csv"
    pd.read_csv(changed, dtype=str).iloc[:-1].to_csv(changed, index=False)
    assert run(*args, "--max-size", 40).exit_code == 0
    status = pd.read_csv(out / "summary.csv").set_index("gemeentecode")["status"]
    assert status.to_dict() == {"GM0088": "done", "GM0153": "resumed"}


@pytest.mark.parametrize("suffix", [".parquet", ".gpkg"])
def test_one_register_file_with_gemeentecode_routes_by_postcode(
    tmp_path: Path, suffix: str
) -> None:
    """One national register and one registrations file, routed per municipality.

    GeoParquet is read per municipality with a row filter; a GeoPackage is split
    into per-municipality files first. A postcode in two registers sends its
    registrations to both; only the one with the address keeps them.
    """
    addresses, registrations = write_towns(tmp_path, TOWNS[1:])
    enschede = gpd.read_parquet(addresses / "GM0153.parquet")
    ameland = gpd.read_parquet(addresses / "GM0088.parquet")
    ameland["postcode"] = "1" + ameland["postcode"].str.slice(1)  # no repeats
    shared = enschede["postcode"].iloc[0]
    ameland.loc[0, ["postcode", "huisnummer"]] = [shared, 9998]
    register = tmp_path / f"nederland{suffix}"
    both = gpd.GeoDataFrame(pd.concat([enschede, ameland], ignore_index=True))
    if suffix == ".parquet":
        both.to_parquet(register)
    else:
        both.to_file(register, layer="addresses")

    people = {
        code: pd.read_csv(registrations / f"{code}.csv", dtype=str)
        for code in ("GM0153", "GM0088")
    }
    people["GM0088"]["postcode"] = "1" + people["GM0088"]["postcode"].str.slice(1)
    extra = pd.DataFrame(
        {
            "registration_id": ["X1", "X2", "X3"],
            "postcode": ["3511AA", shared, shared],
            "huisnummer": ["1", "9998", "9999"],
        }
    )
    aanmeldingen = tmp_path / "aanmeldingen.csv"
    everyone = pd.concat([*people.values(), extra], ignore_index=True)
    everyone.to_csv(aanmeldingen, index=False)

    out = tmp_path / "out"
    result = run(
        "partition",
        register,
        aanmeldingen,
        out,
    )
    assert result.exit_code == 0, result.output
    placed = pd.read_parquet(out / "municipalities" / "GM0088" / "assignments.parquet")
    assert "X2" in set(placed["registration_id"])
    unrouted = pd.read_csv(out / "unrouted.csv").set_index("registration_id")
    assert sorted(unrouted.index) == ["X1", "X3"]
    assert "postcode" in unrouted.loc["X1", "reason"]
    assert "none of the registers" in unrouted.loc["X3", "reason"]

    table = pd.read_csv(out / "summary.csv").set_index("gemeentecode")
    assert table.loc["GM0088", "registrations"] == len(people["GM0088"]) + 1
    assert table.loc["GM0153", "registrations"] == len(people["GM0153"])
    counted = table["unmatched"].sum() + table["geocoded"].sum()
    assert counted == len(everyone) - len(unrouted)

    coverage = tmp_path / "coverage"
    result = run(
        "coverage",
        register,
        aanmeldingen,
        coverage,
    )
    assert result.exit_code == 0, result.output
    measured = pd.read_csv(coverage / "summary.csv").set_index("gemeentecode")
    assert measured["registrations"].to_dict() == table["registrations"].to_dict()
    assert measured["geocoded"].to_dict() == table["geocoded"].to_dict()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--max-size", 0, "max_size"),
        ("--target-fill", 1.5, "target_fill"),
        ("--workers", 0, "--workers"),
    ],
)
def test_bad_settings_exit_2_before_any_work(
    towns: tuple[Path, Path], tmp_path: Path, option: str, value: object, message: str
) -> None:
    """A setting no municipality can run with is refused once, up front."""
    addresses, registrations = towns
    out = tmp_path / "out"
    result = run(
        "partition",
        addresses,
        registrations,
        out,
        option,
        value,
    )
    assert result.exit_code == 2 and message in result.output
    assert not out.exists()


def test_bad_engine_and_unnamed_files_exit_2(towns: tuple[Path, Path], tmp_path: Path):
    """An unknown engine or a file not named by its gemeentecode is refused."""
    addresses, registrations = towns
    result = run(
        "partition",
        addresses,
        registrations,
        tmp_path / "a",
        "--engine",
        "spark",
    )
    assert result.exit_code == 2 and "--engine" in result.output
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "losser.csv").write_text("postcode,huisnummer,x,y\n")
    result = run(
        "partition",
        odd,
        registrations,
        tmp_path / "b",
    )
    assert result.exit_code == 2 and "gemeentecode" in result.output
    assert not (tmp_path / "b").exists()


def test_national_plan_follows_the_cbs_sizes() -> None:
    """342 municipalities, sizes in proportion to households, seeded sample."""
    sizes = gemeente_sizes()
    assert len(sizes) == 342 and sizes["gemeentecode"].is_unique
    plan = plan_national(sizes, participation=0.1)
    assert abs(int(plan["addresses"].sum()) - 9_900_000) < 1_000
    assert plan.iloc[0]["gemeentenaam"] == "Amsterdam"
    assert plan["addresses"].min() >= 100 and plan["addresses"].max() < 2_000_000
    assert (plan["registrations"] == (plan["addresses"] * 0.1).round()).all()
    tenth = plan_national(sizes, share=0.1, seed=3)
    assert len(tenth) == 35
    assert tenth.equals(plan_national(sizes, share=0.1, seed=3))
    assert set(tenth["gemeentecode"]) <= set(sizes["gemeentecode"])


def test_national_municipality_carries_its_real_code() -> None:
    """Codes, ids and woonplaatsen are relabelled; the data stay generated."""
    town = make_national_municipality(
        "GM0168", "Losser", addresses=500, registrations=50, seed=1
    )
    register = town.addresses
    assert (register["gemeentecode"] == "GM0168").all()
    assert register["buurtcode"].str.startswith("BU0168").all()
    assert register["wijkcode"].str.startswith("WK0168").all()
    assert register["nummeraanduiding_id"].str.startswith("0168").all()
    assert register["woonplaats"].str.endswith(" Losser").all()
    assert town.registrations["registration_id"].str.startswith("GM0168-").all()
    assert "GEGENEREERD" in register.attrs["source"]


def test_data_national_writes_the_set_and_resumes(tmp_path: Path) -> None:
    """`data national` writes per-municipality files and keeps finished ones."""
    out = tmp_path / "nl"
    args = [
        "data",
        "national",
        "--out",
        out,
        "--share",
        0.01,
        "--addresses",
        40_000,
        "--workers",
        1,
    ]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    plan = pd.read_csv(out / "plan.csv", dtype={"gemeentecode": str})
    assert len(plan) == 4
    for code in plan["gemeentecode"]:
        register = gpd.read_parquet(out / "addresses" / f"{code}.parquet")
        assert (register["gemeentecode"] == code).all()
        assert len(register) == int(
            plan.set_index("gemeentecode").loc[code, "addresses"]
        )
        assert (out / "registrations" / f"{code}.csv").is_file()
    first = out / "addresses" / f"{plan['gemeentecode'].iloc[0]}.parquet"
    stamp = first.stat().st_mtime_ns
    assert invoke(*args).exit_code == 0
    assert first.stat().st_mtime_ns == stamp

    result = invoke("data", "national", "--out", tmp_path / "bad", "--share", 0)
    assert result.exit_code == 2 and "share" in result.output
    assert not (tmp_path / "bad").exists()
