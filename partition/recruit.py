"""Recruitment targeting: which streets to canvass next, in order.

The question is where one more participant adds the most watched homes. Every
residential address is a candidate place for a recruit; a recruit there covers
every residential address within the radius R (straight-line, RD New metres) that
no registration covers yet. Picking the recruits one at a time, each time the
candidate with the largest number of newly covered addresses (the *marginal
gain*), is the greedy algorithm for maximum coverage: after k steps it covers at
least (1 - 1/e), about 63 %, of what the best possible k recruits would cover
(Nemhauser, Wolsey and Fisher 1978), and no polynomial algorithm does better in
general unless P = NP (Feige 1998).

The gains are evaluated lazily (Minoux's accelerated greedy): a gain can only
shrink as addresses get covered, so a candidate whose recomputed gain still tops
the heap of stale gains is the true maximum. Ties go to the candidate first in
street order (woonplaats, street, house number, letter, addition, key), so the
list does not depend on the row order of the register.

Each step is reported per street: the street, woonplaats and buurt of the
best-placed address, the house numbers on that street that the recruit would
newly cover (the doors to knock on, e.g. ``"1-23, 2-30"``), the number of
addresses newly covered (on any street) and the cumulative radius coverage.
Registered addresses are covered by definition, so they are never among the
doors to knock on. When all the addresses a step covers lie on other streets,
the door to knock on is the best-placed address itself (never a registered
one: a registered address has nothing left to cover).
"""

from __future__ import annotations

import heapq
import html
import logging
import re
import time
import unicodedata

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import csr_array
from scipy.spatial import cKDTree

from partition.coverage import DEFAULT_RADIUS_M, check_covered
from partition.errors import BuurtgroepenError

logger = logging.getLogger(__name__)

RD_NEW = "EPSG:28992"

#: Columns of ``recruitment.csv``.
RECRUITMENT_COLUMNS = [
    "rank",
    "woonplaats",
    "openbare_ruimte",
    "buurtcode",
    "huisnummers",
    "newly_covered",
    "cumulative_radius_coverage",
]

#: Columns of :func:`recruitment_targets` that point at single addresses (the
#: best-placed address and the doors to knock on); never write them to a file.
PRIVATE_COLUMNS = ("candidate", "canvass")

#: Default smallest gain of a step: a recruit who would bring fewer than 3
#: addresses within reach is not worth a canvassing round, and every row then
#: stands for at least 3 addresses.
MIN_GAIN = 3

#: Grid (m) the street centroid of a target is snapped to.
MARKER_GRID_M = 10.0

_REQUIRED = ("covered", "x", "y", "woonplaats", "openbare_ruimte", "huisnummer")
_ORDER = (
    "woonplaats",
    "openbare_ruimte",
    "huisnummer",
    "huisletter",
    "huisnummertoevoeging",
    "address_key",
)


