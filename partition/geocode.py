"""Offline geocoding of registrations against the municipality's address register.

A registration is matched to one address of the register (the BAG addresses of
the municipality with their RD New point) in this order:

1. ``exact``: postcode, huisnummer, huisletter and huisnummertoevoeging all
   equal.
2. ``toevoeging_unique``: the registration leaves out the toevoeging and/or
   the huisletter, and exactly one register address at that postcode and
   huisnummer agrees with every part it does give (``"12"`` finds ``12-HS``
   when that is the only address at number 12). A registration that gives a
   toevoeging the register lacks is *not* matched to the bare number.
3. ``fuzzy``: only when the postcode is invalid or unknown to the register and
   the registration names its street (``openbare_ruimte``) and ``woonplaats``.
   The woonplaats is matched case-insensitively, or else fuzzily with a score
   of at least 90; the street is the best-scoring street of that woonplaats
   with a score of at least 88. The huisnummer rules of 1 and 2 then apply on
   that street.
4. ``unmatched``, with the reason in ``unmatched_reason``.

Notes
-----
Fuzzy scores are :func:`rapidfuzz.fuzz.token_sort_ratio` after
:func:`rapidfuzz.utils.default_process` (lower case, punctuation removed).
Unlike ``WRatio`` it does not reward a name that is contained in a longer one,
so ``Kerkstraat`` does not match ``Oude Kerkstraat`` (score 80), while one typo
in a street name of ten letters still scores about 95. Two streets of one
woonplaats that tie for the best score are rejected as ambiguous. Abbreviations
(``Burg.`` for ``Burgemeester``) are not expanded and mostly fail to match.

The ``ambiguous_toevoeging`` reason covers a missing huisletter as well as a
missing toevoeging: several register addresses fit what the registration gives.

Accuracy is that of the register's address points (the BAG verblijfsobject
point, EPSG:28992).
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process, utils

from partition.addresses import ADDRESS_FIELDS, normalise_address_columns
from partition.errors import AddressError, BuurtgroepenError, CRSError

logger = logging.getLogger(__name__)

RD_NEW = "EPSG:28992"

EXACT = "exact"
TOEVOEGING_UNIQUE = "toevoeging_unique"
FUZZY = "fuzzy"
UNMATCHED = "unmatched"
MATCH_QUALITIES = (EXACT, TOEVOEGING_UNIQUE, FUZZY, UNMATCHED)

INVALID_POSTCODE = "invalid_postcode"
INVALID_HUISNUMMER = "invalid_huisnummer"
INVALID_HUISLETTER = "invalid_huisletter"
INVALID_TOEVOEGING = "invalid_toevoeging"
UNKNOWN_ADDRESS = "unknown_address"
AMBIGUOUS_TOEVOEGING = "ambiguous_toevoeging"
OUTSIDE_REGISTER = "outside_register"
NO_STREET_MATCH = "no_street_match"
UNMATCHED_REASONS = (
    INVALID_POSTCODE,
    INVALID_HUISNUMMER,
    INVALID_HUISLETTER,
    INVALID_TOEVOEGING,
    UNKNOWN_ADDRESS,
    AMBIGUOUS_TOEVOEGING,
    OUTSIDE_REGISTER,
    NO_STREET_MATCH,
)

STREET_SCORE_CUTOFF = 88.0
WOONPLAATS_SCORE_CUTOFF = 90.0

OUTPUT_COLUMNS = (
    "registration_id",
    "match_quality",
    "unmatched_reason",
    "address_index",
    "address_key",
    "postcode",
    "huisnummer",
    "huisletter",
    "huisnummertoevoeging",
    "openbare_ruimte",
    "woonplaats",
    "buurtcode",
    "wijkcode",
    "nummeraanduiding_id",
    "x",
    "y",
)
_REGISTER_COLUMNS = (
    "postcode",
    "huisnummer",
    "huisletter",
    "huisnummertoevoeging",
    "openbare_ruimte",
    "woonplaats",
)
_OPTIONAL_REGISTER_COLUMNS = ("nummeraanduiding_id", "buurtcode", "wijkcode")
_REASON_OF_FIELD = {
    "postcode": INVALID_POSTCODE,
    "huisnummer": INVALID_HUISNUMMER,
    "huisletter": INVALID_HUISLETTER,
    "huisnummertoevoeging": INVALID_TOEVOEGING,
}
# any valid postcode: it stands in for an invalid one while the house number
# parts of that row are parsed (the fuzzy path does not use the postcode)
_PLACEHOLDER_POSTCODE = "1000AA"
_SEP = "\x1f"
_NO_MATCH, _MATCH_EXACT, _MATCH_UNIQUE, _MATCH_AMBIGUOUS = 0, 1, 2, 3


class Geocoder(Protocol):
    """Anything that turns registrations into address points."""

    def geocode(self, registrations: pd.DataFrame) -> pd.DataFrame:
        """Match registrations to addresses; see :class:`RegisterGeocoder`."""
        ...


class RegisterGeocoder:
    """Geocode registrations offline against an address register.

    Parameters
    ----------
    register
        One row per address (a BAG extract of the municipality) with
        ``postcode``, ``huisnummer``, ``huisletter``, ``huisnummertoevoeging``
        (normalised as by :func:`~partition.addresses.normalise_address_columns`,
        ``""`` for absent; raw spellings are normalised here too),
        ``openbare_ruimte``, ``woonplaats`` and the address point as ``x``/``y``
        in EPSG:28992 metres (or, for a GeoDataFrame without ``x``/``y``, as
        point geometry with a declared CRS). Optional ``nummeraanduiding_id``,
        ``buurtcode`` and ``wijkcode`` are passed on (NA when absent).

    Raises
    ------
    BuurtgroepenError
        When a required column is missing or a coordinate is not finite.
    AddressError
        When a register address does not follow the BAG rules.
    CRSError
        When point geometry stands in for ``x``/``y`` but has no CRS.

    Notes
    -----
    All lookup indexes are built once here; :meth:`geocode` is vectorised for
    the exact and missing-part lookups (10,000 registrations take a few tens
    of milliseconds) and loops in Python only over the distinct
    (woonplaats, street) pairs that need fuzzy matching. When the register
    holds one address twice, the first row is used.
    """

    def __init__(self, register: pd.DataFrame) -> None:
        start = time.perf_counter()
        self._register = _prepare_register(register)
        self._by_postcode = _AddressMatcher(self._register["postcode"], self._register)
        self._postcodes = self._register["postcode"].unique()
        self._pc4 = self._register["postcode"].str[:4].unique()

        self._streets = _StreetIndex(
            self._register["woonplaats"], self._register["openbare_ruimte"]
        )
        self._by_street = _AddressMatcher(self._streets.prefix, self._register)
        self._output = _output_columns(self._register)

        if self._by_postcode.duplicates:
            logger.warning(
                "register holds %d rows that repeat an address; the first of each "
                "is used",
                self._by_postcode.duplicates,
            )
        logger.info(
            "indexed %d register addresses (%d postcodes, %d woonplaatsen, "
            "%d streets) in %.2f s",
            len(self._register),
            len(self._postcodes),
            self._streets.n_woonplaatsen,
            self._streets.n_streets,
            time.perf_counter() - start,
        )

    def geocode(self, registrations: pd.DataFrame) -> pd.DataFrame:
        """Match each registration to one register address.

        Parameters
        ----------
        registrations
            ``registration_id``, raw ``postcode`` and ``huisnummer``, optional
            ``huisletter`` and ``huisnummertoevoeging`` (the letter and the
            toevoeging may also be written inside ``huisnummer``) and optional
            ``openbare_ruimte`` and ``woonplaats`` for the fuzzy path.

        Returns
        -------
        geocoded
            One row per registration, in the same order and on the same index,
            with the columns of :data:`OUTPUT_COLUMNS`: ``match_quality`` (one
            of :data:`MATCH_QUALITIES`), ``unmatched_reason`` (one of
            :data:`UNMATCHED_REASONS`, ``""`` for matches), ``address_index``
            (position of the address in the register, -1 when unmatched) and
            the register's address fields and ``x``/``y`` in EPSG:28992
            metres for matches (NA/NaN when unmatched).

        Raises
        ------
        BuurtgroepenError
            When `registrations` lacks ``registration_id``, ``postcode`` or
            ``huisnummer``.
        """
        start = time.perf_counter()
        check_registrations(registrations)
        parts, postcode_valid, parsable, reason = _normalise_registrations(
            registrations
        )
        position = np.full(len(parts), -1, dtype="int64")
        quality = np.full(len(parts), UNMATCHED, dtype=object)

        known = postcode_valid & parts["postcode"].isin(self._postcodes).to_numpy()
        rows = np.flatnonzero(parsable & known)
        found, outcome = self._by_postcode.match(
            parts["postcode"].iloc[rows], parts.iloc[rows]
        )
        _record(rows, found, outcome, position, quality, reason, fuzzy=False)

        rest = parsable & ~known
        self._match_streets(registrations, parts, rest, position, quality, reason)
        pc4_known = parts["postcode"].str[:4].isin(self._pc4).to_numpy()
        left = rest & (position < 0) & (reason == "")
        reason[left & postcode_valid & ~pc4_known] = OUTSIDE_REGISTER
        reason[left & postcode_valid & pc4_known] = UNKNOWN_ADDRESS

        result = self._assemble(registrations, position, quality, reason)
        _log_counts(result, time.perf_counter() - start)
        return result

    def _match_streets(
        self,
        registrations: pd.DataFrame,
        parts: pd.DataFrame,
        rows_mask: np.ndarray,
        position: np.ndarray,
        quality: np.ndarray,
        reason: np.ndarray,
    ) -> None:
        """Fuzzy path: find the street, then the house number on it (in place)."""
        if not {"openbare_ruimte", "woonplaats"} <= set(registrations.columns):
            return
        street = _text(registrations["openbare_ruimte"])
        woonplaats = _text(registrations["woonplaats"])
        named = rows_mask & street.str.strip().ne("").to_numpy()
        rows = np.flatnonzero(named & woonplaats.str.strip().ne("").to_numpy())

        prefix = self._streets.resolve(woonplaats.iloc[rows], street.iloc[rows])
        on_street = prefix.ne("").to_numpy()
        found, outcome = self._by_street.match(
            prefix[on_street], parts.iloc[rows[on_street]]
        )
        _record(rows[on_street], found, outcome, position, quality, reason, fuzzy=True)

        # a valid postcode outside the register explains more than the street
        missed = rows[~on_street]
        pc4 = parts["postcode"].iloc[missed].str[:4]
        outside = pc4.ne("").to_numpy() & ~pc4.isin(self._pc4).to_numpy()
        reason[missed] = np.where(outside, OUTSIDE_REGISTER, NO_STREET_MATCH)

    def _assemble(
        self,
        registrations: pd.DataFrame,
        position: np.ndarray,
        quality: np.ndarray,
        reason: np.ndarray,
    ) -> pd.DataFrame:
        """Output frame: register fields for matches, NA otherwise."""
        take = np.where(position >= 0, position, len(self._register))
        picked = self._output.take(take).reset_index(drop=True)
        head = pd.DataFrame(
            {
                "registration_id": registrations["registration_id"].array,
                "match_quality": pd.array(quality, dtype="str"),
                "unmatched_reason": pd.array(reason, dtype="str"),
                "address_index": position,
            }
        )
        # joined on positions: the caller's index may repeat labels
        result = pd.concat([head, picked], axis=1)[list(OUTPUT_COLUMNS)]
        return result.set_axis(registrations.index)


def geocoded_to_geodataframe(result: pd.DataFrame) -> gpd.GeoDataFrame:
    """Matched registrations as points in EPSG:28992.

    Parameters
    ----------
    result
        The output of :meth:`Geocoder.geocode`.

    Returns
    -------
    points
        The rows with ``address_index >= 0``, on their index, with point
        geometry from ``x``/``y`` in EPSG:28992 metres.

    Raises
    ------
    BuurtgroepenError
        When `result` lacks ``address_index``, ``x`` or ``y``.
    """
    missing = [c for c in ("address_index", "x", "y") if c not in result.columns]
    if missing:
        msg = (
            f"`result` has no {', '.join(f'`{c}`' for c in missing)} column; pass "
            "the frame that Geocoder.geocode() returned."
        )
        raise BuurtgroepenError(msg)

    matched = result[result["address_index"].to_numpy() >= 0]
    geometry = gpd.points_from_xy(matched["x"], matched["y"], crs=RD_NEW)
    return gpd.GeoDataFrame(matched.copy(), geometry=geometry, crs=RD_NEW)


# --- lookup structures ----------------------------------------------------------


class _CandidateIndex:
    """Number of register addresses and the first one per lookup key."""

    def __init__(self, keys: pd.Series) -> None:
        codes, uniques = pd.factorize(keys)
        self._index = pd.Index(uniques)
        self.n_keys = len(uniques)

        # a sentinel at the end answers the -1 of keys not found
        counts = np.bincount(codes, minlength=len(uniques))
        _, first = np.unique(codes, return_index=True)
        self._counts = np.append(counts, 0)
        self._first = np.append(first, -1)

    def lookup(self, keys: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Count and first register position per key (0 and -1 when absent)."""
        found = self._index.get_indexer(keys)
        return self._counts[found], self._first[found]


