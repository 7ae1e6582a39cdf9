"""Parse and normalise Dutch addresses by the rules of the BAG.

The Basisregistratie Adressen en Gebouwen (BAG) identifies an address by four
fields of its *nummeraanduiding*:

- ``postcode``: four digits, the first not 0, and two capital letters, written
  without a space (``7581AB``). The letter pairs ``SA``, ``SD`` and ``SS`` are
  never issued.
- ``huisnummer``: a whole number from 1 to 99999.
- ``huisletter``: at most one letter, stored here upper-case (``A``-``Z``).
- ``huisnummertoevoeging``: at most four letters or digits, stored here
  upper-case (``2``, ``HS``, ``BIS``, ``II``).

Absent letters and additions are ``""``. Residents write the last three fields
as one text in many ways; :func:`parse_huisnummer` accepts these spellings:

=============  ============  ===========  ====================================
spelling       huisnummer    huisletter   huisnummertoevoeging
=============  ============  ===========  ====================================
``12``         12
``12.0``       12                         (a number read from a CSV as float)
``12a``        12            A
``12 A``       12            A
``12-A``       12            A            (one letter alone after a separator)
``12-2``       12                         2
``12/2``       12                         2
``12 bis``     12                         BIS
``12 hs``      12                         HS
``12-II``      12                         II
``12A-3``      12            A            3
``12a 3``      12            A            3
``12 A2``      12            A            2  (a letter directly followed by a
                                          digit is the huisletter)
``12-A2``      12                         A2 (after a separator it is all the
                                          toevoeging)
``12AB``       12                         AB (two or more letters are the
                                          toevoeging)
=============  ============  ===========  ====================================

Separators are ``-``, ``/`` and white space. Postcodes are accepted with or
without one space or hyphen and in any case (``7581 ab``, ``7581-AB``).

Address keys (``"7581AB|12|A|"``) are built only here, by :func:`address_key`
and :func:`address_keys`.

Error messages and problem reasons never contain the value itself (residents'
addresses are personal data); they show its *shape* from :func:`value_shape`
(digits as ``9``, letters as ``A``).

Notes
-----
A few spellings are ambiguous and resolved by the table above: ``12-B`` gives
huisletter ``B``, although some municipalities register it as toevoeging ``B``;
``12AB`` gives toevoeging ``AB``. The geocoder's fallback for a missing
toevoeging (:mod:`partition.geocode`) recovers most such cases.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from partition.errors import AddressError

logger = logging.getLogger(__name__)

ADDRESS_FIELDS = ("postcode", "huisnummer", "huisletter", "huisnummertoevoeging")
HUISNUMMER_MAX = 99999
TOEVOEGING_MAX_LENGTH = 4

_NEVER_ISSUED = frozenset({"SA", "SD", "SS"})
_SHAPE_MAX_LENGTH = 24
_SHAPE_KEPT = frozenset(" -/.,'")

# one pattern each, used by both the scalar functions and the vectorised path so
# that the two can never disagree; ASCII classes on purpose, because
# str.upper() maps some letters to two (German sharp s -> "SS")
_POSTCODE_RE = re.compile(r"^\s*([1-9][0-9]{3})\s*-?\s*([A-Za-z]{2})\s*$")
_SEP = r"\s*[-/]\s*"
_HUISNUMMER_RE = re.compile(
    r"^\s*(?P<num>[0-9]+)"
    r"(?:(?P<flt>\.0+)"
    rf"|\s*(?P<l1>[A-Za-z])"
    rf"|{_SEP}(?P<l2>[A-Za-z])"
    rf"|\s*(?P<l3>[A-Za-z])(?:{_SEP}|\s+)(?P<t1>[A-Za-z0-9]+)"
    r"|\s*(?P<l4>[A-Za-z])(?P<t2>[0-9][A-Za-z0-9]*)"
    rf"|(?:{_SEP}|\s*)(?P<t3>[A-Za-z0-9]+)"
    r")?\s*$"
)
_HUISLETTER_RE = re.compile(r"^\s*([A-Za-z])\s*$")
_TOEVOEGING_RE = re.compile(r"^\s*(?:[-/]\s*)?([A-Za-z0-9]{1,4})\s*$")
_NORMALISED = {
    "postcode": re.compile(r"^[1-9][0-9]{3}[A-Z]{2}$"),
    "huisletter": re.compile(r"^[A-Z]?$"),
    "huisnummertoevoeging": re.compile(r"^[A-Z0-9]{0,4}$"),
}
_HUISNUMMER_HINT = (
    "write a number from 1 to 99999, optionally followed by a huisletter and a "
    "toevoeging, e.g. '12', '12A', '12-2' or '12A-3'"
)


@dataclass(frozen=True)
class Address:
    """One normalised BAG address (nummeraanduiding).

    Build it with :func:`parse_address` from raw values; the constructor only
    accepts fields that are already normalised and raises
    :class:`~partition.errors.AddressError` otherwise.

    Attributes
    ----------
    postcode
        ``"7581AB"``: four digits and two capital letters, no space.
    huisnummer
        1 to 99999.
    huisletter
        ``""`` or one capital letter.
    huisnummertoevoeging
        ``""`` or up to four capital letters or digits.
    """

    postcode: str
    huisnummer: int
    huisletter: str = ""
    huisnummertoevoeging: str = ""

    def __post_init__(self) -> None:
        for field in ("postcode", "huisletter", "huisnummertoevoeging"):
            value = getattr(self, field)
            if not isinstance(value, str) or not _NORMALISED[field].match(value):
                msg = (
                    f"`{field}` of shape '{value_shape(value)}' is not normalised; "
                    "build the address with parse_address()."
                )
                raise AddressError(field, msg)
        if self.postcode[4:] in _NEVER_ISSUED:
            raise AddressError("postcode", _never_issued_message(self.postcode))
        number = self.huisnummer
        if isinstance(number, bool) or not isinstance(number, int):
            msg = "`huisnummer` must be an int; build the address with parse_address()."
            raise AddressError("huisnummer", msg)
        if not 1 <= number <= HUISNUMMER_MAX:
            raise AddressError("huisnummer", _range_message(str(number)))

    @property
    def key(self) -> str:
        """The address key, e.g. ``"7581AB|12|A|"``."""
        return (
            f"{self.postcode}|{self.huisnummer}|{self.huisletter}|"
            f"{self.huisnummertoevoeging}"
        )


def value_shape(value: object) -> str:
    """Describe a value without revealing it, for error messages and logs.

    Digits become ``9``, letters ``A``; spaces and ``- / . , '`` are kept and
    any other character becomes ``?``. Long values are cut after 24 characters.

    Parameters
    ----------
    value
        Anything; missing values (None, NaN, NA) give ``"<missing>"``.

    Returns
    -------
    shape
        E.g. ``"9999 AA"`` for ``"7581 ab"``.
    """
    if _is_missing(value):
        return "<missing>"
    text = value if isinstance(value, str) else str(value)
    shape = "".join(_shape_char(char) for char in text[:_SHAPE_MAX_LENGTH])
    if len(text) > _SHAPE_MAX_LENGTH:
        shape += f"... ({len(text)} characters)"
    return shape


def normalise_postcode(value: object) -> str:
    """Normalise a Dutch postcode to ``"7581AB"``.

    Parameters
    ----------
    value
        The postcode as written: any case, with or without one space or hyphen
        between digits and letters, surrounding white space allowed.

    Returns
    -------
    postcode
        Four digits and two capital letters, no space.

    Raises
    ------
    AddressError
        With ``field="postcode"`` when the value is missing, has another shape
        (the first digit 0 included) or uses the never-issued letters SA, SD
        or SS.
    """
    if _is_missing(value) or (isinstance(value, str) and not value.strip()):
        msg = "`postcode` is missing; give a postcode like '9999 AA'."
        raise AddressError("postcode", msg)
    match = _POSTCODE_RE.match(value) if isinstance(value, str) else None
    if match is None:
        msg = (
            f"`postcode` of shape '{value_shape(value)}' is not a Dutch postcode; "
            "write 4 digits (the first not 0) and 2 letters, like '9999 AA'."
        )
        raise AddressError("postcode", msg)

    postcode = match.group(1) + match.group(2).upper()
    if postcode[4:] in _NEVER_ISSUED:
        raise AddressError("postcode", _never_issued_message(value))
    return postcode


def parse_huisnummer(value: object) -> tuple[int, str, str]:
    """Split a written house number into huisnummer, huisletter and toevoeging.

    Parameters
    ----------
    value
        An int, a whole float (CSV columns with gaps are read as float) or a
        text in one of the spellings of the module table, e.g. ``"12A-3"``.

    Returns
    -------
    huisnummer
        1 to 99999.
    huisletter
        ``""`` or one capital letter.
    huisnummertoevoeging
        ``""`` or up to four capital letters or digits.

    Raises
    ------
    AddressError
        With ``field="huisnummer"`` for a missing, non-whole, out-of-range or
        unreadable value, and ``field="huisnummertoevoeging"`` when the part
        after the number is longer than four characters.
    """
    if _is_missing(value) or (isinstance(value, str) and not value.strip()):
        raise AddressError(
            "huisnummer", f"`huisnummer` is missing; {_HUISNUMMER_HINT}."
        )
    if isinstance(value, bool | np.bool_):
        msg = f"`huisnummer` is a true/false value, not a number; {_HUISNUMMER_HINT}."
        raise AddressError("huisnummer", msg)
    if isinstance(value, int | np.integer):
        return _check_huisnummer(int(value), value), "", ""
    if isinstance(value, float | np.floating):
        if not float(value).is_integer():
            msg = f"`huisnummer` of shape '{value_shape(value)}' is not a whole number."
            raise AddressError("huisnummer", msg)
        return _check_huisnummer(int(value), value), "", ""

    text = value if isinstance(value, str) else str(value)
    match = _HUISNUMMER_RE.match(text)
    if match is None:
        msg = f"`huisnummer` of shape '{value_shape(value)}' is unreadable; "
        raise AddressError("huisnummer", msg + _HUISNUMMER_HINT + ".")
    parts = match.groupdict()
    number = _check_huisnummer(int(parts["num"]), value)
    letter = (parts["l1"] or parts["l2"] or parts["l3"] or parts["l4"] or "").upper()
    toevoeging = (parts["t1"] or parts["t2"] or parts["t3"] or "").upper()
    if len(toevoeging) > TOEVOEGING_MAX_LENGTH:
        raise AddressError("huisnummertoevoeging", _long_toevoeging_message(value))
    return number, letter, toevoeging


def normalise_huisletter(value: object) -> str:
    """Normalise a separately given huisletter.

    Parameters
    ----------
    value
        One letter in any case; None, NaN and ``""`` mean no huisletter.

    Returns
    -------
    huisletter
        ``""`` or one capital letter.

    Raises
    ------
    AddressError
        With ``field="huisletter"`` for anything but one letter A-Z.
    """
    if _is_missing(value) or (isinstance(value, str) and not value.strip()):
        return ""
    match = _HUISLETTER_RE.match(value) if isinstance(value, str) else None
    if match is None:
        msg = (
            f"`huisletter` of shape '{value_shape(value)}' is not one letter A-Z; "
            "put further letters or digits in `huisnummertoevoeging`."
        )
        raise AddressError("huisletter", msg)
    return match.group(1).upper()


def normalise_toevoeging(value: object) -> str:
    """Normalise a separately given huisnummertoevoeging.

    Parameters
    ----------
    value
        Up to four letters or digits, optionally after a ``-`` or ``/``; a
        whole number (``2`` or ``2.0`` from a CSV) is accepted. None, NaN and
        ``""`` mean no toevoeging.

    Returns
    -------
    huisnummertoevoeging
        ``""`` or up to four capital letters or digits.

    Raises
    ------
    AddressError
        With ``field="huisnummertoevoeging"`` for anything else.
    """
    if _is_missing(value) or (isinstance(value, str) and not value.strip()):
        return ""
    text = _whole_number_text(value)
    match = _TOEVOEGING_RE.match(text) if text is not None else None
    if match is None:
        msg = (
            f"`huisnummertoevoeging` of shape '{value_shape(value)}' is not 1 to "
            f"{TOEVOEGING_MAX_LENGTH} letters or digits; shorten it to the "
            "toevoeging the BAG registers (e.g. '2', 'HS', 'BIS')."
        )
        raise AddressError("huisnummertoevoeging", msg)
    return match.group(1).upper()


def parse_address(
    postcode: object,
    huisnummer: object,
    huisletter: object = None,
    huisnummertoevoeging: object = None,
) -> Address:
    """Parse one address from raw values.

    Parameters
    ----------
    postcode
        See :func:`normalise_postcode`.
    huisnummer
        See :func:`parse_huisnummer`; may carry the huisletter and the
        toevoeging (``"12A-3"``).
    huisletter, huisnummertoevoeging
        Optional separately given fields; giving a field both here and inside
        `huisnummer` is allowed only when both agree.

    Returns
    -------
    address
        The normalised address.

    Raises
    ------
    AddressError
        For the first field (in BAG order) that fails, or ``field="huisletter"``
        / ``"huisnummertoevoeging"`` when the two places disagree.
    """
    code = normalise_postcode(postcode)
    number, letter_in, toevoeging_in = parse_huisnummer(huisnummer)
    letter_apart = normalise_huisletter(huisletter)
    toevoeging_apart = normalise_toevoeging(huisnummertoevoeging)

    letter = _combine("huisletter", letter_in, letter_apart, huisnummer)
    toevoeging = _combine(
        "huisnummertoevoeging", toevoeging_in, toevoeging_apart, huisnummer
    )
    return Address(code, number, letter, toevoeging)


def address_key(
    postcode: object,
    huisnummer: object,
    huisletter: object = "",
    huisnummertoevoeging: object = "",
) -> str:
    """Build the address key ``"{postcode}|{huisnummer}|{huisletter}|{toevoeging}"``.

    Parameters
    ----------
    postcode, huisnummer, huisletter, huisnummertoevoeging
        Normalised or raw fields; they are parsed with :func:`parse_address`,
        so ``address_key("7581 ab", "12a")`` equals
        ``address_key("7581AB", 12, "A")``.

    Returns
    -------
    key
        E.g. ``"7581AB|12|A|"``.

    Raises
    ------
    AddressError
        As :func:`parse_address`.
    """
    return parse_address(postcode, huisnummer, huisletter, huisnummertoevoeging).key


def address_keys(frame: pd.DataFrame) -> pd.Series:
    """Build address keys for every row of a normalised frame (vectorised).

    Parameters
    ----------
    frame
        Columns ``postcode``, ``huisnummer`` (whole numbers), ``huisletter`` and
        ``huisnummertoevoeging`` as produced by
        :func:`normalise_address_columns`; missing letters/additions may be
        ``""`` or NA. The values are not validated again.

    Returns
    -------
    keys
        Strings like ``"7581AB|12|A|"`` on the frame's index, named
        ``address_key``.
    """
    numbers = frame["huisnummer"].astype("int64").astype(str)
    letters = frame["huisletter"].fillna("").astype(str)
    additions = frame["huisnummertoevoeging"].fillna("").astype(str)
    keys = frame["postcode"].astype(str) + "|" + numbers + "|" + letters
    return (keys + "|" + additions).rename("address_key")


def normalise_address_columns(
    frame: pd.DataFrame, *, strict: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Normalise the address columns of a frame (vectorised).

    Each distinct value is parsed once: regular expressions over pandas string
    columns decide the common spellings, and only the values they cannot decide
    (unusual types, errors) go through the scalar functions, which also word the
    problems. A million rows take a few seconds.

    Parameters
    ----------
    frame
        Columns ``postcode`` and ``huisnummer`` (raw) and optional
        ``huisletter`` and ``huisnummertoevoeging`` (absent columns mean
        ``""``). Other columns are kept as they are.
    strict
        Raise on the first problem instead of reporting it.

    Returns
    -------
    normalised
        The rows without problems, on their original index, with the four
        address columns normalised (``huisnummer`` as int64, the others as
        strings with ``""`` for absent) and an added ``address_key`` column.
    problems
        One row per problem with ``row`` (0-based position in `frame`),
        ``field`` and ``reason`` (naming the field and the value's shape, never
        the value), ordered by row and then BAG field order.

    Raises
    ------
    AddressError
        When `postcode` or `huisnummer` is not a column, or, with
        ``strict=True``, for the first problem (the message names the field,
        the row position and the value's shape).
    """
    start = time.perf_counter()
    _check_columns(frame)

    [postcodes], problems_pc = _by_unique(
        frame["postcode"], _postcode_fast, lambda v: (normalise_postcode(v),)
    )
    [numbers, letters_in, additions_in], problems_nr = _by_unique(
        frame["huisnummer"], _huisnummer_fast, parse_huisnummer
    )
    letters_apart, problems_l = _optional_column(frame, "huisletter")
    additions_apart, problems_t = _optional_column(frame, "huisnummertoevoeging")

    letters, conflicts_l = _combine_column(
        "huisletter", letters_in, letters_apart, frame["huisnummer"]
    )
    additions, conflicts_t = _combine_column(
        "huisnummertoevoeging", additions_in, additions_apart, frame["huisnummer"]
    )
    problems = _problems_frame(
        [problems_pc, problems_nr, problems_l, problems_t, conflicts_l, conflicts_t]
    )
    if strict and len(problems):
        first = problems.iloc[0]
        raise AddressError(first["field"], first["reason"], row=int(first["row"]))

    normalised = _assemble(frame, postcodes, numbers, letters, additions, problems)
    logger.debug(
        "normalised addresses of %d rows in %.2f s (%d problems in %d rows)",
        len(frame),
        time.perf_counter() - start,
        len(problems),
        problems["row"].nunique(),
    )
    return normalised, problems


