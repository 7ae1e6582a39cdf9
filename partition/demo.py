"""Seeded generator of the labelled demo municipality: GEGENEREERD, geen echte adressen.

Everything this module returns is **generated**. The demo municipality, its
woonplaatsen, streets, postcodes, house numbers and registrations are fictional;
they exist so the library, the service and the maps can be tried without
personal data. Every frame carries ``attrs["source"] = DEMO_LABEL``.

Two modes:

- **fictional** (default): "Demogemeente Voorbeeld" (``GM9999``, not a real
  code) around RD x 251 000, y 470 000 (land in the east of the Netherlands),
  with three villages of 55 %, 25 % and 12 % of the addresses and 8 % scattered
  houses (*verspreide huizen*) along country roads. Wijken and buurten are
  generated polygons in the CBS code style (``WK999900``, ``BU99990001``).
- **real boundaries**: real CBS buurt (and optionally wijk) polygons are passed
  in; the generated addresses are placed inside them, dense in the cores and
  sparse in the *Verspreide huizen* buurten. Only the polygons and their codes
  and names are real; the addresses are not.

Street layout of a village core: a main road through the centre, straight side
streets perpendicular to it on one side and curved ring streets around the
centre on the other. House numbers are odd on the left and even on the right
of a street and increase along it; apartment blocks share one point over
several huisletters or toevoegingen. A 6-position postcode covers a run of 10
to 25 consecutive addresses on one side of a street.

The generator is pure: it takes a seed and returns frames; it reads and writes
no files and uses no global random state.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from partition.errors import BuurtgroepenError, CRSError

logger = logging.getLogger(__name__)

DEMO_LABEL = "GEGENEREERD - fictieve demo-gemeente, geen echte adressen"

RD_NEW = "EPSG:28992"

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
ObjArray = npt.NDArray[np.object_]

# zone kinds (where addresses are generated) and street kinds
_KERN, _RURAL, _INDUSTRIAL = 0, 1, 2
_MAIN, _VILLAGE, _COUNTRY, _WORKS = 0, 1, 2, 3

# per street kind: longest street before it gets a new name (m), closest house
# spacing on one side (m), house offset from the centre line (m)
_PIECE_MAX = np.array([3000.0, 600.0, 2500.0, 800.0])
_MIN_SPACING = np.array([6.0, 6.0, 25.0, 30.0])
_OFFSET_LO = np.array([12.0, 12.0, 15.0, 20.0])
_OFFSET_HI = np.array([16.0, 16.0, 55.0, 30.0])
# chance that a house number is skipped (a gap of one number on that side)
_GAP_CHANCE = np.array([0.03, 0.03, 0.3, 0.1])

# per zone kind: streets stay this far inside the zone, so that a house (at
# most _OFFSET_HI from its street plus the buffer's chord error) stays inside
_MARGIN = np.array([17.0, 58.0, 32.0])
_STREET_SPACING = np.array([75.0, np.nan, 150.0])
# share of the addresses in multi-address buildings and their mean size
_BLOCK_SHARE = np.array([0.10, 0.03, 0.05])
_BLOCK_MEAN = np.array([8.0, 2.0, 3.0])
_MIN_STREET = 40.0

# fictional municipality at 10,000 addresses: villages (name, share of the
# addresses, offset from the centre in m, number of kern buurten)
_DEMO_NAME = "Demogemeente Voorbeeld (gegenereerd)"
_DEMO_CODE = "GM9999"
_DEMO_CENTRE = (251_000.0, 470_000.0)
_VILLAGES = (
    ("Demodorp", 0.55, -1500.0, 500.0, 4),
    ("Proefhoven", 0.25, 3000.0, 2500.0, 3),
    ("Testerlo", 0.12, 500.0, -3500.0, 2),
)
_RURAL_SHARE = 0.08
_CORE_DENSITY = 0.003  # addresses per m2 of a village core (30 per ha)
_GRID = 0.001  # m, precision grid of the generated polygons

# real-boundaries mode: share of the addresses per zone kind
_REAL_SHARES = np.array([0.89, 0.10, 0.01])

# postcodes: fictional PC4s counted up from here; PC6 letter pairs per PC4
_PC4_FIRST = 9000
_RUNS_PER_PC4 = 400
_LETTERS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), dtype=object)
_PC6_PAIRS = np.array(
    [a + b for a in _LETTERS for b in _LETTERS if a + b not in ("SA", "SD", "SS")],
    dtype=object,
)
# BAG-style nummeraanduiding id: gemeente 9999 (fictional), object type 20
_BAG_PREFIX = "999920"
_MAX_ADDRESSES = 2_000_000

_GEBRUIKSDOEL = {
    _MAIN: (
        0.22,
        (
            "winkelfunctie",
            "kantoorfunctie",
            "bijeenkomstfunctie",
            "gezondheidszorgfunctie",
        ),
        (0.5, 0.2, 0.15, 0.15),
    ),
    _VILLAGE: (
        0.03,
        (
            "kantoorfunctie",
            "winkelfunctie",
            "gezondheidszorgfunctie",
            "onderwijsfunctie",
        ),
        (0.4, 0.3, 0.15, 0.15),
    ),
    _COUNTRY: (
        0.05,
        ("industriefunctie", "logiesfunctie", "kantoorfunctie"),
        (0.6, 0.2, 0.2),
    ),
    _WORKS: (
        0.75,
        ("industriefunctie", "kantoorfunctie", "winkelfunctie"),
        (0.7, 0.2, 0.1),
    ),
}


def _compound_names(
    prefixes: tuple[str, ...], suffixes: tuple[str, ...], modifiers: tuple[str, ...]
) -> tuple[str, ...]:
    """Dutch compound street names: ``Beuken`` + ``laan`` -> ``Beukenlaan``."""
    return tuple(
        m + p + s
        for m in modifiers
        for p in prefixes
        for s in suffixes
        if p.lower() != s
    )


# fictional names from trees, birds, crops and farm words; no persons
_MAIN_NAMES = (
    "Dorpsstraat", "Hoofdstraat", "Grotestraat", "Kerkstraat", "Marktstraat",
    "Stationsstraat", "Rijksweg", "Brinkstraat", "Schoolstraat", "Molenstraat",
    "Veldstraat", "Raadhuisstraat",
)  # fmt: skip
_VILLAGE_NAMES = _compound_names(
    (
        "Beuken", "Eiken", "Linden", "Berken", "Wilgen", "Esdoorn", "Kastanje",
        "Meidoorn", "Hulst", "Vlier", "Hazelaar", "Lijsterbes", "Populieren",
        "Elzen", "Iepen", "Sparren", "Dennen", "Lariks", "Taxus", "Jasmijn",
        "Vlinder", "Merel", "Lijster", "Zwaluw", "Kievit", "Leeuwerik", "Specht",
        "Reiger", "Ooievaar", "Buizerd", "Vlas", "Rogge", "Haver", "Tarwe",
        "Gerst", "Boekweit", "Klaver", "Korenbloem", "Distel", "Heide", "Brink",
        "Molen", "Kerk", "School", "Veld", "Akker", "Weide", "Beek", "Bron",
        "Vijver", "Hoeve", "Schuur", "Smidse", "Bleek", "Spinners", "Wevers",
        "Bakkers", "Kuipers", "Zand", "Klei",
    ),
    (
        "straat", "laan", "hof", "erf", "akker", "kamp", "singel", "pad", "horst",
        "gaarde", "stede", "hoek", "wal", "veld",
    ),
    ("", "Oude ", "Nieuwe ", "Korte ", "Lange "),
)  # fmt: skip
_COUNTRY_NAMES = _compound_names(
    (
        "Es", "Broek", "Veen", "Heide", "Zand", "Bos", "Hooi", "Schaaps", "Mast",
        "Dal", "Berg", "Kamp", "Molen", "Kapel", "Beek", "Goor", "Vennen", "Hoek",
        "Haar", "Vos", "Das", "Eik", "Linde", "Rietvelds", "Hazen", "Kolk",
        "Wolfs", "Veld", "Koppel", "Weiden", "Maten", "Bult", "Horst", "Hegge",
        "Stroom", "Plas", "Kuil", "Hooiland", "Molenbeek", "Schoppen", "Vlonder",
    ),
    ("weg", "dijk", "steeg", "dreef"),
    ("", "Oude ", "Hoge ", "Lage ", "Grote ", "Kleine "),
)  # fmt: skip
_WORKS_NAMES = _compound_names(
    (
        "Ambachts", "Industrie", "Handels", "Nijverheids", "Fabrieks", "Transport",
        "Techniek", "Energie", "Logistiek", "Werk",
    ),
    ("weg", "straat", "laan", "park"),
    ("",),
)  # fmt: skip
_NAME_POOLS = (
    np.array(_MAIN_NAMES, dtype=object),
    np.array(sorted(set(_VILLAGE_NAMES) - set(_MAIN_NAMES)), dtype=object),
    np.array(sorted(set(_COUNTRY_NAMES) - set(_MAIN_NAMES)), dtype=object),
    np.array(sorted(set(_WORKS_NAMES) - set(_MAIN_NAMES)), dtype=object),
)


@dataclass(frozen=True, eq=False)
class DemoMunicipality:
    """A generated demo municipality (GEGENEREERD, geen echte adressen).

    Attributes
    ----------
    name
        Display name, marked "(gegenereerd)".
    gemeentecode
        ``GM9999`` in the fictional mode (not a real code), else the code of the
        real buurten that were passed in.
    addresses
        Generated address register in EPSG:28992: ``postcode``, ``huisnummer``,
        ``huisletter``, ``huisnummertoevoeging``, ``openbare_ruimte``,
        ``woonplaats``, ``nummeraanduiding_id``, ``buurtcode``, ``wijkcode``,
        ``gebruiksdoel``, ``x``, ``y`` (metres) and point ``geometry``.
    registrations
        Generated registrations as residents type them: ``registration_id``,
        ``postcode``, ``huisnummer`` (text, may hold a letter: ``"12a"``),
        ``huisletter``, ``huisnummertoevoeging``.
    buurten
        ``buurtcode``, ``buurtnaam``, ``wijkcode`` and polygon ``geometry``
        (EPSG:28992).
    wijken
        ``wijkcode``, ``wijknaam`` and polygon ``geometry`` (EPSG:28992).
    """

    name: str
    gemeentecode: str
    addresses: gpd.GeoDataFrame
    registrations: pd.DataFrame
    buurten: gpd.GeoDataFrame
    wijken: gpd.GeoDataFrame


@dataclass(frozen=True)
class _Layout:
    """Zones to fill with addresses, plus the boundaries and names to return."""

    polygon: ObjArray  # zone footprint of the streets (EPSG:28992)
    kind: IntArray  # _KERN, _RURAL or _INDUSTRIAL
    woonplaats: ObjArray
    cx: FloatArray  # centre of a core's street plan (m)
    cy: FloatArray
    radius: FloatArray  # reach of the street plan from the centre (m)
    angle: FloatArray  # direction of the main road (radians)
    weight: FloatArray  # share of the addresses, before street capacity
    buurten: gpd.GeoDataFrame
    wijken: gpd.GeoDataFrame
    name: str
    gemeentecode: str


@dataclass(frozen=True)
class _Streets:
    """Named stretches ``t0``-``t1`` (m) along clipped centre lines."""

    line: ObjArray
    t0: FloatArray
    t1: FloatArray
    kind: IntArray
    zone: IntArray


@dataclass(frozen=True)
class _Points:
    """Address points (one per building) with their number and unit count."""

    street: IntArray
    side: IntArray  # 0 left (odd numbers), 1 right (even numbers)
    x: FloatArray
    y: FloatArray
    huisnummer: IntArray
    units: IntArray  # addresses sharing the point
    block_type: IntArray  # how the units are told apart, see _unit_suffixes
    run: IntArray  # postcode run, consecutive along street sides


def make_demo_municipality(
    *,
    seed: int = 0,
    n_addresses: int = 10_000,
    n_registrations: int = 460,
    buurten: gpd.GeoDataFrame | None = None,
    wijken: gpd.GeoDataFrame | None = None,
) -> DemoMunicipality:
    """Generate the labelled demo municipality: GEGENEREERD, geen echte adressen.

    All addresses, street names, postcodes and registrations are generated and
    fictional. The same seed gives the same frames on the same library versions.

    Parameters
    ----------
    seed
        Non-negative seed for ``numpy.random.default_rng``.
    n_addresses
        Number of addresses to generate (exact), 1 to 2,000,000. In the
        fictional mode the villages grow with it: their radius scales with
        ``(n_addresses / 10_000) ** 0.25`` and the density with the square
        root, so a million addresses give a small city of apartment blocks.
    n_registrations
        Number of registration rows (exact), at most 40 % of ``n_addresses``.
    buurten
        Optional real CBS buurt polygons (columns ``buurtcode``/``buurtnaam`` or
        ``statcode``/``statnaam``, codes ``BU`` + 8 digits, any CRS) of one
        gemeente. When given, the addresses are placed inside them instead of in
        the fictional municipality.
    wijken
        Optional wijk polygons matching ``buurten`` (``wijkcode``/``wijknaam`` or
        ``statcode``/``statnaam``); only used to name the woonplaatsen.

    Returns
    -------
    DemoMunicipality
        Frames in EPSG:28992, each with ``attrs["source"] == DEMO_LABEL``.

    Raises
    ------
    BuurtgroepenError
        For a parameter out of range or ``buurten`` without the needed columns.
    CRSError
        For ``buurten`` or ``wijken`` without a CRS.

    Notes
    -----
    Real-boundaries mode:

    - Buurten named "Verspreide huizen ..." get 10 % of the addresses along
      generated country roads, "Bedrijfsterrein"/"Industrieterrein"/
      "Bedrijventerrein" buurten 1 % (mostly non-residential), the other buurten
      the rest as village cores; within a kind in proportion to the area.
    - ``wijkcode`` follows from the buurt code: ``BU0168WWBB`` -> ``WK0168WW``.
    - The woonplaats of a buurt is the name of its wijk without a leading
      ``"Wijk NN "`` (``"Wijk 00 Losser"`` -> ``"Losser"``). Without ``wijken``
      it is the buurt name without a leading "Verspreide huizen",
      "Bedrijfsterrein", "Bedrijventerrein", "Industrieterrein" or
      "Buitengebied", without a trailing ``" kern"``, and without a trailing
      hyphenated word that is a compass or centre word (``-West``, ``-Centrum``)
      or starts in lower case (``Glane-beekhoek`` -> ``Glane``), so that names
      such as ``Nieuw-Vennep`` stay whole.
    - PC4s are fictional in both modes: counted up from 9000 by woonplaats (two
      for the largest, more when a woonplaats needs over 400 PC6 codes). They
      are **not** the real PC4s of the area. ``nummeraanduiding_id`` always
      starts with the fictional gemeente code 9999.

    Known limits: buurten too small to hold a 40 m street get no addresses (their
    share goes to the others); at high ``n_addresses`` in real boundaries
    the density is reached by ever larger apartment blocks; registrations are
    drawn from residential (``woonfunctie``) addresses only.
    """
    started = time.perf_counter()
    _check_arguments(seed, n_addresses, n_registrations, buurten, wijken)
    rng = np.random.default_rng(seed)

    # boundaries, zones and the street network in them
    if buurten is None:
        layout = _fictional_layout(rng, n_addresses)
    else:
        layout = _real_layout(rng, buurten, wijken)
    streets = _make_streets(rng, layout)

    # address points along the streets, then one row per address
    per_zone = _addresses_per_zone(n_addresses, layout, streets)
    points = _make_points(rng, layout, streets, per_zone)
    addresses, street_of = _addresses_frame(rng, layout, streets, points)
    registrations = _make_registrations(rng, addresses, street_of, n_registrations)

    # label every frame as generated
    for frame in (addresses, registrations, layout.buurten, layout.wijken):
        frame.attrs["source"] = DEMO_LABEL
    logger.info(
        "generated demo municipality: %s addresses, %s registrations, %d buurten, "
        "%d wijken, %d woonplaatsen in %.2f s",
        f"{len(addresses):,}",
        f"{len(registrations):,}",
        len(layout.buurten),
        len(layout.wijken),
        addresses["woonplaats"].nunique(),
        time.perf_counter() - started,
    )
    return DemoMunicipality(
        name=layout.name,
        gemeentecode=layout.gemeentecode,
        addresses=addresses,
        registrations=registrations,
        buurten=layout.buurten,
        wijken=layout.wijken,
    )


def _check_arguments(
    seed: int,
    n_addresses: int,
    n_registrations: int,
    buurten: gpd.GeoDataFrame | None,
    wijken: gpd.GeoDataFrame | None,
) -> None:
    """Reject parameters the generator cannot honour, naming the fix."""
    for name, value in (
        ("seed", seed),
        ("n_addresses", n_addresses),
        ("n_registrations", n_registrations),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            msg = f"`{name}` must be a whole number, got a {type(value).__name__}"
            raise BuurtgroepenError(msg)
    if seed < 0:
        raise BuurtgroepenError(f"`seed` must be 0 or more, got {seed}")
    if not 1 <= n_addresses <= _MAX_ADDRESSES:
        msg = (
            f"`n_addresses` must be between 1 and {_MAX_ADDRESSES:,}, "
            f"got {n_addresses:,}"
        )
        raise BuurtgroepenError(msg)
    most = int(0.4 * n_addresses)
    if not 0 <= n_registrations <= most:
        msg = (
            f"`n_registrations` is {n_registrations:,} but must be between 0 and "
            f"{most:,} (40 % of `n_addresses` = {n_addresses:,}); lower "
            "`n_registrations` or raise `n_addresses`"
        )
        raise BuurtgroepenError(msg)
    if wijken is not None and buurten is None:
        msg = "`wijken` only names the woonplaatsen of `buurten`; pass `buurten` too"
        raise BuurtgroepenError(msg)


# --- boundaries and zones ----------------------------------------------------


def _fictional_layout(rng: np.random.Generator, n_addresses: int) -> _Layout:
    """Lay out the fictional municipality: villages, wijk cells and buurten."""
    # villages: centres, radius and main-road direction, growing with the size
    scale = max(0.5, (n_addresses / 10_000) ** 0.25)
    shares = np.array([v[1] for v in _VILLAGES])
    offsets = np.array([[v[2], v[3]] for v in _VILLAGES])
    centres = np.array(_DEMO_CENTRE) + scale * (
        offsets + rng.uniform(-300.0, 300.0, offsets.shape)
    )
    radius = np.sqrt(shares * 10_000 / (np.pi * _CORE_DENSITY)) * scale
    angle = rng.uniform(0.0, np.pi, len(_VILLAGES))

    # municipality, one wijk cell per village (Voronoi), core = disk in the cell;
    # overlays on a 1 mm grid, so that neighbours share vertices exactly and
    # the buurten tile without float slivers
    muni = shapely.set_precision(_municipal_polygon(rng, centres, radius, scale), _GRID)
    voronoi = shapely.voronoi_polygons(
        shapely.multipoints(centres), extend_to=muni, ordered=True
    )
    cells = shapely.intersection(shapely.get_parts(voronoi), muni, grid_size=_GRID)
    disks = shapely.buffer(shapely.points(centres), radius + 100.0, quad_segs=16)
    cores = shapely.intersection(disks, cells, grid_size=_GRID)

    # buurten: 2-4 kern buurten per core plus the rest of the wijk (countryside)
    rows = []
    countryside = np.empty(len(_VILLAGES), dtype=object)
    for w, (village, _, _, _, n_parts) in enumerate(_VILLAGES):
        parts, suffixes = _split_core(
            centres[w], radius[w], angle[w], cores[w], n_parts
        )
        for b, (part, suffix) in enumerate(zip(parts, suffixes, strict=True)):
            rows.append((f"BU9999{w:02d}{b + 1:02d}", f"{village}-{suffix}", part))
        core = shapely.union_all(parts, grid_size=_GRID)
        countryside[w] = shapely.difference(cells[w], core, grid_size=_GRID)
        rows.append(
            (f"BU9999{w:02d}09", f"Verspreide huizen {village}", countryside[w])
        )
    buurten = _boundary_frame(rows, ("buurtcode", "buurtnaam"))
    buurten.insert(2, "wijkcode", "WK" + buurten["buurtcode"].str[2:8])
    wijken = _boundary_frame(
        [
            (f"WK9999{w:02d}", f"Wijk {w:02d} {v[0]}", cells[w])
            for w, v in enumerate(_VILLAGES)
        ],
        ("wijkcode", "wijknaam"),
    )

    # zones: the village cores (disks) and the countryside of each wijk
    n = len(_VILLAGES)
    names = np.array([v[0] for v in _VILLAGES], dtype=object)
    areas = shapely.area(countryside)
    return _Layout(
        polygon=np.concatenate(
            [shapely.buffer(shapely.points(centres), radius), countryside]
        ),
        kind=np.repeat(np.array([_KERN, _RURAL]), n),
        woonplaats=np.concatenate([names, names]),
        cx=np.tile(centres[:, 0], 2),
        cy=np.tile(centres[:, 1], 2),
        radius=np.tile(radius, 2),
        angle=np.tile(angle, 2),
        weight=np.concatenate([shares, _RURAL_SHARE * areas / areas.sum()]),
        buurten=buurten,
        wijken=wijken,
        name=_DEMO_NAME,
        gemeentecode=_DEMO_CODE,
    )


def _municipal_polygon(
    rng: np.random.Generator, centres: FloatArray, radius: FloatArray, scale: float
) -> shapely.Geometry:
    """Convex outline a few km around the villages, irregular by the seed."""
    # a convex outline keeps each Voronoi cell convex, so country roads clipped
    # to a cell stay in one woonplaats
    theta = np.linspace(0.0, 2 * np.pi, 10, endpoint=False)
    theta = theta[None, :] + rng.uniform(-0.2, 0.2, (len(centres), 10))
    reach = (radius[:, None] + 2500.0 * scale) * rng.uniform(0.85, 1.15, theta.shape)
    x = centres[:, 0:1] + reach * np.cos(theta)
    y = centres[:, 1:2] + reach * np.sin(theta)
    return shapely.convex_hull(
        shapely.multipoints(np.column_stack([x.ravel(), y.ravel()]))
    )


def _split_core(
    centre: FloatArray,
    radius: float,
    angle: float,
    core: shapely.Geometry,
    n_parts: int,
) -> tuple[list[shapely.Geometry], list[str]]:
    """Split a village core into kern buurten (Voronoi of seeds), named by compass."""
    # two parts split along the main road; three or four around the centre
    normal = angle + np.pi / 2
    if n_parts == 2:
        theta = normal + np.array([0.0, np.pi])
        reach = np.full(2, 0.5 * radius)
    else:
        n_ring = 3
        theta = normal + 2 * np.pi * np.arange(n_ring) / n_ring
        reach = np.full(n_ring, 0.6 * radius)
    seeds = centre + reach[:, None] * np.column_stack([np.cos(theta), np.sin(theta)])
    suffixes = [_compass(t) for t in theta]
    if n_parts == 4:
        seeds = np.vstack([centre, seeds])
        suffixes = ["Centrum", *suffixes]

    # Voronoi cells of the seeds clipped to the core tile the core
    cells = shapely.voronoi_polygons(
        shapely.multipoints(seeds), extend_to=core, ordered=True
    )
    parts = shapely.intersection(shapely.get_parts(cells), core, grid_size=_GRID)
    return list(parts), suffixes


def _compass(theta: float) -> str:
    """Dutch compass word for a direction in radians (0 = east, counter-clockwise)."""
    words = (
        "Oost",
        "Noordoost",
        "Noord",
        "Noordwest",
        "West",
        "Zuidwest",
        "Zuid",
        "Zuidoost",
    )
    return words[int(np.round(theta / (np.pi / 4))) % 8]


def _boundary_frame(
    rows: list[tuple[str, str, shapely.Geometry]], columns: tuple[str, str]
) -> gpd.GeoDataFrame:
    """GeoDataFrame of (code, name, polygon) rows in RD New."""
    code, name = columns
    return gpd.GeoDataFrame(
        {code: [r[0] for r in rows], name: [r[1] for r in rows]},
        geometry=[r[2] for r in rows],
        crs=RD_NEW,
    )


def _real_layout(
    rng: np.random.Generator,
    buurten: gpd.GeoDataFrame,
    wijken: gpd.GeoDataFrame | None,
) -> _Layout:
    """Zones from real CBS buurten: cores, countryside and business parks."""
    # normalised buurten (RD New) with the wijk code from the buurt code
    units = _normalise_units(buurten, "buurten", "buurt", r"BU\d{8}")
    units["wijkcode"] = "WK" + units["buurtcode"].str[2:8]
    units = units[["buurtcode", "buurtnaam", "wijkcode", "geometry"]]
    gemeenten = sorted(set("GM" + units["buurtcode"].str[2:6]))
    if len(gemeenten) != 1:
        msg = (
            f"`buurten` holds {len(gemeenten)} gemeenten ({', '.join(gemeenten)}); "
            "pass the buurten of one gemeente"
        )
        raise BuurtgroepenError(msg)

    # woonplaats and zone kind per buurt
    wijknamen = {} if wijken is None else _wijk_names(wijken)
    woonplaats = np.array(
        [
            wijknamen.get(w) or _woonplaats_from_buurtnaam(b)
            for b, w in zip(units["buurtnaam"], units["wijkcode"], strict=True)
        ],
        dtype=object,
    )
    kind = np.array([_zone_kind(b) for b in units["buurtnaam"]], dtype=np.int64)

    # address share per buurt: fixed per kind, within a kind by area
    geoms = units.geometry.to_numpy()
    area = shapely.area(geoms)
    weight = np.zeros(len(units))
    for k in (_KERN, _RURAL, _INDUSTRIAL):
        mine = kind == k
        if area[mine].sum() > 0:
            weight[mine] = _REAL_SHARES[k] * area[mine] / area[mine].sum()
    centre = shapely.point_on_surface(geoms)
    return _Layout(
        polygon=geoms,
        kind=kind,
        woonplaats=woonplaats,
        cx=shapely.get_x(centre),
        cy=shapely.get_y(centre),
        radius=shapely.hausdorff_distance(centre, geoms),
        angle=rng.uniform(0.0, np.pi, len(units)),
        weight=weight,
        buurten=units.reset_index(drop=True),
        wijken=_real_wijken(units, woonplaats, wijken),
        name=f"Demogemeente op CBS-grenzen {gemeenten[0]} (gegenereerd)",
        gemeentecode=gemeenten[0],
    )


def _normalise_units(
    frame: gpd.GeoDataFrame, argument: str, level: str, code_pattern: str
) -> gpd.GeoDataFrame:
    """Code, name and polygon columns of CBS buurten or wijken in RD New."""
    if not isinstance(frame, gpd.GeoDataFrame) or frame.empty:
        msg = f"`{argument}` must be a non-empty GeoDataFrame of {level} polygons"
        raise BuurtgroepenError(msg)
    if frame.crs is None:
        msg = f"`{argument}` has no CRS; set it, e.g. `{argument}.set_crs(28992)`"
        raise CRSError(msg)

    # accept the CBS names (statcode/statnaam) and ours (buurtcode/buurtnaam)
    found = {}
    for ours, cbs in ((f"{level}code", "statcode"), (f"{level}naam", "statnaam")):
        column = ours if ours in frame.columns else cbs
        if column not in frame.columns:
            msg = f"`{argument}` needs a `{ours}` or `{cbs}` column"
            raise BuurtgroepenError(msg)
        found[ours] = frame[column].astype(str).str.strip().to_numpy()
    codes = pd.Series(found[f"{level}code"])
    bad = ~codes.str.fullmatch(code_pattern)
    if bad.any():
        msg = (
            f"`{argument}` has {int(bad.sum())} codes not shaped like "
            f"`{code_pattern}`; pass CBS codes such as "
            f"{'BU01680001' if level == 'buurt' else 'WK016800'}"
        )
        raise BuurtgroepenError(msg)
    return gpd.GeoDataFrame(
        found, geometry=frame.to_crs(RD_NEW).geometry.to_numpy(), crs=RD_NEW
    )


def _wijk_names(wijken: gpd.GeoDataFrame) -> dict[str, str]:
    """Woonplaats per wijk code: the wijk name without ``"Wijk NN "``."""
    units = _normalise_units(wijken, "wijken", "wijk", r"WK\d{6}")
    return {
        code: re.sub(r"^Wijk\s+\d+\s+", "", name)
        for code, name in zip(units["wijkcode"], units["wijknaam"], strict=True)
    }


def _woonplaats_from_buurtnaam(name: str) -> str:
    """Woonplaats from a buurt name, by the rule in :func:`make_demo_municipality`."""
    name = re.sub(
        r"^(Verspreide huizen|Bedrijfsterrein|Bedrijventerrein|Industrieterrein"
        r"|Buitengebied)\s+",
        "",
        name.strip(),
    )
    name = re.sub(r"\s+kern$", "", name)
    compass = (
        "Noord|Oost|Zuid|West|Noordoost|Noordwest|Zuidoost|Zuidwest|Centrum|Midden"
    )
    return re.sub(rf"-(?:{compass}|[a-z][\w-]*)$", "", name)


def _zone_kind(buurtnaam: str) -> int:
    """Countryside, business park or village core, from the buurt name."""
    if buurtnaam.startswith("Verspreide huizen"):
        return _RURAL
    if re.match(r"(Bedrijfsterrein|Bedrijventerrein|Industrieterrein)\b", buurtnaam):
        return _INDUSTRIAL
    return _KERN


def _real_wijken(
    units: gpd.GeoDataFrame, woonplaats: ObjArray, wijken: gpd.GeoDataFrame | None
) -> gpd.GeoDataFrame:
    """The given wijken in RD New, or the buurten dissolved by wijk code."""
    if wijken is not None:
        normalised = _normalise_units(wijken, "wijken", "wijk", r"WK\d{6}")
        return normalised[["wijkcode", "wijknaam", "geometry"]].reset_index(drop=True)
    grouped = units.assign(woonplaats=woonplaats).dissolve(
        by="wijkcode", aggfunc={"woonplaats": "first"}
    )
    pairs = zip(grouped.index, grouped["woonplaats"], strict=True)
    names = [f"Wijk {code[-2:]} {place}" for code, place in pairs]
    return gpd.GeoDataFrame(
        {"wijkcode": list(grouped.index), "wijknaam": names},
        geometry=grouped.geometry.to_numpy(),
        crs=RD_NEW,
    )


# --- streets -----------------------------------------------------------------


def _make_streets(rng: np.random.Generator, layout: _Layout) -> _Streets:
    """Centre lines per zone, clipped inside it and cut into named stretches."""
    # raw lines per zone (a loop over a handful of zones, vectorised inside)
    lines, kinds, zones = [], [], []
    for z, kind in enumerate(layout.kind):
        if kind == _RURAL:
            raw = _country_lines(rng, layout.polygon[z])
            raw_kind = np.full(len(raw), _COUNTRY)
        else:
            raw, is_main = _core_lines(
                layout.cx[z],
                layout.cy[z],
                layout.radius[z],
                layout.angle[z],
                _STREET_SPACING[kind],
            )
            core_kind = np.where(is_main, _MAIN, _VILLAGE)
            raw_kind = core_kind if kind == _KERN else np.full(len(raw), _WORKS)
        parts, source = _clip_lines(raw, layout.polygon[z], _MARGIN[kind])
        lines.append(parts)
        kinds.append(raw_kind[source])
        zones.append(np.full(len(parts), z))

    # cut long lines into stretches that each get their own name
    line = np.concatenate(lines) if lines else np.array([], dtype=object)
    kind = np.concatenate(kinds).astype(np.int64)
    length = shapely.length(line)
    pieces = np.maximum(1, np.ceil(length / _PIECE_MAX[kind])).astype(np.int64)
    owner = np.repeat(np.arange(len(line)), pieces)
    piece = np.arange(len(owner)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    step = length[owner] / pieces[owner]
    return _Streets(
        line=line[owner],
        t0=piece * step,
        t1=(piece + 1) * step,
        kind=kind[owner],
        zone=np.concatenate(zones).astype(np.int64)[owner],
    )


def _core_lines(
    cx: float, cy: float, radius: float, angle: float, spacing: float
) -> tuple[ObjArray, BoolArray]:
    """Main road, side streets on its left and ring streets on its right."""
    centre = np.array([cx, cy])
    along = np.array([np.cos(angle), np.sin(angle)])
    left = np.array([-along[1], along[0]])

    # main road through the centre and parallel side streets perpendicular to it
    main = np.stack([centre - 1.1 * radius * along, centre + 1.1 * radius * along])
    k = np.floor(radius / spacing)
    offset = np.arange(-k, k + 1) * spacing
    start = centre + offset[:, None] * along + 30.0 * left
    grid = np.stack([start, start + (1.1 * radius - 30.0) * left], axis=1)
    straight = shapely.linestrings(np.concatenate([main[None], grid]))

    # ring streets: arcs around the centre, 30 m clear of the main road
    ring = np.arange(90.0, radius, spacing)
    clear = np.arcsin(np.minimum(1.0, 30.0 / np.maximum(ring, 30.0)))
    span = np.pi - 2 * clear
    n_vertex = np.maximum(8, np.ceil(ring * span / 25.0)).astype(np.int64)
    arc = np.repeat(np.arange(len(ring)), n_vertex)
    frac = (
        np.arange(len(arc)) - np.repeat(np.cumsum(n_vertex) - n_vertex, n_vertex)
    ) / (n_vertex[arc] - 1)
    theta = angle - np.pi + clear[arc] + frac * span[arc]
    coords = centre + ring[arc, None] * np.column_stack([np.cos(theta), np.sin(theta)])
    rings = (
        shapely.linestrings(coords, indices=arc)
        if len(ring)
        else np.array([], dtype=object)
    )
    is_main = np.zeros(len(straight) + len(rings), dtype=bool)
    is_main[0] = True
    return np.concatenate([straight, rings]), is_main


def _country_lines(rng: np.random.Generator, zone: shapely.Geometry) -> ObjArray:
    """Straight country roads through random points of the zone.

    About one road per 2 km2, at most 40, so a large zone keeps few enough
    road names.
    """
    n_roads = min(40, max(2, round(shapely.area(zone) / 2.0e6)))
    x, y = _points_inside(rng, zone, n_roads)
    theta = rng.uniform(0.0, np.pi, len(x))
    minx, miny, maxx, maxy = shapely.bounds(zone)
    half = np.hypot(maxx - minx, maxy - miny)
    dx, dy = half * np.cos(theta), half * np.sin(theta)
    ends = np.stack(
        [np.column_stack([x - dx, y - dy]), np.column_stack([x + dx, y + dy])], 1
    )
    return shapely.linestrings(ends)


def _points_inside(
    rng: np.random.Generator, zone: shapely.Geometry, n: int
) -> tuple[FloatArray, FloatArray]:
    """Up to ``n`` uniform random points inside ``zone`` (rejection sampling).

    Fewer come back only for a zone that fills under 1 % of its bounding box
    (after 25 rounds), or none for a zone without area.
    """
    minx, miny, maxx, maxy = shapely.bounds(zone)
    xs, ys = [np.empty(0)], [np.empty(0)]
    found = 0
    for _ in range(25 if shapely.area(zone) > 0 else 0):
        x = rng.uniform(minx, maxx, 4 * n)
        y = rng.uniform(miny, maxy, 4 * n)
        inside = shapely.contains_xy(zone, x, y)
        xs.append(x[inside])
        ys.append(y[inside])
        found += int(inside.sum())
        if found >= n:
            break
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _clip_lines(
    lines: ObjArray, zone: shapely.Geometry, margin: float
) -> tuple[ObjArray, IntArray]:
    """Line parts inside the zone shrunk by ``margin`` m, with their source index."""
    inner = shapely.buffer(zone, -margin)
    if shapely.is_empty(inner) or len(lines) == 0:
        return np.array([], dtype=object), np.array([], dtype=np.int64)
    parts, source = shapely.get_parts(
        shapely.intersection(lines, inner), return_index=True
    )
    keep = (shapely.get_type_id(parts) == 1) & (shapely.length(parts) >= _MIN_STREET)
    return parts[keep], source[keep].astype(np.int64)


# --- address points ----------------------------------------------------------


def _addresses_per_zone(
    n_addresses: int, layout: _Layout, streets: _Streets
) -> IntArray:
    """Addresses per zone by weight, skipping zones without room for a street."""
    room = np.bincount(
        streets.zone, weights=streets.t1 - streets.t0, minlength=len(layout.kind)
    )
    weight = np.where(room > 0, layout.weight, 0.0)
    if weight.sum() <= 0:
        msg = (
            "`buurten` has no polygon large enough for a 40 m street; "
            "pass larger buurten"
        )
        raise BuurtgroepenError(msg)
    return _largest_remainder(n_addresses, weight)


def _largest_remainder(total: int, weight: FloatArray) -> IntArray:
    """Split ``total`` into whole numbers in proportion to ``weight``, exactly."""
    quota = total * weight / weight.sum()
    counts = np.floor(quota).astype(np.int64)
    short = total - int(counts.sum())
    if short > 0:
        counts[np.argsort(counts - quota, kind="stable")[:short]] += 1
    return counts


def _make_points(
    rng: np.random.Generator, layout: _Layout, streets: _Streets, per_zone: IntArray
) -> _Points:
    """Buildings along the streets, numbered along each side, with unit counts."""
    # how many buildings each street gets, and how many addresses each holds
    length = streets.t1 - streets.t0
    per_street = np.zeros(len(length), dtype=np.int64)
    for z in np.flatnonzero(per_zone):
        mine = np.flatnonzero(streets.zone == z)
        room = np.floor(2 * length[mine] / _MIN_SPACING[streets.kind[mine]]).sum()
        kind = layout.kind[z]
        share, mean = _BLOCK_SHARE[kind], _BLOCK_MEAN[kind]
        wanted = round(per_zone[z] * (1 - share) + per_zone[z] * share / mean)
        n_points = int(min(max(1, wanted), room, per_zone[z]))
        per_street[mine] = _largest_remainder(n_points, length[mine])

    # position along the street and side, then coordinates
    street = np.repeat(np.arange(len(length)), per_street)
    side, t = _positions(rng, streets, per_street, street)
    x, y = _offset_points(rng, streets, street, side, t)

    # numbers along each side, units per building, postcode runs
    order = np.lexsort((t, side, street))
    street, side, x, y = street[order], side[order], x[order], y[order]
    huisnummer = _house_numbers(rng, streets.kind[street], street * 2 + side)
    units = _units(rng, layout, streets, street, x, y, per_zone)
    return _Points(
        street=street,
        side=side,
        x=x,
        y=y,
        huisnummer=huisnummer,
        units=units,
        block_type=_block_types(rng, units),
        run=_postcode_runs(rng, street * 2 + side, units),
    )


def _positions(
    rng: np.random.Generator, streets: _Streets, per_street: IntArray, street: IntArray
) -> tuple[IntArray, FloatArray]:
    """Side (0 left, 1 right) and distance along the line (m) of each building."""
    # villages: alternate sides, evenly spaced with a little jitter
    k = per_street[street]
    j = np.arange(len(street)) - np.repeat(
        np.cumsum(per_street) - per_street, per_street
    )
    side = j % 2
    on_side = np.where(side == 0, (k + 1) // 2, k // 2)
    frac = (j // 2 + 0.5 + rng.uniform(-0.2, 0.2, len(j))) / np.maximum(on_side, 1)

    # countryside: random side and place along the road
    rural = streets.kind[street] == _COUNTRY
    side = np.where(rural, rng.integers(0, 2, len(j)), side)
    frac = np.where(rural, rng.uniform(0.0, 1.0, len(j)), frac)
    t0, t1 = streets.t0[street], streets.t1[street]
    return side.astype(np.int64), t0 + np.clip(frac, 0.0, 1.0) * (t1 - t0)


def _offset_points(
    rng: np.random.Generator,
    streets: _Streets,
    street: IntArray,
    side: IntArray,
    t: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Coordinates (RD New, m) beside the centre line, left or right of it."""
    # local direction from two nearby points on the line
    line = streets.line[street]
    length = shapely.length(line)
    at = shapely.get_coordinates(shapely.line_interpolate_point(line, t))
    ahead = shapely.get_coordinates(
        shapely.line_interpolate_point(line, np.minimum(t + 1, length))
    )
    behind = shapely.get_coordinates(
        shapely.line_interpolate_point(line, np.maximum(t - 1, 0))
    )
    direction = ahead - behind
    direction /= np.maximum(np.hypot(direction[:, 0], direction[:, 1]), 1e-9)[:, None]

    # left normal for side 0, right for side 1; rounded to mm as in the BAG
    kind = streets.kind[street]
    offset = rng.uniform(_OFFSET_LO[kind], _OFFSET_HI[kind]) * np.where(
        side == 0, 1.0, -1.0
    )
    x = at[:, 0] - offset * direction[:, 1]
    y = at[:, 1] + offset * direction[:, 0]
    return np.round(x, 3), np.round(y, 3)