class _AddressMatcher:
    """Exact and missing-part lookups below a prefix (a postcode or a street)."""

    def __init__(self, prefix: pd.Series, parts: pd.DataFrame) -> None:
        keys = _part_keys(prefix, parts)
        self._full = _CandidateIndex(keys["full"])
        self._partial = {
            name: _CandidateIndex(keys[name])
            for name in ("number", "letter", "addition")
        }
        self.duplicates = len(keys) - self._full.n_keys

    def match(
        self, prefix: pd.Series, parts: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray]:
        """Register position (-1 if none) and outcome code for each row."""
        keys = _part_keys(prefix, parts)
        _, exact = self._full.lookup(keys["full"])
        has_letter = parts["huisletter"].ne("").to_numpy()
        has_addition = parts["huisnummertoevoeging"].ne("").to_numpy()

        # the candidates agree with every part the registration gives
        count = np.zeros(len(parts), dtype="int64")
        first = np.full(len(parts), -1, dtype="int64")
        for name, rows in (
            ("number", ~has_letter & ~has_addition),
            ("letter", has_letter & ~has_addition),
            ("addition", ~has_letter & has_addition),
        ):
            found = self._partial[name].lookup(keys[name][rows])
            count[rows], first[rows] = found

        outcome = np.select(
            [exact >= 0, count == 1, count > 1],
            [_MATCH_EXACT, _MATCH_UNIQUE, _MATCH_AMBIGUOUS],
            _NO_MATCH,
        )
        position = np.where(exact >= 0, exact, np.where(count == 1, first, -1))
        return position, outcome