# --- scalar helpers -------------------------------------------------------------


def _is_missing(value: object) -> bool:
    """Tell whether a scalar is None, NaN, NA or NaT."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        # list-likes give an array, which is not a missing scalar
        return False


def _shape_char(char: str) -> str:
    """Map one character to its shape symbol."""
    if char.isdigit():
        return "9"
    if char.isalpha():
        return "A"
    if char.isspace():
        return " "
    return char if char in _SHAPE_KEPT else "?"


def _whole_number_text(value: object) -> str | None:
    """Give text as is and whole non-negative numbers as digits, else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | np.integer) and value >= 0:
        return str(int(value))
    is_float = isinstance(value, float | np.floating)
    if is_float and math.isfinite(value) and float(value).is_integer() and value >= 0:
        return str(int(value))
    return None


def _check_huisnummer(number: int, value: object) -> int:
    """Return the number when it is in 1-99999, else raise."""
    if not 1 <= number <= HUISNUMMER_MAX:
        raise AddressError("huisnummer", _range_message(value_shape(value)))
    return number


def _range_message(shape: str) -> str:
    """Message for a huisnummer outside 1-99999."""
    return (
        f"`huisnummer` of shape '{shape}' is outside 1 to {HUISNUMMER_MAX}; "
        "the BAG has no house number 0 or above 99999."
    )


