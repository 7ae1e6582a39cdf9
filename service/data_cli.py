"""``buurtgroepen data``: load a real municipality's open data into a folder.

Commands (mounted by :mod:`service.cli` as ``buurtgroepen data ...``):

- ``import-cbs FILE... --gemeente CODE_OR_NAME --out DIR``: CBS Wijk- en
  Buurtkaart files -> ``DIR/buurten.gpkg`` (and ``DIR/wijken.gpkg``);
- ``import-bag FILE (--gemeente CODE | --bbox x1,y1,x2,y2) --out DIR``: a BAG
  GeoPackage -> ``DIR/addresses.gpkg``;
- ``download --gemeente GM0168 --out DIR [--base-url URL]``: both from PDOK
  into one GeoPackage ``DIR/GM0168.gpkg`` (layers ``addresses``, ``buurten``,
  ``wijken``), with a progress bar; an interrupted download resumes when run
  again.

Each writes ``DIR/SOURCES.md`` (dates, files, licences: CBS CC BY 4.0 with
attribution, BAG CC0) next to the data, keeping the notices of earlier imports
into the same folder. The GeoPackages are EPSG:28992 and read as they are by
``buurtgroepen partition --boundaries DIR/buurten.gpkg --addresses
DIR/addresses.gpkg`` (or ``DIR/GM0168.gpkg`` for both after a download).

Bad input (a wrong gemeentecode, a file in another schema, a file without CRS)
ends with one message on stderr and exit code 2, and nothing is written: the
outputs go through :func:`partition.io.write_outputs`, all at once or not at
all. Only ``download`` leaves something behind on failure: its page journal in
``DIR/.download/``, from which the next run resumes.
"""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import geopandas as gpd
import typer

from partition import io
from partition.boundaries import normalise_boundaries
from partition.errors import BuurtgroepenError
from partition.sources import merge_sources
from partition.sources.cbs import CbsBoundaries

data_app = typer.Typer(
    help="Import the official open data of a municipality: CBS boundaries, BAG "
    "addresses, or both from PDOK.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

BUURTEN_FILE = "buurten.gpkg"
WIJKEN_FILE = "wijken.gpkg"
ADDRESSES_FILE = "addresses.gpkg"
SOURCES_FILE = "SOURCES.md"
WORK_DIR = ".download"
PDOK_API = "https://api.pdok.nl"

OutOpt = Annotated[
    Path, typer.Option("--out", help="Folder to write into, e.g. data/wijken/GM0168.")
]


def _run(body: Callable[[], None]) -> None:
    """Run a command body, turning input errors into one message and exit 2."""
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("pyogrio").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        body()
    except BuurtgroepenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc


@data_app.command("import-cbs")
def import_cbs(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="CBS Wijk- en Buurtkaart files (GeoPackage/GeoJSON/Shapefile): "
            "the buurten, and optionally the wijken.",
            show_default=False,
        ),
    ],
    gemeente: Annotated[
        str,
        typer.Option("--gemeente", help="Gemeentecode (GM0168) or gemeentenaam."),
    ],
    out: OutOpt,
) -> None:
    """Import the wijken and buurten of one gemeente from CBS files."""

    def body() -> None:
        from partition.sources import cbs

        result = cbs.import_cbs(cbs.read_cbs_files(files), gemeente)
        today = datetime.now(UTC).date().isoformat()
        section = cbs.sources_section(result, imported_on=today)
        writers = {
            **_boundary_writers(result),
            SOURCES_FILE: io.text_writer(_sources_text(out, {"cbs": section})),
        }
        io.write_outputs(out, writers)
        typer.echo(
            f"imported {len(result.buurten)} buurten and {len(result.wijken)} "
            f"wijken of {result.gemeentecode} (edition {result.jaar}) -> {out}"
        )

    _run(body)