class _StreetIndex:
    """Streets per woonplaats, compared after rapidfuzz's default processing."""

    def __init__(self, woonplaats: pd.Series, street: pd.Series) -> None:
        places, streets = _processed(woonplaats), _processed(street)
        self.prefix = (places + _SEP + streets).reset_index(drop=True)
        pairs = pd.DataFrame({"place": places, "street": streets}).drop_duplicates()
        self._streets = {
            place: group.tolist()
            for place, group in pairs.groupby("place", sort=False)["street"]
            if place
        }
        self.n_woonplaatsen = len(self._streets)
        self.n_streets = sum(len(group) for group in self._streets.values())

    def resolve(self, woonplaats: pd.Series, street: pd.Series) -> pd.Series:
        """Register prefix of the matched street for each row, ``""`` if none."""
        pairs = pd.DataFrame(
            {"place": _processed(woonplaats), "street": _processed(street)}
        ).reset_index(drop=True)
        distinct = pairs.drop_duplicates()
        resolved = {
            (place, name): self._resolve_one(place, name)
            for place, name in distinct.itertuples(index=False)
        }
        keys = list(zip(pairs["place"], pairs["street"], strict=True))
        return pd.Series([resolved[key] for key in keys], dtype="str")

    def _resolve_one(self, place: str, street: str) -> str:
        """Prefix for one (woonplaats, street) pair, ``""`` when no street fits."""
        place_key = self._best(place, list(self._streets), WOONPLAATS_SCORE_CUTOFF)
        if not place_key or not street:
            return ""
        street_key = self._best(street, self._streets[place_key], STREET_SCORE_CUTOFF)
        return f"{place_key}{_SEP}{street_key}" if street_key else ""

    @staticmethod
    def _best(query: str, choices: list[str], cutoff: float) -> str:
        """The one best choice scoring at least `cutoff`; ``""`` on none or a tie."""
        if not query:
            return ""
        if query in choices:
            return query
        best = process.extract(
            query, choices, scorer=fuzz.token_sort_ratio, score_cutoff=cutoff, limit=2
        )
        if not best or (len(best) == 2 and best[0][1] == best[1][1]):
            return ""
        return str(best[0][0])


