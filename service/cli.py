"""The ``buurtgroepen`` command line: the edge where files meet the library.

Every command reads and checks its inputs completely before it writes anything;
bad input ends with one message on stderr and exit code 2.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from partition.errors import BuurtgroepenError
from service.data_cli import data_app

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from service.models import Registration
    from service.national import Settings
    from service.store import Services

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
EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        help="local (one process) or dask (municipalities in parallel). Several "
        "municipalities (a folder of registers, or a `gemeentecode` column) are "
        "written per municipality as GeoParquet.",
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Address of a running Dask scheduler (tcp://host:8786); without it "
        "--engine dask starts a LocalCluster.",
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", help="LocalCluster workers (default: CPU cores)."),
]


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
        _print_summary(summary, out, done=False)
        typer.echo("coverage (straight-line radius, RD New):")
        _print_coverage(summary["coverage"])
        typer.echo(f"outputs written to {out.resolve()}")

    _run(body)


@app.command()
def geocode(
    registrations: RegistrationsOpt,
    out: Annotated[Path, typer.Option("--out", help="Geocoded CSV to write.")],
    addresses: Annotated[
        Path | None,
        typer.Option("--addresses", help="Address register (offline geocoder)."),
    ] = None,
    geocoder: Annotated[
        str,
        typer.Option(
            "--geocoder",
            envvar="BUURTGROEPEN_GEOCODER",
            help="register (offline, default) or pdok (Locatieserver, online).",
        ),
    ] = "register",
    pdok_url: Annotated[
        str | None,
        typer.Option("--pdok-url", help="Locatieserver base URL (pdok geocoder)."),
    ] = None,
    gemeente: Annotated[
        str | None,
        typer.Option("--gemeente", help="Limit PDOK answers to one gemeentecode."),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option("--cache", help="Folder caching PDOK answers on disk."),
    ] = None,
) -> None:
    """Geocode registrations: offline against the register, or with PDOK."""

    def body() -> None:
        from service import jobs

        counts = jobs.geocode(
            addresses,
            registrations,
            out,
            geocoder=geocoder,
            pdok_url=pdok_url,
            gemeente=gemeente,
            cache_dir=cache,
        )
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
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Partition registrations into capped groups and write the outputs."""

    def body() -> None:
        from service import jobs, national

        if national.is_national(addresses, engine):
            settings = national.Settings(
                "partition",
                max_size=max_size,
                target_fill=target_fill,
                min_size=min_size,
                within=within,
                seed=seed,
            )
            _run_national(
                settings,
                addresses,
                registrations,
                out,
                boundaries,
                engine=engine,
                scheduler=scheduler,
                workers=workers,
            )
            return
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
def rebalance(
    addresses: AddressesOpt,
    registrations: RegistrationsOpt,
    assignments: Annotated[
        Path,
        typer.Option("--assignments", help="assignments.csv of the current groups."),
    ],
    out: OutOpt,
    boundaries: BoundariesOpt = None,
    max_size: MaxSizeOpt = 50,
    target_fill: TargetFillOpt = 0.9,
    min_size: MinSizeOpt = None,
    within: WithinOpt = "woonplaats",
    seed: SeedOpt = 0,
) -> None:
    """Rebalance the current groups to the registrations, moving as few as possible.

    Registrations missing from --registrations left; new ones join. Writes the
    new assignments.csv, plan.json and changes/<group_id>.csv per beheerder.
    """

    def body() -> None:
        from service import jobs

        summary = jobs.rebalance(
            addresses,
            registrations,
            assignments,
            out,
            boundaries=boundaries,
            max_size=max_size,
            target_fill=target_fill,
            min_size=min_size,
            within=within,
            seed=seed,
        )
        typer.echo(
            f"moved {summary['moved']:,} of {summary['members']:,} members "
            f"({summary['moved_share']:.1%}), joined {summary['joined']:,}, "
            f"left {summary['left']:,}, queued {summary['queued']:,}\n"
            f"new groups {summary['new_groups']}, split {summary['split_groups']}, "
            f"merged {summary['merged_groups']}, dissolved "
            f"{summary['dissolved_groups']}; largest group "
            f"{summary['max_group_size']} (cap {max_size})"
        )
        typer.echo(f"outputs written to {out.resolve()}")

    _run(body)