def _never_issued_message(value: object) -> str:
    """Message for a postcode with the letters SA, SD or SS."""
    return (
        f"`postcode` of shape '{value_shape(value)}' ends in SA, SD or SS, "
        "letters PostNL never issues; check the postcode."
    )


def _long_toevoeging_message(value: object) -> str:
    """Message for a toevoeging inside huisnummer that is too long."""
    return (
        f"`huisnummertoevoeging` in `huisnummer` of shape '{value_shape(value)}' "
        f"is longer than {TOEVOEGING_MAX_LENGTH} characters; the BAG allows at "
        f"most {TOEVOEGING_MAX_LENGTH} letters or digits (e.g. '12-2', '12 HS')."
    )


def _conflict_message(field: str, value: object) -> str:
    """Message for a field given both inside huisnummer and separately."""
    return (
        f"`{field}` is given inside `huisnummer` (shape '{value_shape(value)}') "
        f"and in a separate `{field}` with a different value; give it once."
    )


def _combine(field: str, inside: str, apart: str, huisnummer: object) -> str:
    """Merge a field found inside huisnummer with the separately given one."""
    if inside and apart and inside != apart:
        raise AddressError(field, _conflict_message(field, huisnummer))
    return inside or apart


# --- vectorised helpers ---------------------------------------------------------