# --- steps ----------------------------------------------------------------------


def _text(values: pd.Series) -> pd.Series:
    """A column as strings on a 0-based index, ``""`` for missing."""
    return values.astype("str").fillna("").reset_index(drop=True)


def _processed(values: pd.Series) -> pd.Series:
    """Rapidfuzz's default processing (lower case, no punctuation), per value."""
    text = _text(values)
    mapping = {value: utils.default_process(value) for value in text.unique()}
    return text.map(mapping).astype("str")


def _part_keys(prefix: pd.Series, parts: pd.DataFrame) -> pd.DataFrame:
    """Lookup keys of the full address and of the three partial combinations."""
    number = (
        prefix.reset_index(drop=True)
        + _SEP
        + parts["huisnummer"].astype(str).reset_index(drop=True)
    )
    letter = parts["huisletter"].reset_index(drop=True)
    addition = parts["huisnummertoevoeging"].reset_index(drop=True)
    return pd.DataFrame(
        {
            "full": number + _SEP + letter + _SEP + addition,
            "number": number,
            "letter": number + _SEP + letter,
            "addition": number + _SEP + _SEP + addition,
        }
    )


def _with_xy(register: pd.DataFrame) -> pd.DataFrame:
    """Take ``x``/``y`` from point geometry when the register has no columns."""
    if {"x", "y"} <= set(register.columns) or not isinstance(
        register, gpd.GeoDataFrame
    ):
        return register
    if register.crs is None:
        msg = (
            "`register` has point geometry without a CRS and no `x`/`y` columns; "
            "set its CRS (BAG points are EPSG:28992) or add `x` and `y`."
        )
        raise CRSError(msg)

    points = register.geometry.to_crs(RD_NEW)
    not_points = int((points.geom_type != "Point").sum())
    if not_points:
        msg = (
            f"`register` has {not_points} geometries that are not points; give "
            "each address its point or add `x` and `y` columns."
        )
        raise BuurtgroepenError(msg)
    return pd.DataFrame(register).assign(x=points.x, y=points.y)