def _group_starts(group: IntArray) -> BoolArray:
    """True where a sorted group array starts a new group."""
    start = np.ones(len(group), dtype=bool)
    start[1:] = group[1:] != group[:-1]
    return start


def _cumsum_within(values: IntArray, group: IntArray) -> IntArray:
    """Cumulative sum restarting at each group of a sorted group array."""
    total = np.cumsum(values)
    start = _group_starts(group)
    before = (total - values)[start]
    return total - np.repeat(
        before, np.diff(np.append(np.flatnonzero(start), len(group)))
    )


def _house_numbers(
    rng: np.random.Generator, kind: IntArray, group: IntArray
) -> IntArray:
    """Odd numbers on the left, even on the right, rising along the street."""
    # a skipped number now and then, more often along country roads
    step = 1 + (rng.random(len(kind)) < _GAP_CHANCE[kind]).astype(np.int64)
    step[_group_starts(group)] = 1
    count = _cumsum_within(step, group)
    return np.where(group % 2 == 0, 2 * count - 1, 2 * count)


def _units(
    rng: np.random.Generator,
    layout: _Layout,
    streets: _Streets,
    street: IntArray,
    x: FloatArray,
    y: FloatArray,
    per_zone: IntArray,
) -> IntArray:
    """Addresses per building: the zone's surplus over its buildings goes to blocks."""
    units = np.ones(len(street), dtype=np.int64)
    zone = streets.zone[street]
    for z in np.flatnonzero(per_zone):
        mine = np.flatnonzero(zone == z)
        extra = int(per_zone[z]) - len(mine)
        if extra <= 0:
            continue

        # blocks near the centre and on the main road (Gumbel top-k sampling)
        kind = layout.kind[z]
        n_blocks = min(len(mine), max(1, round(extra / (_BLOCK_MEAN[kind] - 1))))
        dist = np.hypot(x[mine] - layout.cx[z], y[mine] - layout.cy[z])
        score = (
            -2.0 * dist / max(layout.radius[z], 1.0) if kind == _KERN else 0.0 * dist
        )
        score = score + np.log(2.0) * (streets.kind[street[mine]] == _MAIN)
        score = score - np.log(-np.log(rng.uniform(1e-12, 1.0, len(mine))))
        blocks = mine[np.argpartition(-score, n_blocks - 1)[:n_blocks]]

        # the surplus over the blocks with uneven sizes
        share = rng.gamma(1.5, size=n_blocks)
        units[blocks] += rng.multinomial(extra, share / share.sum())
    return units