def recruitment_targets(
    covered: pd.DataFrame,
    *,
    radius: float = DEFAULT_RADIUS_M,
    limit: int | None = None,
    min_gain: int = MIN_GAIN,
) -> gpd.GeoDataFrame:
    """Rank the streets to canvass by greedy maximum coverage.

    Parameters
    ----------
    covered
        The frame of :func:`partition.coverage.address_coverage`: residential
        addresses with ``covered``, ``x``, ``y`` (RD New metres),
        ``woonplaats``, ``openbare_ruimte``, ``huisnummer`` and optionally
        ``buurtcode``, ``huisletter``, ``huisnummertoevoeging``.
    radius
        Reach of a recruit in metres, the radius ``covered`` was computed
        with (checked against ``covered.attrs["radius_m"]`` when set).
    limit
        Largest number of steps, or None for as many as reach ``min_gain``.
    min_gain
        Stop when the best step would newly cover fewer addresses than this
        (at least 1).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per step in order, columns :data:`RECRUITMENT_COLUMNS`
        (``rank`` from 1, ``huisnummers`` as :func:`house_number_ranges`
        formats them, ``cumulative_radius_coverage`` from 0 to 1 over all
        residential addresses, rounded to 4 decimals), the private columns
        :data:`PRIVATE_COLUMNS` (``candidate``: the index label of the
        best-placed address; ``canvass``: a tuple of the index labels of the
        addresses to knock on) and a point geometry at the centroid of the
        street's addresses, snapped to :data:`MARKER_GRID_M` (EPSG:28992).
        A street can appear in several steps (different stretches).

    Raises
    ------
    BuurtgroepenError
        For a missing column, a radius that differs from the one of
        ``covered``, or ``limit`` or ``min_gain`` out of range.

    Notes
    -----
    The gain assumes the recruit lives at the best-placed address; a recruit
    elsewhere in the canvassed range covers a similar but not identical set.
    Straight-line distance ignores barriers such as canals and railways.
    Running time is dominated by the k-d tree query of the pairs (candidate,
    uncovered address) within R: about 0.1 s for the 10,000 addresses of the
    demo municipality and 1 s for 100,000.
    """
    start = time.perf_counter()
    _check_inputs(covered, radius, limit, min_gain)
    priority = _street_order(covered)
    xy = covered[["x", "y"]].to_numpy(dtype="float64")
    is_covered = covered["covered"].to_numpy(dtype=bool)

    # greedy steps, then one row per step
    steps = greedy_max_coverage(
        xy, is_covered, radius, limit=limit, min_gain=min_gain, priority=priority
    )
    targets = _assemble(covered, steps, int(is_covered.sum()))

    logger.info(
        "ranked %s recruitment targets newly covering %s of %s uncovered "
        "addresses (radius %.0f m) in %.2f s",
        f"{len(targets):,}",
        f"{int(targets['newly_covered'].sum()):,}",
        f"{int((~is_covered).sum()):,}",
        radius,
        time.perf_counter() - start,
    )
    return targets


def greedy_max_coverage(
    xy: np.ndarray,
    covered: np.ndarray,
    radius: float,
    *,
    limit: int | None = None,
    min_gain: int = 1,
    priority: np.ndarray | None = None,
) -> list[tuple[int, np.ndarray]]:
    """Pick points one at a time, each covering the most uncovered points.

    Parameters
    ----------
    xy
        Point coordinates (n x 2, metres in one projected CRS); every point is
        both a candidate and an element to cover.
    covered
        Boolean per point: already covered at the start.
    radius
        A chosen point covers every point at most this far away (inclusive),
        itself included.
    limit
        Largest number of picks, or None.
    min_gain
        Stop when the best pick would cover fewer new points than this (>= 1).
    priority
        Distinct integers per point; on equal gain the lowest wins. Default:
        the position.

    Returns
    -------
    list of tuple
        Per pick, in order: the position of the chosen point and the sorted
        positions of the points it newly covers.
    """
    n = len(xy)
    priority = np.arange(n) if priority is None else np.asarray(priority)
    uncovered = np.flatnonzero(~np.asarray(covered, dtype=bool))
    if len(uncovered) == 0 or limit == 0:
        return []
    neighbours = _neighbour_matrix(xy, uncovered, radius)
    indptr, indices = neighbours.indptr, neighbours.indices

    # lazy greedy: heap of (-stale gain, priority, candidate)
    gains = np.diff(indptr)
    heap = [
        (-int(gains[c]), int(priority[c]), int(c))
        for c in np.flatnonzero(gains >= min_gain)
    ]
    heapq.heapify(heap)
    alive = np.ones(len(uncovered), dtype=bool)
    steps: list[tuple[int, np.ndarray]] = []
    while heap and (limit is None or len(steps) < limit):
        stale, rank, candidate = heapq.heappop(heap)
        row = indices[indptr[candidate] : indptr[candidate + 1]]
        fresh = row[alive[row]]

        # a fresh gain equal to its stale bound tops every other bound
        if len(fresh) == -stale:
            alive[fresh] = False
            steps.append((candidate, np.sort(uncovered[fresh])))
        elif len(fresh) >= min_gain:
            heapq.heappush(heap, (-len(fresh), rank, candidate))
    return steps