@app.command()
def coverage(
    addresses: AddressesOpt,
    registrations: RegistrationsOpt,
    out: OutOpt,
    assignments: Annotated[
        Path | None,
        typer.Option(
            "--assignments",
            help="assignments.csv, for group layers (several municipalities: the "
            "--out folder of their partition run).",
        ),
    ] = None,
    boundaries: BoundariesOpt = None,
    radius: Annotated[
        float,
        typer.Option("--radius", help="Reach of a registration, metres (straight)."),
    ] = 100.0,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Most recruitment targets.")
    ] = None,
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Coverage per street and buurt, gaps, recruitment targets and the map."""

    def body() -> None:
        from service import coverage_job, national

        if national.is_national(addresses, engine):
            settings = national.Settings("coverage", radius=radius, limit=limit)
            _run_national(
                settings,
                addresses,
                registrations,
                out,
                boundaries,
                engine=engine,
                scheduler=scheduler,
                workers=workers,
                assignments=assignments,
            )
            return
        summary = coverage_job.coverage(
            addresses,
            registrations,
            out,
            assignments=assignments,
            boundaries=boundaries,
            radius=radius,
            limit=limit,
        )
        _print_coverage(summary)
        typer.echo(f"outputs written to {out.resolve()}")

    _run(body)


def _run_national(
    settings: Settings,
    addresses: Path,
    registrations: Path,
    out: Path,
    boundaries: Path | None,
    *,
    engine: str,
    scheduler: str | None,
    workers: int | None,
    assignments: Path | None = None,
) -> None:
    """Run several municipalities; report failures and exit 2 when any failed."""
    import pandas as pd

    from service import national

    national.check_settings(settings, workers)
    municipalities, routed, unrouted = national.collect_inputs(
        addresses,
        registrations,
        out,
        boundaries=boundaries,
        assignments=assignments,
    )
    run = national.run_municipalities(
        municipalities,
        routed,
        out,
        settings,
        engine=engine,
        scheduler=scheduler,
        workers=workers,
    )
    if settings.command == "partition":
        unrouted = pd.concat(
            [unrouted, national.unresolved(routed, out)], ignore_index=True
        )
    if len(unrouted):
        national.write_unrouted(out, unrouted)
    totals = run.totals
    typer.echo(
        f"{settings.command}: {totals['done']} municipalities done, "
        f"{totals['resumed']} resumed, {totals['failed']} failed; "
        f"{totals['addresses']:,} addresses, {totals['registrations']:,} "
        f"registrations ({totals['unmatched']:,} unmatched) in "
        f"{totals['seconds']:.1f} s"
    )
    if len(unrouted):
        typer.echo(
            f"{len(unrouted):,} registrations matched no municipality: see unrouted.csv"
        )
    typer.echo(f"outputs written to {out.resolve()}")
    if totals["failed"]:
        failures = "; ".join(f"{k}: {v}" for k, v in totals["failures"].items())
        raise BuurtgroepenError(
            f"{totals['failed']} municipalities failed (the others are written, "
            f"a rerun resumes): {failures}"
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Run the web service (settings from BUURTGROEPEN_* variables).

    The settings are checked and the database migrated before the server
    starts, so a bad setting ends with one message and exit code 2. The access
    log is off: it would hold the IP addresses of residents.
    """

    def body() -> None:
        import uvicorn

        from service.app import create_app

        services = _open_services()
        services.close()
        uvicorn.run(
            create_app(services.settings), host=host, port=port, access_log=False
        )

    _run(body)


users_app = typer.Typer(help="Steering and beheerder users and their tokens.")
groups_app = typer.Typer(help="Groups made from the stored registrations.")
app.add_typer(users_app, name="users")
app.add_typer(groups_app, name="groups")
app.add_typer(data_app, name="data")