_FIELD_ORDER = {field: rank for rank, field in enumerate(ADDRESS_FIELDS)}
_PROBLEM_COLUMNS = ["row", "field", "reason"]
_FastPath = Callable[[pd.Series], tuple[list[np.ndarray], np.ndarray]]


def _check_columns(frame: pd.DataFrame) -> None:
    """Raise when a required address column is absent."""
    for column in ("postcode", "huisnummer"):
        if column not in frame.columns:
            msg = (
                f"the frame has no `{column}` column; rename the column that "
                f"holds it to `{column}`."
            )
            raise AddressError(column, msg)


def _by_unique(
    values: pd.Series,
    fast: _FastPath,
    parse: Callable[[object], tuple[object, ...]],
) -> tuple[list[np.ndarray], pd.DataFrame]:
    """Parse every distinct value once and spread the results to the rows.

    Without pyarrow, pandas runs regular expressions row by row in Python, so
    parsing the few thousand distinct postcodes and house numbers of a
    municipality instead of every row is what makes a million rows fast.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    distinct = pd.Series(uniques, dtype=values.dtype).reset_index(drop=True)
    columns, decided = fast(distinct)

    # the scalar function decides the rest and words the problems
    failed = np.zeros(len(distinct), dtype=bool)
    fields = np.full(len(distinct), "", dtype=object)
    reasons = np.full(len(distinct), "", dtype=object)
    raw = distinct.to_numpy(dtype=object)
    for position in np.flatnonzero(~decided).tolist():
        try:
            parsed = parse(raw[position])
        except AddressError as error:
            failed[position] = True
            fields[position], reasons[position] = error.field, str(error)
            continue
        for column, value in zip(columns, parsed, strict=True):
            column[position] = value

    bad = np.flatnonzero(failed[codes])
    problems = pd.DataFrame(
        {"row": bad, "field": fields[codes[bad]], "reason": reasons[codes[bad]]}
    )
    return [column[codes] for column in columns], problems


def _postcode_fast(distinct: pd.Series) -> tuple[list[np.ndarray], np.ndarray]:
    """Postcodes by regex; the never-issued letter pairs are left undecided."""
    parts = distinct.astype("str").str.extract(_POSTCODE_RE)
    codes = (parts[0] + parts[1].str.upper()).fillna("")
    decided = codes.ne("") & ~codes.str[4:].isin(_NEVER_ISSUED)
    return [codes.where(decided, "").to_numpy(dtype=object)], decided.to_numpy()


def _huisnummer_fast(distinct: pd.Series) -> tuple[list[np.ndarray], np.ndarray]:
    """House numbers by the shared regex; numeric values arrive as ``"12.0"``."""
    parts = distinct.astype("str").str.extract(_HUISNUMMER_RE)
    digits = parts["num"].fillna("")
    letters = _first_of(parts, ["l1", "l2", "l3", "l4"]).str.upper()
    additions = _first_of(parts, ["t1", "t2", "t3"]).str.upper()

    # more than 9 digits could overflow int64; the scalar path reports them
    short = digits.str.len().between(1, 9)
    numbers = pd.to_numeric(digits.where(short, "0")).to_numpy(dtype="int64")
    decided = (
        short.to_numpy()
        & (numbers >= 1)
        & (numbers <= HUISNUMMER_MAX)
        & (additions.str.len() <= TOEVOEGING_MAX_LENGTH).to_numpy()
    )
    columns = [
        np.where(decided, numbers, 0),
        letters.where(decided, "").to_numpy(dtype=object),
        additions.where(decided, "").to_numpy(dtype=object),
    ]
    return columns, decided


def _first_of(parts: pd.DataFrame, columns: list[str]) -> pd.Series:
    """The first non-missing of several alternative regex groups, else ``""``."""
    result = parts[columns[0]]
    for column in columns[1:]:
        result = result.fillna(parts[column])
    return result.fillna("")


def _pattern_fast(pattern: re.Pattern[str]) -> _FastPath:
    """Fast path for a separate huisletter or toevoeging: blank or one match."""

    def fast(distinct: pd.Series) -> tuple[list[np.ndarray], np.ndarray]:
        text = distinct.astype("str")
        blank = text.isna() | text.str.strip().eq("")
        found = text.str.extract(pattern)[0].str.upper()
        decided = (blank | found.notna()).to_numpy()
        return [found.fillna("").to_numpy(dtype=object)], decided

    return fast


def _optional_column(
    frame: pd.DataFrame, field: str
) -> tuple[np.ndarray, pd.DataFrame]:
    """Normalise a separately given huisletter or toevoeging column."""
    if field not in frame.columns:
        empty = pd.DataFrame(columns=_PROBLEM_COLUMNS)
        return np.full(len(frame), "", dtype=object), empty
    if field == "huisletter":
        fast, parse = _pattern_fast(_HUISLETTER_RE), normalise_huisletter
    else:
        fast, parse = _pattern_fast(_TOEVOEGING_RE), normalise_toevoeging
    [result], problems = _by_unique(frame[field], fast, lambda v: (parse(v),))
    return result, problems


def _combine_column(
    field: str, inside: np.ndarray, apart: np.ndarray, huisnummers: pd.Series
) -> tuple[np.ndarray, pd.DataFrame]:
    """Merge values found inside huisnummer with a separate column."""
    inside_given = inside != ""
    conflict = np.flatnonzero(inside_given & (apart != "") & (inside != apart))
    raw = huisnummers.to_numpy(dtype=object)
    problems = pd.DataFrame(
        {
            "row": conflict,
            "field": field,
            "reason": [_conflict_message(field, raw[row]) for row in conflict],
        }
    )
    return np.where(inside_given, inside, apart), problems


def _problems_frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Collect problems into one frame ordered by row and BAG field order."""
    problems = pd.concat(
        [part for part in parts if len(part)]
        or [pd.DataFrame(columns=_PROBLEM_COLUMNS)],
        ignore_index=True,
    )
    problems = problems.astype({"row": "int64", "field": "str", "reason": "str"})
    rank = problems["field"].map(_FIELD_ORDER).to_numpy()
    order = np.lexsort((rank, problems["row"].to_numpy()))
    return problems.iloc[order].reset_index(drop=True)


def _assemble(
    frame: pd.DataFrame,
    postcodes: np.ndarray,
    numbers: np.ndarray,
    letters: np.ndarray,
    additions: np.ndarray,
    problems: pd.DataFrame,
) -> pd.DataFrame:
    """Put the normalised columns back and drop the rows with problems."""
    keep = np.ones(len(frame), dtype=bool)
    keep[problems["row"].to_numpy()] = False
    result = frame.iloc[keep].copy()

    index = result.index
    result["postcode"] = pd.Series(postcodes[keep], index=index, dtype="str")
    result["huisnummer"] = pd.Series(numbers[keep], index=index, dtype="int64")
    result["huisletter"] = pd.Series(letters[keep], index=index, dtype="str")
    result["huisnummertoevoeging"] = pd.Series(
        additions[keep], index=index, dtype="str"
    )
    result["address_key"] = address_keys(result)
    return result