def _prepare_register(register: pd.DataFrame) -> pd.DataFrame:
    """Check and normalise the register; positions become the index."""
    register = _with_xy(register)
    required = ("postcode", "huisnummer", "openbare_ruimte", "woonplaats", "x", "y")
    missing = [column for column in required if column not in register.columns]
    if missing:
        names = ", ".join(f"`{column}`" for column in missing)
        msg = f"`register` has no {names} column; add it to the address register."
        raise BuurtgroepenError(msg)

    keep = [*_REGISTER_COLUMNS, *_OPTIONAL_REGISTER_COLUMNS, "x", "y"]
    frame = pd.DataFrame(register[[c for c in keep if c in register.columns]])
    try:
        frame, _ = normalise_address_columns(frame.reset_index(drop=True), strict=True)
    except AddressError as error:
        msg = f"`register` {error}; repair the address register."
        raise AddressError(error.field, msg) from error

    for column in _OPTIONAL_REGISTER_COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.Series(np.nan, index=frame.index, dtype="str")
    for column in ("openbare_ruimte", "woonplaats"):
        frame[column] = _text(frame[column])
    for column in ("x", "y"):
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    _check_coordinates(frame)
    return frame


def _check_coordinates(frame: pd.DataFrame) -> None:
    """Raise when a register address has no finite point."""
    bad = ~np.isfinite(frame[["x", "y"]].to_numpy()).all(axis=1)
    if bad.any():
        msg = (
            f"`register` has {int(bad.sum())} addresses without finite `x`/`y` "
            f"(first at row {int(np.flatnonzero(bad)[0])}); give every address "
            "its EPSG:28992 point or leave it out."
        )
        raise BuurtgroepenError(msg)


def _output_columns(register: pd.DataFrame) -> pd.DataFrame:
    """Register fields of the output, plus one all-NA row for unmatched rows."""
    columns = OUTPUT_COLUMNS[OUTPUT_COLUMNS.index("address_key") :]
    output = register[list(columns)].copy()
    for column in columns:
        if pd.api.types.is_integer_dtype(output[column]):
            # nullable, so that the NA row does not turn numbers into floats
            output[column] = output[column].astype("Int64")
    return output.reindex(pd.RangeIndex(len(register) + 1))