@data_app.command("import-bag")
def import_bag(
    file: Annotated[Path, typer.Argument(help="BAG GeoPackage.", show_default=False)],
    out: OutOpt,
    gemeente: Annotated[
        str | None,
        typer.Option("--gemeente", help="Gemeentecode of the addresses (GM0168)."),
    ] = None,
    bbox: Annotated[
        str | None,
        typer.Option(
            "--bbox", help="Area in RD New metres instead: xmin,ymin,xmax,ymax."
        ),
    ] = None,
) -> None:
    """Import the addresses of one gemeente (or area) from a BAG GeoPackage."""

    def body() -> None:
        from partition.sources import bag

        if gemeente is not None and bbox is not None:
            raise BuurtgroepenError("pass either `--gemeente` or `--bbox`, not both")
        if gemeente is None and bbox is None:
            msg = (
                "pass `--gemeente` (a gemeentecode such as GM0168) or `--bbox` "
                "(xmin,ymin,xmax,ymax in RD New metres)"
            )
            raise BuurtgroepenError(msg)
        box = parse_bbox(bbox) if bbox is not None else None
        layers = bag.read_bag_geopackage(file)
        register = bag.import_bag(layers, gemeente=gemeente, bbox=box, source=file)
        today = datetime.now(UTC).date().isoformat()
        section = bag.sources_section(
            register, files=[file.name], imported_on=today, how="Imported"
        )
        io.write_outputs(
            out,
            {
                ADDRESSES_FILE: _gpkg_writer(register, "addresses"),
                SOURCES_FILE: io.text_writer(_sources_text(out, {"bag": section})),
            },
        )
        typer.echo(f"imported {len(register):,} addresses -> {out}")

    _run(body)


@data_app.command("download")
def download(
    gemeente: Annotated[
        str, typer.Option("--gemeente", help="Gemeentecode, e.g. GM0168.")
    ],
    out: OutOpt,
    base_url: Annotated[
        str, typer.Option("--base-url", help="Root of the PDOK APIs.")
    ] = PDOK_API,
) -> None:
    """Download a gemeente's BAG addresses and CBS boundaries from PDOK.

    Needs internet. Run the same command again after an interruption: pages
    fetched before are not fetched again.
    """

    def body() -> None:
        from partition.sources import bag, cbs, pdok

        work = out / WORK_DIR
        with _ProgressBar("BAG tiles") as progress:
            try:
                fetched = pdok.download_municipality(
                    gemeente, work, base_url=base_url, progress=progress
                )
            except KeyboardInterrupt as exc:
                msg = "interrupted; run the same command again to resume"
                raise BuurtgroepenError(msg) from exc

        section_cbs = cbs.sources_section(
            fetched.boundaries, imported_on=fetched.fetched_on
        ).replace("- Files:", f"- Downloaded from {base_url} (OGC API Features):", 1)
        section_bag = bag.sources_section(
            fetched.addresses,
            files=[f"{base_url} (OGC API Features, collection verblijfsobject)"],
            imported_on=fetched.fetched_on,
            how="Downloaded",
        )
        sources = _sources_text(out, {"cbs": section_cbs, "bag": section_bag})
        layers = {"addresses": fetched.addresses}
        for name, write in _boundary_writers(fetched.boundaries).items():
            layers[Path(name).stem] = write
        writers = {
            f"{fetched.boundaries.gemeentecode}.gpkg": _layers_writer(layers),
            SOURCES_FILE: io.text_writer(sources),
        }
        io.write_outputs(out, writers)
        shutil.rmtree(work, ignore_errors=True)
        typer.echo(
            f"downloaded {len(fetched.boundaries.buurten)} buurten and "
            f"{len(fetched.addresses):,} addresses of {fetched.boundaries.gemeentecode}"
            f" -> {out}"
        )

    _run(body)