def _block_types(rng: np.random.Generator, units: IntArray) -> IntArray:
    """How the units of a building differ: 0 single, else see _unit_suffixes."""
    u = rng.random(len(units))
    pair = np.select([u < 0.2, u < 0.7], [5, 2], 4)
    small = np.select([u < 0.35, u < 0.5, u < 0.8], [1, 2, 3], 4)
    large = np.where(u < 0.8, 3, 4)
    return np.select([units == 1, units == 2, units <= 26], [0, pair, small], large)


def _postcode_runs(
    rng: np.random.Generator, group: IntArray, units: IntArray
) -> IntArray:
    """Consecutive runs of 10-25 addresses on one street side, numbered 0, 1, ..."""
    # a building stays in one run, so a block never spans two postcodes
    start = _group_starts(group)
    size = np.repeat(
        rng.integers(10, 26, int(start.sum())),
        np.diff(np.append(np.flatnonzero(start), len(group))),
    )
    run = (_cumsum_within(units, group) - units) // size
    new = start.copy()
    new[1:] |= run[1:] != run[:-1]
    return np.cumsum(new) - 1


# --- address frame -----------------------------------------------------------


def _addresses_frame(
    rng: np.random.Generator, layout: _Layout, streets: _Streets, points: _Points
) -> tuple[gpd.GeoDataFrame, IntArray]:
    """One row per address, sorted by postcode and number, plus its street index."""
    # one row per unit of each building
    building = np.repeat(np.arange(len(points.units)), points.units)
    unit = np.arange(len(building)) - np.repeat(
        np.cumsum(points.units) - points.units, points.units
    )
    huisletter, toevoeging = _unit_suffixes(points.block_type[building], unit)
    street = points.street[building]
    woonplaats = layout.woonplaats[streets.zone[street]]

    # postcodes, street names and codes of the buurt each building falls in
    pc4, pair = _postcodes(rng, layout, streets, points)
    names = _street_names(rng, layout, streets, points.street)
    buurt = _buurt_of_points(layout, points.x, points.y)[building]
    codes = layout.buurten[["buurtcode", "wijkcode"]].to_numpy()[buurt]

    # BAG order: postcode, huisnummer, huisletter, toevoeging
    # (a PC6 covers one street side, so postcode and number fix the building)
    order = np.lexsort(
        (unit, points.huisnummer[building], pair[building], pc4[building])
    )
    building, street = building[order], street[order]
    frame = pd.DataFrame(
        {
            "postcode": _pc6_text(pc4[building], pair[building]),
            "huisnummer": points.huisnummer[building],
            "huisletter": huisletter[order],
            "huisnummertoevoeging": toevoeging[order],
            "openbare_ruimte": names[street],
            "woonplaats": woonplaats[order],
            "nummeraanduiding_id": _bag_ids(len(order)),
            "buurtcode": codes[order, 0],
            "wijkcode": codes[order, 1],
            "gebruiksdoel": _gebruiksdoel(rng, streets.kind[street]),
            "x": points.x[building],
            "y": points.y[building],
        }
    )
    geometry = gpd.points_from_xy(frame["x"], frame["y"], crs=RD_NEW)
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=RD_NEW), street