def check_registrations(registrations: pd.DataFrame) -> None:
    """Raise when a required registration column is absent (every `Geocoder`)."""
    required = ("registration_id", "postcode", "huisnummer")
    missing = [column for column in required if column not in registrations.columns]
    if missing:
        names = ", ".join(f"`{column}`" for column in missing)
        msg = (
            f"`registrations` has no {names} column; give every registration an "
            "id, a postcode and a huisnummer."
        )
        raise BuurtgroepenError(msg)


def _normalise_registrations(
    registrations: pd.DataFrame,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Normalise the address fields, keeping rows whose postcode fails.

    Returns the four address fields on a 0-based index (``""``/0 where they
    failed), masks of a valid postcode and of valid house-number parts, and
    the first problem of each row as an unmatched reason (``""`` if none).
    """
    columns = [c for c in ADDRESS_FIELDS if c in registrations.columns]
    frame = registrations[columns].reset_index(drop=True)
    normalised, problems = normalise_address_columns(frame, strict=False)
    on_postcode = problems["field"].eq("postcode").to_numpy()
    postcode_bad = np.zeros(len(frame), dtype=bool)
    postcode_bad[problems["row"].to_numpy()[on_postcode]] = True
    other_bad = np.zeros(len(frame), dtype=bool)
    other_bad[problems["row"].to_numpy()[~on_postcode]] = True

    # rows failing only on the postcode may still match on their street
    retry = frame.iloc[np.flatnonzero(postcode_bad & ~other_bad)]
    again, _ = normalise_address_columns(
        retry.assign(postcode=_PLACEHOLDER_POSTCODE), strict=False
    )
    again["postcode"] = ""

    parts = pd.concat([normalised, again]).reindex(pd.RangeIndex(len(frame)))
    parts = parts.fillna({"postcode": "", "huisletter": "", "huisnummertoevoeging": ""})
    parts["huisnummer"] = parts["huisnummer"].fillna(0).astype("int64")
    first = problems.drop_duplicates("row")
    reason = np.full(len(frame), "", dtype=object)
    reason[first["row"].to_numpy()] = first["field"].map(_REASON_OF_FIELD).to_numpy()
    return parts[list(ADDRESS_FIELDS)], ~postcode_bad, ~other_bad, reason


def _record(
    rows: np.ndarray,
    found: np.ndarray,
    outcome: np.ndarray,
    position: np.ndarray,
    quality: np.ndarray,
    reason: np.ndarray,
    *,
    fuzzy: bool,
) -> None:
    """Write the outcome of one matching path into the result arrays."""
    matched = (outcome == _MATCH_EXACT) | (outcome == _MATCH_UNIQUE)
    position[rows[matched]] = found[matched]
    quality[rows[outcome == _MATCH_EXACT]] = FUZZY if fuzzy else EXACT
    quality[rows[outcome == _MATCH_UNIQUE]] = FUZZY if fuzzy else TOEVOEGING_UNIQUE
    reason[rows[matched]] = ""
    reason[rows[outcome == _MATCH_AMBIGUOUS]] = AMBIGUOUS_TOEVOEGING
    reason[rows[outcome == _NO_MATCH]] = UNKNOWN_ADDRESS


def _log_counts(result: pd.DataFrame, seconds: float) -> None:
    """One INFO line with the counts per quality, one WARNING per reason."""
    quality = result["match_quality"].value_counts()
    unmatched = int(quality.get(UNMATCHED, 0))
    logger.info(
        "geocoded %d of %d registrations in %.2f s (exact %d, fallback %d, "
        "fuzzy %d, unmatched %d)",
        len(result) - unmatched,
        len(result),
        seconds,
        quality.get(EXACT, 0),
        quality.get(TOEVOEGING_UNIQUE, 0),
        quality.get(FUZZY, 0),
        unmatched,
    )
    if unmatched:
        reasons = result["unmatched_reason"].value_counts()
        counts = ", ".join(
            f"{reason} {reasons[reason]}"
            for reason in UNMATCHED_REASONS
            if reason in reasons
        )
        logger.warning(
            "%d registrations unmatched (%s); see `unmatched_reason` per "
            "registration_id",
            unmatched,
            counts,
        )