@users_app.command("add")
def users_add(
    role: Annotated[str, typer.Option("--role", help="steering or beheerder.")],
    group: Annotated[
        str | None, typer.Option("--group", help="The beheerder's group id.")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Who this is, for the team.")
    ] = None,
) -> None:
    """Create a user; its token is printed once, alone on the last line."""

    def body() -> None:
        from service import store

        services = _open_services()
        try:
            with services.sessions() as session, session.begin():
                user_id, token = store.add_user(session, role, group, name)
        finally:
            services.close()
        where = f" for group {group}" if group else ""
        typer.echo(f"created {role} user {user_id}{where}; its token (shown once):")
        typer.echo(token)

    _run(body)


@users_app.command("revoke")
def users_revoke(
    user_id: Annotated[int, typer.Argument(help="The id `users add` printed.")],
) -> None:
    """Revoke a user's token (a beheerder who steps down)."""

    def body() -> None:
        from service import store

        services = _open_services()
        try:
            with services.sessions() as session, session.begin():
                revoked = store.revoke_user(session, user_id)
        finally:
            services.close()
        if not revoked:
            msg = f"`USER_ID` {user_id} is no active user; check the id."
            raise BuurtgroepenError(msg)
        typer.echo(f"revoked user {user_id}")

    _run(body)


TelefoonOpt = Annotated[
    str, typer.Option("--telefoon", help="The resident's mobile number.")
]
PostcodeOpt = Annotated[str, typer.Option("--postcode", help="E.g. 7581AB.")]
HuisnummerOpt = Annotated[str, typer.Option("--huisnummer", help="E.g. 12.")]
HuisletterOpt = Annotated[str | None, typer.Option("--huisletter", help="E.g. A.")]
ToevoegingOpt = Annotated[
    str | None, typer.Option("--toevoeging", help="Huisnummertoevoeging.")
]


def _with_registration(
    action: Callable[[Services, Session, Registration], list[str]],
    erases: bool,
    telefoon: str,
    postcode: str,
    huisnummer: str,
    huisletter: str | None,
    toevoeging: str | None,
) -> None:
    """Find the registration of a number at an address, act on it in one
    transaction and print the action's lines once it is committed (after an
    erasure, with the write-ahead log folded); an unknown registration is a
    message and exit code 2."""
    from partition.addresses import parse_address
    from service import db, store

    address = parse_address(postcode, huisnummer, huisletter, toevoeging)
    services = _open_services()
    try:
        with services.sessions() as session, session.begin():
            registration = store.find_by_number_and_address(
                session, services.vault, telefoon, address
            )
            if registration is None:
                msg = (
                    f"no registration of this number at {address.key}: never "
                    "registered, or erased already; check the number and address."
                )
                raise BuurtgroepenError(msg)
            lines = action(services, session, registration)
        if erases:
            db.checkpoint(services.engine)
    finally:
        services.close()
    for line in lines:
        typer.echo(line)


def _show(
    services: Services, session: Session, registration: Registration
) -> list[str]:
    """The access report of a registration, as JSON."""
    from service import store

    data = store.describe_registration(
        session, services.vault, registration, store.OPERATOR
    )
    return [json.dumps(data, ensure_ascii=False, indent=2)]


def _erase(
    _services: Services, session: Session, registration: Registration
) -> list[str]:
    """Erase a registration; say whether its beheerder has a task now."""
    from service import store

    store.erase(session, registration, store.OPERATOR)
    if store.was_member(session, registration.id):
        return [
            f"erased registration {registration.id}; its beheerder has a task to "
            "remove the member from the WhatsApp group"
        ]
    return [f"erased registration {registration.id}"]


def _new_token(
    _services: Services, session: Session, registration: Registration
) -> list[str]:
    """A new self-service token for a registration, alone on the last line."""
    from service import store

    token = store.reissue_token(session, registration, store.OPERATOR)
    return [f"new token for registration {registration.id} (shown once):", token]


_REGISTRATION_ACTIONS = {"show": _show, "erase": _erase, "token": _new_token}


