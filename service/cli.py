"""The ``buurtgroepen`` command line: the edge where files meet the library.

Every command reads and checks its inputs completely before it writes anything;
bad input ends with one message on stderr and exit code 2.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from partition.errors import BuurtgroepenError

app = typer.Typer(
    help="Neighbourhood-watch WhatsApp groups: geocode, partition and map.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_DEMO_OUT = Path("out/demo")

AddressesOpt = Annotated[
    Path, typer.Option("--addresses", help="Address register (CSV/GeoJSON/GPKG).")
]
RegistrationsOpt = Annotated[
    Path, typer.Option("--registrations", help="Registrations CSV.")
]
BoundariesOpt = Annotated[
    Path | None,
    typer.Option("--boundaries", help="Buurt (and wijk) polygons, GeoJSON or GPKG."),
]
MaxSizeOpt = Annotated[
    int, typer.Option("--max-size", help="Hard cap on group members (<= 1024).")
]
TargetFillOpt = Annotated[
    float,
    typer.Option("--target-fill", help="Planned fill as a share of the cap."),
]
MinSizeOpt = Annotated[
    int | None, typer.Option("--min-size", help="Smallest allowed group.")
]
WithinOpt = Annotated[
    str,
    typer.Option(
        "--within", help="Boundary groups never cross: woonplaats|wijk|buurt."
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for tie-breaking.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Output folder.")]


def _run(body: Callable[[], None]) -> None:
    """Run a command body, turning input errors into one message and exit 2."""
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("pyogrio").setLevel(logging.WARNING)
    try:
        body()
    except BuurtgroepenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc


@app.command()
def demo(
    out: OutOpt = DEFAULT_DEMO_OUT,
    boundaries: Annotated[
        Path | None,
        typer.Option(
            "--boundaries",
            help="Real buurt polygons to place the generated addresses in.",
        ),
    ] = None,
    wijken: Annotated[
        Path | None,
        typer.Option("--wijken", help="Wijk polygons naming the woonplaatsen."),
    ] = None,
    seed: SeedOpt = 0,
    max_size: MaxSizeOpt = 50,
    target_fill: TargetFillOpt = 0.9,
    within: WithinOpt = "woonplaats",
) -> None:
    """Generate the labelled demo municipality and partition it end to end.

    With --boundaries the generated addresses are placed inside real buurt
    polygons (for example the CBS buurten of Losser); they stay generated.
    """

    def body() -> None:
        from service import jobs

        summary = jobs.demo(
            out,
            boundaries=boundaries,
            wijken=wijken,
            seed=seed,
            max_size=max_size,
            target_fill=target_fill,
            within=within,
        )
        _print_summary(summary, out)

    _run(body)


@app.command()
def geocode(
    addresses: AddressesOpt,
    registrations: RegistrationsOpt,
    out: Annotated[Path, typer.Option("--out", help="Geocoded CSV to write.")],
) -> None:
    """Geocode registrations against the address register, offline."""

    def body() -> None:
        from service import jobs

        counts = jobs.geocode(addresses, registrations, out)
        typer.echo(
            f"geocoded {counts['geocoded']:,} of {counts['registrations']:,} "
            f"registrations ({counts['unmatched']:,} unmatched) -> {out}"
        )

    _run(body)


@app.command()
def partition(
    addresses: AddressesOpt,
    registrations: RegistrationsOpt,
    out: OutOpt,
    boundaries: BoundariesOpt = None,
    max_size: MaxSizeOpt = 50,
    target_fill: TargetFillOpt = 0.9,
    min_size: MinSizeOpt = None,
    within: WithinOpt = "woonplaats",
    seed: SeedOpt = 0,
) -> None:
    """Partition registrations into capped groups and write the four outputs."""

    def body() -> None:
        from service import jobs

        summary = jobs.partition(
            addresses,
            registrations,
            out,
            boundaries=boundaries,
            max_size=max_size,
            target_fill=target_fill,
            min_size=min_size,
            within=within,
            seed=seed,
        )
        _print_summary(summary, out)

    _run(body)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Run the web service."""
    import uvicorn

    uvicorn.run("service.app:app", host=host, port=port)


def _print_summary(summary: dict, out: Path) -> None:
    """Print the figures a steering group asks for first, and where the files are."""
    sizes = summary["group_size"]
    lines = [
        f"addresses      {summary['addresses']:>8,}",
        f"registrations  {summary['registrations']:>8,}",
        f"geocoded       {summary['geocoded']:>8,}"
        f"  ({summary['unmatched']:,} unmatched)",
        f"groups         {summary['groups']:>8,}"
        f"  (size min {sizes['min']}, median {sizes['median']:g}, max {sizes['max']};"
        f" cap {summary['max_size']})",
        "seconds        "
        + ", ".join(f"{k} {v:.2f}" for k, v in summary["seconds"].items()),
    ]
    typer.echo("\n".join(lines))
    typer.echo(f"outputs written to {out.resolve()}")