@data_app.command("national")
def national_set(
    out: OutOpt,
    share: Annotated[
        float,
        typer.Option(
            "--share", help="Share of the 342 municipalities to generate (0-1]."
        ),
    ] = 1.0,
    participation: Annotated[
        float,
        typer.Option("--participation", help="Registrations per address (0-0.4)."),
    ] = 0.1,
    addresses: Annotated[
        int | None,
        typer.Option(
            "--addresses", help="Addresses in the whole set (default 9,900,000)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the set.")] = 0,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Processes (default: CPU cores)."),
    ] = None,
) -> None:
    """Generate the national test set: 342 municipalities at their CBS sizes.

    GEGENEREERD, geen echte adressen: real gemeentecodes and names, fictional
    addresses. Writes addresses/<code>.parquet, registrations/<code>.csv and
    plan.csv; run it again after an interruption to finish.
    """

    def body() -> None:
        from service.national import generate_national

        plan = generate_national(
            out,
            share=share,
            participation=participation,
            total_addresses=addresses,
            seed=seed,
            workers=workers,
        )
        typer.echo(
            f"generated {len(plan)} municipalities, "
            f"{int(plan['addresses'].sum()):,} addresses and "
            f"{int(plan['registrations'].sum()):,} registrations -> {out}"
        )

    _run(body)


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``"x1,y1,x2,y2"`` in RD New metres as a tuple, checked.

    Raises
    ------
    BuurtgroepenError
        When the text is not four numbers with ``x1 < x2`` and ``y1 < y2``.
    """
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or not (values[0] < values[2] and values[1] < values[3]):
        msg = (
            "`--bbox` must be four numbers xmin,ymin,xmax,ymax in RD New metres with "
            "xmin < xmax and ymin < ymax, e.g. 260000,471000,270000,490000"
        )
        raise BuurtgroepenError(msg)
    return values  # type: ignore[return-value]


# --- writers --------------------------------------------------------------------


def _gpkg_writer(frame: gpd.GeoDataFrame, layer: str) -> Callable[[Path], None]:
    """A writer for :func:`partition.io.write_outputs`: one-layer GeoPackage."""
    return lambda path: frame.to_file(
        path, layer=layer, driver="GPKG", engine="pyogrio"
    )


def _layers_writer(layers: dict[str, object]) -> Callable[[Path], None]:
    """A writer of one GeoPackage holding several layers.

    ``layers`` maps a layer name to a GeoDataFrame or to a one-layer writer
    (from :func:`_gpkg_writer`), which is then pointed at the shared file.
    """

    def write(path: Path) -> None:
        for name, layer in layers.items():
            if callable(layer):
                layer(path)
            else:
                layer.to_file(path, layer=name, driver="GPKG", engine="pyogrio")

    return write


def _boundary_writers(result: CbsBoundaries) -> dict[str, Callable[[Path], None]]:
    """Writers of ``buurten.gpkg`` (and ``wijken.gpkg``), checked by the reader."""
    buurten, wijken = result.buurten, result.wijken
    if buurten["wijknaam"].isna().all():
        # without names the reader would build an empty wijk layer from the
        # buurten; without the column it derives the wijk codes instead
        buurten = buurten.drop(columns="wijknaam")
    normalise_boundaries(buurten, source=BUURTEN_FILE)

    writers = {BUURTEN_FILE: _gpkg_writer(buurten, "buurten")}
    if len(wijken):
        normalise_boundaries(wijken, source=WIJKEN_FILE)
        writers[WIJKEN_FILE] = _gpkg_writer(wijken, "wijken")
    return writers


def _sources_text(out: Path, sections: dict[str, str]) -> str:
    """``SOURCES.md`` with these sections, keeping the folder's other blocks."""
    path = out / SOURCES_FILE
    text = path.read_text(encoding="utf-8") if path.is_file() else None
    for key, section in sections.items():
        text = merge_sources(text, key, section)
    return text or ""


class _ProgressBar:
    """A progress callback ``(done, total)`` drawing a bar on stderr."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._bar: object | None = None
        self._done = 0

    def __enter__(self) -> _ProgressBar:
        """Return the callback."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Finish the bar."""
        if self._bar is not None:
            self._bar.__exit__(None, None, None)  # type: ignore[attr-defined]

    def __call__(self, done: int, total: int) -> None:
        """Advance the bar to `done` of `total`."""
        if self._bar is None:
            self._bar = typer.progressbar(
                length=total, label=self.label, file=sys.stderr
            ).__enter__()
        self._bar.update(done - self._done)  # type: ignore[attr-defined]
        self._done = done