@app.command("registrations")
def registrations(
    action: Annotated[
        str,
        typer.Argument(
            metavar="ACTION",
            help="show: print everything held (access, AVG art. 15); erase: erase "
            "now (art. 17); token: print a new self-service token, alone on the "
            "last line (the old one stops working).",
        ),
    ],
    telefoon: TelefoonOpt,
    postcode: PostcodeOpt,
    huisnummer: HuisnummerOpt,
    huisletter: HuisletterOpt = None,
    toevoeging: ToevoegingOpt = None,
) -> None:
    """One resident's registration, for a resident who lost their token.

    Found by number and address; check first that the request comes from that
    number. ``show`` prints the JSON of ``GET /registrations/me``; ``erase``
    does what ``DELETE /registrations/me`` does.
    """

    def body() -> None:
        if action not in _REGISTRATION_ACTIONS:
            known = ", ".join(_REGISTRATION_ACTIONS)
            msg = f"ACTION must be one of {known}; got {action!r}."
            raise BuurtgroepenError(msg)
        address = (postcode, huisnummer, huisletter, toevoeging)
        erases = action == "erase"
        _with_registration(_REGISTRATION_ACTIONS[action], erases, telefoon, *address)

    _run(body)


@app.command()
def purge(
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            help="Erase who left more than N days ago (default "
            "BUURTGROEPEN_RETENTION_DAYS, 30).",
        ),
    ] = None,
) -> None:
    """Erase the data of residents who left long enough ago; safe to run daily."""

    def body() -> None:
        from service import db, store

        if days is not None and days < 0:
            raise BuurtgroepenError(f"`--days` is {days}; give 0 or more days.")
        services = _open_services()
        keep = services.settings.retention_days if days is None else days
        try:
            with services.sessions() as session, session.begin():
                counts = store.purge(session, keep)
            db.checkpoint(services.engine)
        finally:
            services.close()
        typer.echo(
            f"erased {counts['erased']} registrations that left over {keep} days "
            f"ago; deleted {counts['tasks']} done tasks"
        )

    _run(body)


@groups_app.command("init")
def groups_init(
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Partition again although groups exist already."
        ),
    ] = False,
) -> None:
    """Partition all active registrations and store groups and territories."""

    def body() -> None:
        from service import store

        services = _open_services()
        try:
            with services.sessions() as session, session.begin():
                store.check_replace(session, replace=replace)
                keys = store.active_address_keys(session)
            plan = store.plan_groups(
                services.book, keys, services.settings.max_group_size
            )
            with services.sessions() as session, session.begin():
                counts = store.apply_plan(session, plan, replace=replace)
        finally:
            services.close()
        typer.echo(
            f"stored {counts['groups']} groups over {counts['territory_addresses']:,} "
            f"addresses: {counts['placed']} placed, {counts['moved']} moved, "
            f"{counts['kept']} kept, {counts['queued']} queued"
        )

    _run(body)


@app.command()
def privacy(
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the statement.")
    ] = Path("docs/privacy.md"),
) -> None:
    """Write the privacy statement and processing register from the settings."""

    def body() -> None:
        from service import privacy as statement
        from service.config import load_settings

        path = statement.write_markdown(load_settings(), out)
        typer.echo(f"privacy statement written to {path}")

    _run(body)


def _open_services() -> Services:
    """Load the settings, prepare the data directory and key, migrate."""
    from service import store
    from service.config import load_settings

    return store.open_services(load_settings())


def _print_coverage(summary: dict) -> None:
    """Print the coverage figures the steering group reads first, with units."""
    radius = f"{summary['radius_m']:g} m"
    lines = [
        f"addresses            {summary['addresses']:>8,}  (residential)",
        f"registered           {summary['registered_addresses']:>8,}  "
        f"({summary['coverage']:.1%} of addresses)",
        f"within {radius:<13} {summary['radius_covered_addresses']:>8,}  "
        f"({summary['radius_coverage']:.1%} of addresses)",
        f"gaps                 {summary['gaps']:>8,}  areas with "
        f"{summary['gap_addresses']:,} addresses beyond {radius}",
        f"recruitment targets  {summary['recruitment_targets']:>8,}  "
        f"(would bring {summary['radius_coverage_after_targets']:.1%} within {radius})",
    ]
    typer.echo("\n".join(lines))


def _print_summary(summary: dict, out: Path, *, done: bool = True) -> None:
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
    if done:
        typer.echo(f"outputs written to {out.resolve()}")