def _unit_suffixes(block_type: IntArray, unit: IntArray) -> tuple[ObjArray, ObjArray]:
    """Huisletter and toevoeging of unit ``unit`` (0, 1, ...) of a building.

    Block types: 0 single; 1 letters ``A, B, C``; 2 ``"", A, B``; 3 toevoeging
    ``1, 2, 3``; 4 ``HS, 1, 2`` (ground floor and upper floors); 5 ``"", BIS``.
    """
    # letters (index into "" + A..Z)
    letter = np.select(
        [block_type == 1, (block_type == 2) & (unit > 0)], [unit + 1, unit], 0
    )
    letters = np.concatenate([[""], _LETTERS]).astype(object)

    # toevoeging: numbers, then the two named ones after them
    top = int(unit.max(initial=0)) + 2
    words = np.array(["", *map(str, range(1, top)), "HS", "BIS"], dtype=object)
    number = np.select(
        [block_type == 3, (block_type == 4) & (unit > 0)], [unit + 1, unit], 0
    )
    number = np.where((block_type == 4) & (unit == 0), top, number)
    number = np.where((block_type == 5) & (unit == 1), top + 1, number)
    return letters[letter], words[number]


def _postcodes(
    rng: np.random.Generator, layout: _Layout, streets: _Streets, points: _Points
) -> tuple[IntArray, IntArray]:
    """PC4 and letter-pair index per building, from its postcode run."""
    # woonplaats of every run, in order of first appearance
    n_runs = int(points.run.max(initial=-1)) + 1
    first = np.unique(points.run, return_index=True)[1]
    run_place = layout.woonplaats[streets.zone[points.street[first]]]
    places, place_of_run = np.unique(run_place.astype(str), return_inverse=True)
    appearance = np.argsort(
        np.unique(place_of_run, return_index=True)[1], kind="stable"
    )
    sizes = np.bincount(
        place_of_run,
        weights=np.bincount(points.run, points.units),
        minlength=len(places),
    )

    # PC4s counted up by woonplaats; two for the largest, more when needed
    run_pc4 = np.zeros(n_runs, dtype=np.int64)
    run_pair = np.zeros(n_runs, dtype=np.int64)
    next_pc4 = _PC4_FIRST
    for p in appearance:
        runs = np.flatnonzero(place_of_run == p)
        base = 2 if p == np.argmax(sizes) and len(runs) >= 2 else 1
        n_pc4 = max(base, -(-len(runs) // _RUNS_PER_PC4))
        chunk = np.arange(len(runs)) * n_pc4 // len(runs)
        run_pc4[runs] = next_pc4 + chunk
        for c in range(n_pc4):
            in_chunk = runs[chunk == c]
            picks = rng.choice(len(_PC6_PAIRS), len(in_chunk), replace=False)
            run_pair[in_chunk] = np.sort(picks)
        next_pc4 += n_pc4
    if next_pc4 > 9999:
        msg = (
            f"the demo needs {next_pc4 - _PC4_FIRST} PC4s but only 9000-9999 are "
            "available; lower `n_addresses`"
        )
        raise BuurtgroepenError(msg)
    return run_pc4[points.run], run_pair[points.run]


def _pc6_text(pc4: IntArray, pair: IntArray) -> ObjArray:
    """``"9000AB"`` from a PC4 and a letter-pair index."""
    return np.char.add(pc4.astype(str), _PC6_PAIRS[pair].astype(str)).astype(object)


def _bag_ids(n: int) -> ObjArray:
    """Sixteen-digit BAG-style nummeraanduiding ids of fictional gemeente 9999."""
    serial = np.char.zfill(np.arange(1, n + 1).astype(str), 10)
    return np.char.add(_BAG_PREFIX, serial).astype(object)


def _street_names(
    rng: np.random.Generator, layout: _Layout, streets: _Streets, used: IntArray
) -> ObjArray:
    """A name per street, unique within its woonplaats, drawn by street kind."""
    names = np.full(len(streets.kind), "", dtype=object)
    place = layout.woonplaats[streets.zone]
    for woonplaats in np.unique(place[np.unique(used)].astype(str)):
        for kind, pool in enumerate(_NAME_POOLS):
            mine = np.flatnonzero((place == woonplaats) & (streets.kind == kind))
            if len(mine) > len(pool):
                msg = (
                    f"the demo needs {len(mine)} street names of one kind in one "
                    f"woonplaats but has {len(pool)}; lower `n_addresses`"
                )
                raise BuurtgroepenError(msg)
            names[mine] = pool[rng.permutation(len(pool))[: len(mine)]]
    return names


def _buurt_of_points(layout: _Layout, x: FloatArray, y: FloatArray) -> IntArray:
    """Index of the buurt polygon each point falls in (nearest when in none)."""
    points = shapely.points(x, y)
    tree = shapely.STRtree(layout.buurten.geometry.to_numpy())
    which, buurt = tree.query(points, predicate="intersects")
    found = np.full(len(points), -1, dtype=np.int64)
    found[which[::-1]] = buurt[::-1]
    lost = np.flatnonzero(found < 0)
    if len(lost):
        near_which, near_buurt = tree.query_nearest(points[lost])
        found[lost[near_which]] = near_buurt
    return found


def _gebruiksdoel(rng: np.random.Generator, kind: IntArray) -> ObjArray:
    """BAG gebruiksdoel: mostly woonfunctie, shops on main roads, works in parks."""
    result = np.full(len(kind), "woonfunctie", dtype=object)
    u = rng.random(len(kind))
    for k, (chance, purposes, weights) in _GEBRUIKSDOEL.items():
        mine = np.flatnonzero((kind == k) & (u < chance))
        result[mine] = rng.choice(
            np.array(purposes, dtype=object), len(mine), p=weights
        )
    return result


# --- registrations -----------------------------------------------------------


def _make_registrations(
    rng: np.random.Generator,
    addresses: gpd.GeoDataFrame,
    street: IntArray,
    n_registrations: int,
) -> pd.DataFrame:
    """Registrations as residents type them, spread very unevenly over streets."""
    # rows: unique residential addresses, household members, unmatched numbers
    n_unmatched = round(0.01 * n_registrations)
    n_households = round(0.005 * n_registrations)
    members = rng.integers(1, 3, n_households)
    n_unique = n_registrations - n_unmatched - int(members.sum())
    if n_unique < n_households:
        n_households, members, n_unique = 0, members[:0], n_registrations - n_unmatched

    # unique addresses by street participation, then the extra household members
    woon = np.flatnonzero(addresses["gebruiksdoel"].to_numpy() == "woonfunctie")
    chosen = _pick_by_street(rng, woon, street[woon], n_unique)
    rows = np.concatenate(
        [chosen, np.repeat(rng.choice(chosen, n_households, replace=False), members)]
    )

    # typed values, then rows whose number does not exist on their postcode
    typed = _as_typed(rng, addresses.iloc[rows])
    typed = pd.concat(
        [typed, _unmatched(rng, addresses, n_unmatched)], ignore_index=True
    )
    typed = typed.iloc[rng.permutation(len(typed))].reset_index(drop=True)
    width = max(5, len(str(len(typed))))
    typed.insert(
        0, "registration_id", [f"R{i:0{width}d}" for i in range(1, len(typed) + 1)]
    )
    return typed


def _pick_by_street(
    rng: np.random.Generator, candidates: IntArray, street: IntArray, n: int
) -> IntArray:
    """``n`` distinct addresses: some streets 42-60 % registered, many none."""
    # heavy-tailed street targets, then random addresses within each street
    streets, code = np.unique(street, return_inverse=True)
    size = np.bincount(code, minlength=len(streets))
    target = _street_targets(rng, size, n)
    order = np.lexsort((rng.random(len(code)), code))
    rank = np.arange(len(order)) - np.repeat(np.cumsum(size) - size, size)
    return candidates[order[rank < target[code[order]]]]


def _street_targets(rng: np.random.Generator, size: IntArray, n: int) -> IntArray:
    """Registrations per street: a few active, many none, the rest heavy-tailed."""
    # about 40 % of the streets are blind; the first eligible big ones are active
    m = len(size)
    eligible = rng.random(m) < 0.6
    rate = rng.uniform(0.42, 0.6, m)
    candidate = rng.permutation(m)
    candidate = candidate[eligible[candidate] & (size[candidate] >= 8)]
    active_count = np.round(rate[candidate] * size[candidate])
    take = np.cumsum(active_count) <= 0.35 * n
    take[:1] = True
    target = np.zeros(m)
    target[candidate[take]] = np.minimum(active_count[take], n)

    # the remainder over the other eligible streets, capped at 35 % of a street
    rest = eligible.copy()
    rest[candidate[take]] = False
    share = rng.lognormal(0.0, 1.0, m) * size * rest
    left = n - target.sum()
    for _ in range(6):
        room = 0.35 * size * rest - target * rest
        if left <= 0 or share.sum() <= 0:
            break
        add = np.minimum(left * share / share.sum(), np.maximum(room, 0))
        target += add
        left -= add.sum()
        share = np.where(room - add > 1e-9, share, 0.0)
    return _fill_exactly(np.floor(target).astype(np.int64), size, n, eligible)


def _fill_exactly(
    target: IntArray, size: IntArray, n: int, eligible: BoolArray
) -> IntArray:
    """Top up rounded street targets to exactly ``n``, eligible streets first."""
    # the targets sum to n or just under; fill the largest gaps, blind streets last
    short = n - int(target.sum())
    if short <= 0:
        return target
    room = size - target
    order = np.lexsort((-room, ~eligible))
    cumulative = np.cumsum(room[order])
    take = np.minimum(room[order], np.maximum(0, short - (cumulative - room[order])))
    target[order] += take
    return target


def _as_typed(rng: np.random.Generator, rows: pd.DataFrame) -> pd.DataFrame:
    """Postcode and number as residents type them: mostly clean, a few sloppy."""
    n = len(rows)
    postcode = rows["postcode"].astype(str).reset_index(drop=True)
    letter = rows["huisletter"].astype(str).reset_index(drop=True)
    number = rows["huisnummer"].astype(str).reset_index(drop=True)
    toevoeging = rows["huisnummertoevoeging"].astype(str).reset_index(drop=True)

    # about 5 % with lower case and/or a space in the postcode
    sloppy = rng.random(n) < 0.05
    style = rng.integers(0, 3, n)
    spaced = postcode.str[:4] + " " + postcode.str[4:]
    postcode = postcode.where(~(sloppy & (style >= 1)), spaced)
    postcode = postcode.where(~(sloppy & (style != 1)), postcode.str.lower())
    letter = letter.where(~sloppy, letter.str.lower())
    toevoeging = toevoeging.where(~sloppy, toevoeging.str.lower())

    # a third of the letters typed into the number field ("12a")
    inside = (letter != "").to_numpy() & (rng.random(n) < 0.33)
    number = number.where(~inside, number + letter.str.lower())
    letter = letter.where(~inside, "")
    return pd.DataFrame(
        {
            "postcode": postcode,
            "huisnummer": number,
            "huisletter": letter,
            "huisnummertoevoeging": toevoeging,
        }
    )


def _unmatched(
    rng: np.random.Generator, addresses: pd.DataFrame, n: int
) -> pd.DataFrame:
    """Rows with a real postcode but a house number that does not exist on it."""
    highest = addresses.groupby("postcode")["huisnummer"].max()
    pick = rng.integers(0, len(highest), n)
    number = highest.to_numpy()[pick] + 2 * rng.integers(1, 20, n)
    return pd.DataFrame(
        {
            "postcode": highest.index.to_numpy()[pick].astype(object),
            "huisnummer": number.astype(str).astype(object),
            "huisletter": np.full(n, "", dtype=object),
            "huisnummertoevoeging": np.full(n, "", dtype=object),
        }
    )