def house_number_ranges(selected: np.ndarray, street: np.ndarray) -> str:
    """Format house numbers as ranges per side of the street, odd side first.

    Parameters
    ----------
    selected
        House numbers to canvass (repeats allowed: letters and additions of
        one number count once).
    street
        Every house number of the street (repeats allowed); numbers the
        register skips do not break a range.

    Returns
    -------
    str
        Runs of consecutive selected numbers among the street's numbers of the
        same parity, as ``"a-b"`` (or ``"a"`` for a run of one), odd runs
        first, each side from low to high, joined by ``", "``: for example
        ``"1-23, 2-30"``, or ``"1-9, 15-21, 4"``. Empty when nothing is
        selected.
    """
    chosen = np.unique(np.asarray(selected, dtype=np.int64))
    numbers = np.union1d(np.asarray(street, dtype=np.int64), chosen)
    runs: list[str] = []
    for parity in (1, 0):
        side = numbers[numbers % 2 == parity]
        marked = np.isin(side, chosen)

        # run starts and ends from the changes of the mark along the side
        edges = np.diff(np.concatenate([[0], marked.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
        for first, last in zip(side[starts], side[ends], strict=True):
            runs.append(str(first) if first == last else f"{first}-{last}")
    return ", ".join(runs)


def canvass_sheets(
    targets: pd.DataFrame,
    covered: pd.DataFrame,
    *,
    title: str,
    subtitle: str | None = None,
    radius: float = DEFAULT_RADIUS_M,
    folder: str = "sheets",
) -> dict[str, str]:
    """Render a printable door-to-door sheet per target street (Dutch, A4).

    Parameters
    ----------
    targets
        The frame of :func:`recruitment_targets` (with its private columns).
    covered
        The frame the targets were computed from (for the address parts of
        the doors to knock on).
    title
        Heading of every sheet, e.g. the municipality (plain text, escaped).
    subtitle
        Second line, e.g. the demo label.
    radius
        The radius of the targets, metres, quoted on the sheet.
    folder
        Folder of the returned file names.

    Returns
    -------
    dict of str to str
        File name (``"{folder}/001-dorpsstraat-losser.html"``, by the best
        rank on the street) to HTML, one sheet per street with all its targets
        in rank order, plus ``"{folder}/index.html"`` listing the sheets.

    Notes
    -----
    A sheet lists the house numbers (with letter and addition) to knock on,
    never a registered address: those are covered by definition. It carries
    no name, phone number or registration; it does reveal which addresses no
    registration covers, so hand it only to canvassing volunteers.
    """
    if "canvass" not in targets:
        raise BuurtgroepenError(
            "`targets` lacks the column `canvass`; pass the frame of "
            "partition.recruit.recruitment_targets as it is."
        )
    labels = _door_labels(covered)
    sheets: dict[str, str] = {}
    index_rows: list[tuple[str, str, str]] = []
    streets = targets.groupby(["woonplaats", "openbare_ruimte"], sort=False)
    for (place, street), rows in streets:
        rows = rows.sort_values("rank")
        name = f"{int(rows['rank'].iloc[0]):03d}-{_slug(street)}-{_slug(place)}"
        sheets[f"{folder}/{name}.html"] = _sheet_html(
            rows, labels, title=title, subtitle=subtitle, radius=radius
        )
        index_rows.append((f"{name}.html", str(street), str(place)))
    sheets[f"{folder}/index.html"] = _index_html(index_rows, title, subtitle)
    return sheets


def _check_inputs(
    covered: pd.DataFrame, radius: float, limit: int | None, min_gain: int
) -> None:
    """Raise for a frame not from address_coverage or a parameter out of range."""
    check_covered(covered, radius, _REQUIRED)
    for name, value, lowest in (("limit", limit, 0), ("min_gain", min_gain, 1)):
        if value is None and name == "limit":
            continue
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise BuurtgroepenError(f"`{name}` must be a whole number, e.g. 10.")
        if value < lowest:
            raise BuurtgroepenError(f"`{name}` must be at least {lowest}, got {value}.")


def _street_order(covered: pd.DataFrame) -> np.ndarray:
    """Return each row's position in street order (the tie-break priority)."""
    keys = [_sort_key(covered[c]) for c in reversed(_ORDER) if c in covered]
    order = np.lexsort(keys)
    priority = np.empty(len(covered), dtype=np.int64)
    priority[order] = np.arange(len(covered))
    return priority


def _sort_key(values: pd.Series) -> np.ndarray:
    """Return a lexsort key: numbers as numbers, text by its sorted code."""
    if pd.api.types.is_numeric_dtype(values):
        return values.fillna(-1).to_numpy(dtype="float64")
    codes, _ = pd.factorize(values.astype("str").fillna(""), sort=True)
    return codes


def _neighbour_matrix(
    xy: np.ndarray, uncovered: np.ndarray, radius: float
) -> csr_array:
    """Return candidates x uncovered points at most ``radius`` apart, as CSR."""
    pairs = cKDTree(xy).sparse_distance_matrix(
        cKDTree(xy[uncovered]), radius, output_type="ndarray"
    )
    pairs = pairs[pairs["v"] <= radius]
    matrix = csr_array(
        (np.ones(len(pairs), dtype=np.int8), (pairs["i"], pairs["j"])),
        shape=(len(xy), len(uncovered)),
    )
    matrix.sort_indices()
    return matrix


def _assemble(
    covered: pd.DataFrame, steps: list[tuple[int, np.ndarray]], n_covered: int
) -> gpd.GeoDataFrame:
    """Turn the greedy picks into the per-street rows of the recruitment list."""
    code = _street_codes(covered)
    numbers = covered["huisnummer"].to_numpy(dtype=np.int64)
    by_street = pd.Series(numbers).groupby(code).unique()
    centroids = covered.groupby(code)[["x", "y"]].mean()

    # per step: the candidate's street, and its newly covered doors on it
    chosen = np.array([c for c, _ in steps], dtype=np.int64)
    rows = []
    for candidate, newly in steps:
        on_street = newly[code[newly] == code[candidate]]
        if len(on_street) == 0:
            # everything it covers is round the corner: knock at the best place
            on_street = np.array([candidate])
        rows.append(
            {
                "huisnummers": house_number_ranges(
                    numbers[on_street], by_street[code[candidate]]
                ),
                "newly_covered": len(newly),
                "candidate": covered.index[candidate],
                "canvass": tuple(covered.index[on_street]),
            }
        )
    table = pd.DataFrame(
        rows, columns=["huisnummers", "newly_covered", "candidate", "canvass"]
    )
    table.insert(0, "rank", np.arange(1, len(steps) + 1, dtype=np.int64))
    for column in ("woonplaats", "openbare_ruimte", "buurtcode"):
        values = (
            covered[column].to_numpy()[chosen]
            if column in covered
            else np.full(len(chosen), np.nan, dtype=object)
        )
        table[column] = pd.Series(values, dtype="str")

    # cumulative coverage and a marker at the snapped street centroid
    total = max(len(covered), 1)
    cumulative = (n_covered + table["newly_covered"].cumsum()) / total
    table["cumulative_radius_coverage"] = cumulative.round(4).astype("float64")
    table["newly_covered"] = table["newly_covered"].astype("int64")
    centre = centroids.loc[code[chosen]].to_numpy().reshape(-1, 2)
    centre = np.round(centre / MARKER_GRID_M) * MARKER_GRID_M
    return gpd.GeoDataFrame(
        table[[*RECRUITMENT_COLUMNS, *PRIVATE_COLUMNS]],
        geometry=shapely.points(centre),
        crs=RD_NEW,
    )


def _street_codes(covered: pd.DataFrame) -> np.ndarray:
    """Return one integer per street (woonplaats + openbare_ruimte) per row."""
    place = covered["woonplaats"].astype("str").fillna("")
    street = covered["openbare_ruimte"].astype("str").fillna("")
    codes, _ = pd.factorize(place + "\x1f" + street)
    return codes


def _door_labels(covered: pd.DataFrame) -> pd.Series:
    """Return the house number label of every address: ``12``, ``12A``, ``12A-2``."""
    label = covered["huisnummer"].astype("int64").astype("str")
    if "huisletter" in covered:
        label = label + covered["huisletter"].fillna("").astype("str")
    if "huisnummertoevoeging" in covered:
        extra = covered["huisnummertoevoeging"].fillna("").astype("str")
        label = label + np.where(extra != "", "-" + extra, "")
    return label


def _slug(text: object) -> str:
    """Return an ASCII file-name slug: ``"'t Veld"`` -> ``"t-veld"``."""
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.decode().lower()).strip("-")
    return slug or "straat"


_SHEET_CSS = """
@page { size: A4; margin: 15mm; }
body { font-family: sans-serif; font-size: 11pt; color: #000; margin: 0 auto;
       max-width: 180mm; }
h1 { font-size: 16pt; margin: 0 0 2mm; }
h2 { font-size: 13pt; margin: 6mm 0 2mm; }
.sub { font-size: 9pt; color: #444; margin-bottom: 4mm; }
.target { break-inside: avoid; page-break-inside: avoid; }
table { border-collapse: collapse; width: 100%; margin-top: 2mm; }
th, td { border: 1px solid #555; padding: 1.5mm 2mm; text-align: left; }
th { background: #eee; }
td.box { width: 22mm; }
tr { break-inside: avoid; page-break-inside: avoid; }
.note { font-size: 9pt; color: #444; margin-top: 6mm; }
@media print { a { color: #000; text-decoration: none; } }
"""

_SHEET_COLUMNS = ("Niet thuis", "Folder", "Geen interesse", "Aangemeld")


def _page(title: str, body: str) -> str:
    """Wrap ``body`` in a complete, printable HTML page."""
    return (
        '<!DOCTYPE html>\n<html lang="nl">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_SHEET_CSS}</style>\n"
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _sheet_html(
    rows: pd.DataFrame,
    labels: pd.Series,
    *,
    title: str,
    subtitle: str | None,
    radius: float,
) -> str:
    """Render the sheet of one street with its targets in rank order."""
    first = rows.iloc[0]
    street = f"{first['openbare_ruimte']}, {first['woonplaats']}"
    parts = [f"<h1>Huis-aan-huis: {html.escape(street)}</h1>"]
    sub = f"{title} - buurt {first['buurtcode']}"
    if subtitle:
        sub += f" - {subtitle}"
    parts.append(f'<div class="sub">{html.escape(sub)}</div>')
    for _, target in rows.iterrows():
        parts.append(_target_html(target, labels, radius))
    parts.append(
        '<p class="note">Dit formulier bevat geen gegevens van aangemelde '
        "bewoners. Het toont wel welke adressen nog niet binnen bereik van een "
        "deelnemer liggen: geef het alleen aan wie aanbelt en vernietig het na "
        "gebruik.</p>"
    )
    return _page(f"Huis-aan-huis {street}", "\n".join(parts))


def _target_html(target: pd.Series, labels: pd.Series, radius: float) -> str:
    """Render one target: what it brings, where to start, a row per door."""
    doors = labels.loc[list(target["canvass"])]
    numbers = pd.to_numeric(doors.str.extract(r"^(\d+)", expand=False))
    walk = pd.DataFrame({"even": numbers % 2 == 0, "n": numbers, "door": doors})
    doors = walk.sort_values(["even", "n", "door"])["door"]
    start = labels.get(target["candidate"], "")
    head = "".join(
        f"<th>{html.escape(c)}</th>" for c in ("Huisnummer", *_SHEET_COLUMNS)
    )
    boxes = '<td class="box"></td>' * len(_SHEET_COLUMNS)
    body = "".join(f"<tr><td>{html.escape(d)}</td>{boxes}</tr>" for d in doors)
    return (
        f'<div class="target"><h2>Doel {int(target["rank"])}: aanbellen bij '
        f"{html.escape(str(target['huisnummers']))}</h2>\n"
        f"<p>Een deelnemer hier brengt {int(target['newly_covered'])} adressen "
        f"binnen {radius:.0f} m (hemelsbreed) van een deelnemer. Het best "
        f"gelegen adres is nummer {html.escape(str(start))}: begin daar.</p>\n"
        f"<table><tr>{head}</tr>{body}</table></div>"
    )


def _index_html(
    rows: list[tuple[str, str, str]], title: str, subtitle: str | None
) -> str:
    """Render the list of sheets, in rank order."""
    items = "".join(
        f'<li><a href="{html.escape(href)}">{html.escape(street)}, '
        f"{html.escape(place)}</a></li>"
        for href, street, place in rows
    )
    body = f"<h1>Huis-aan-huis: {html.escape(title)}</h1>"
    if subtitle:
        body += f'<div class="sub">{html.escape(subtitle)}</div>'
    body += f"<ol>{items}</ol>" if rows else "<p>Geen wervingsdoelen.</p>"
    return _page(f"Huis-aan-huis {title}", body)
