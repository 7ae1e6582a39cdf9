"""Tests for partition.addresses: BAG parsing, normalisation and address keys."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from partition.addresses import (
    Address,
    address_key,
    address_keys,
    normalise_address_columns,
    normalise_huisletter,
    normalise_postcode,
    normalise_toevoeging,
    parse_address,
    parse_huisnummer,
    value_shape,
)
from partition.errors import AddressError

# (postcode, huisnummer, huisletter, huisnummertoevoeging) -> key, or the field
# of the AddressError (a value without "|")
SPELLINGS = [
    # postcode spellings
    (("7581 ab", "12", None, None), "7581AB|12||"),
    ((" 7581AB ", 12, None, None), "7581AB|12||"),
    (("7581-ab", 12.0, None, None), "7581AB|12||"),
    (("7587 AA", " 4 ", None, None), "7587AA|4||"),
    # huisnummer spellings with letter and toevoeging inside
    (("7581AB", "12.0", None, None), "7581AB|12||"),
    (("7581AB", "12a", None, None), "7581AB|12|A|"),
    (("7581AB", "12 A", None, None), "7581AB|12|A|"),
    (("7581AB", "12-A", None, None), "7581AB|12|A|"),
    (("7581AB", "12-2", None, None), "7581AB|12||2"),
    (("7581AB", "12/2", None, None), "7581AB|12||2"),
    (("7581AB", "12 bis", None, None), "7581AB|12||BIS"),
    (("7581AB", "12 hs", None, None), "7581AB|12||HS"),
    (("7581AB", "12-II", None, None), "7581AB|12||II"),
    (("7581AB", "12A-3", None, None), "7581AB|12|A|3"),
    (("7581AB", "12a 3", None, None), "7581AB|12|A|3"),
    (("7581AB", "12 a-3", None, None), "7581AB|12|A|3"),
    (("7581AB", "12 A2", None, None), "7581AB|12|A|2"),
    (("7581AB", "12-A2", None, None), "7581AB|12||A2"),
    (("7581AB", "12 1hg", None, None), "7581AB|12||1HG"),
    (("7581AB", "99999", None, None), "7581AB|99999||"),
    # separately given letter and toevoeging
    (("7581AB", "1", "b", None), "7581AB|1|B|"),
    (("7581AB", "1", None, "hs"), "7581AB|1||HS"),
    (("7581AB", "1", " a ", 2.0), "7581AB|1|A|2"),
    (("7581AB", "1", "", ""), "7581AB|1||"),
    (("7581AB", "1", np.nan, "-3"), "7581AB|1||3"),
    (("7581AB", "12a", "A", None), "7581AB|12|A|"),
    (("7581AB", "12-2", "c", None), "7581AB|12|C|2"),
    # invalid postcodes
    (("7581 SA", 12, None, None), "postcode"),
    (("7581SD", 12, None, None), "postcode"),
    (("7581 ss", 12, None, None), "postcode"),
    (("0581AB", 12, None, None), "postcode"),
    (("758 AB", 12, None, None), "postcode"),
    (("7581 ABC", 12, None, None), "postcode"),
    (("75 81AB", 12, None, None), "postcode"),
    ((None, 12, None, None), "postcode"),
    ((7581, 12, None, None), "postcode"),
    # invalid house numbers
    (("7581AB", "0", None, None), "huisnummer"),
    (("7581AB", 0, None, None), "huisnummer"),
    (("7581AB", "100000", None, None), "huisnummer"),
    (("7581AB", 100000, None, None), "huisnummer"),
    (("7581AB", "12.5", None, None), "huisnummer"),
    (("7581AB", 12.5, None, None), "huisnummer"),
    (("7581AB", "a12", None, None), "huisnummer"),
    (("7581AB", None, None, None), "huisnummer"),
    (("7581AB", "  ", None, None), "huisnummer"),
    (("7581AB", True, None, None), "huisnummer"),
    (("7581AB", "12 A B C", None, None), "huisnummer"),
    (("7581AB", "12\u00df", None, None), "huisnummer"),
    # invalid letters and toevoegingen
    (("7581AB", "12-ABCDE", None, None), "huisnummertoevoeging"),
    (("7581AB", "12", None, "ABCDE"), "huisnummertoevoeging"),
    (("7581AB", "12", None, "2 hoog"), "huisnummertoevoeging"),
    (("7581AB", "12", "AB", None), "huisletter"),
    (("7581AB", "12", "1", None), "huisletter"),
    (("7581AB", "12a", "B", None), "huisletter"),
    (("7581AB", "12-2", None, "3"), "huisnummertoevoeging"),
]
_IDS = [
    f"{i:02d}-{'ok' if '|' in expected else expected}"
    for i, (_, expected) in enumerate(SPELLINGS)
]


def _frame(rows: list[tuple[object, object, object, object]]) -> pd.DataFrame:
    """A raw address frame with object columns, as read from a CSV."""
    columns = ["postcode", "huisnummer", "huisletter", "huisnummertoevoeging"]
    return pd.DataFrame(rows, columns=columns, dtype=object)


@pytest.mark.parametrize(("fields", "expected"), SPELLINGS, ids=_IDS)
def test_parse_address_follows_the_spelling_table(
    fields: tuple[object, object, object, object], expected: str
) -> None:
    if "|" in expected:
        assert parse_address(*fields).key == expected
        assert address_key(*fields) == expected
    else:
        with pytest.raises(AddressError) as caught:
            parse_address(*fields)
        assert caught.value.field == expected


@pytest.mark.parametrize(("fields", "expected"), SPELLINGS, ids=_IDS)
def test_error_messages_show_the_shape_never_the_value(
    fields: tuple[object, object, object, object], expected: str
) -> None:
    if "|" in expected:
        return
    with pytest.raises(AddressError) as caught:
        parse_address(*fields)
    message = str(caught.value)

    # one- and two-character values occur in any message by chance
    for value in fields:
        if isinstance(value, str) and len(value.strip()) >= 3:
            assert value not in message
            assert value.strip() not in message
    assert f"`{expected}`" in message


def test_vectorised_normalisation_agrees_with_the_scalar_table() -> None:
    frame = _frame([fields for fields, _ in SPELLINGS])
    normalised, problems = normalise_address_columns(frame, strict=False)

    keys = normalised["address_key"]
    first = problems.drop_duplicates("row").set_index("row")["field"]
    for row, (_, expected) in enumerate(SPELLINGS):
        if "|" in expected:
            assert keys.loc[row] == expected
            assert row not in first.index
        else:
            assert first.loc[row] == expected
            assert row not in keys.index
    assert len(keys) + first.size == len(SPELLINGS)


def test_problem_reasons_never_contain_the_value() -> None:
    frame = _frame([fields for fields, expected in SPELLINGS if "|" not in expected])
    _, problems = normalise_address_columns(frame, strict=False)

    for row, reason in zip(problems["row"], problems["reason"], strict=True):
        for value in frame.iloc[row]:
            if isinstance(value, str) and len(value.strip()) >= 3:
                assert value.strip() not in reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7581 ab", "7581AB"),
        (" 7581AB ", "7581AB"),
        ("7581-ab", "7581AB"),
        ("7581ab", "7581AB"),
        ("9999 ZZ", "9999ZZ"),
        ("1000 aa", "1000AA"),
    ],
)
def test_normalise_postcode(value: str, expected: str) -> None:
    assert normalise_postcode(value) == expected


@pytest.mark.parametrize("letters", ["SA", "SD", "SS", "sa", "sd", "ss"])
def test_never_issued_letter_pairs_are_rejected(letters: str) -> None:
    with pytest.raises(AddressError, match="SA, SD or SS") as caught:
        normalise_postcode(f"7581 {letters}")
    assert caught.value.field == "postcode"
    assert "'9999 AA'" in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12, (12, "", "")),
        (np.int64(12), (12, "", "")),
        (12.0, (12, "", "")),
        (np.float64(7.0), (7, "", "")),
        ("12A-3", (12, "A", "3")),
        ("12AB", (12, "", "AB")),
        ("1", (1, "", "")),
        ("00012", (12, "", "")),
    ],
)
def test_parse_huisnummer_types(value: object, expected: tuple[int, str, str]) -> None:
    assert parse_huisnummer(value) == expected


def test_long_number_is_out_of_range_not_an_overflow() -> None:
    with pytest.raises(AddressError, match="outside 1 to 99999"):
        parse_huisnummer("1" * 30)
    frame = _frame([("7581AB", "1" * 30, None, None)])
    _, problems = normalise_address_columns(frame, strict=False)
    assert "outside 1 to 99999" in problems["reason"].iloc[0]


@pytest.mark.parametrize("value", [None, np.nan, pd.NA, "", "  "])
def test_missing_letter_and_toevoeging_are_empty(value: object) -> None:
    assert normalise_huisletter(value) == ""
    assert normalise_toevoeging(value) == ""


@pytest.mark.parametrize("value", ["AB", "1", "-", 1, "\u00e9"])
def test_huisletter_is_one_letter(value: object) -> None:
    with pytest.raises(AddressError) as caught:
        normalise_huisletter(value)
    assert caught.value.field == "huisletter"


@pytest.mark.parametrize(
    ("value", "expected"), [(2, "2"), (2.0, "2"), ("hs", "HS"), ("/1a", "1A")]
)
def test_toevoeging_accepts_numbers_from_csv(value: object, expected: str) -> None:
    assert normalise_toevoeging(value) == expected


@pytest.mark.parametrize("value", ["ABCDE", 2.5, -1, True, "2 H"])
def test_toevoeging_rejects(value: object) -> None:
    with pytest.raises(AddressError) as caught:
        normalise_toevoeging(value)
    assert caught.value.field == "huisnummertoevoeging"


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        ("7581 ab", "9999 AA"),
        ("12a-3", "99A-9"),
        (12.0, "99.9"),
        (None, "<missing>"),
        (np.nan, "<missing>"),
        ("a@b_c", "A?A?A"),
        ("\u00e9\u00df", "AA"),
    ],
)
def test_value_shape(value: object, shape: str) -> None:
    assert value_shape(value) == shape


@given(st.text(max_size=60))
def test_value_shape_reveals_no_character_but_punctuation(text: str) -> None:
    shape = value_shape(text)

    assert set(shape[:24]) <= set("9A -/.,'?")
    assert len(shape[:24]) == min(len(text), 24)


def test_address_validates_its_fields() -> None:
    address = Address("7581AB", 12, "A", "2")
    assert address.key == "7581AB|12|A|2"
    with pytest.raises(dataclasses.FrozenInstanceError):
        address.huisnummer = 13  # type: ignore[misc]

    for fields, field in [
        (("7581 ab", 12), "postcode"),
        (("7581SS", 12), "postcode"),
        (("7581AB", 0), "huisnummer"),
        (("7581AB", "12"), "huisnummer"),
        (("7581AB", 12, "a"), "huisletter"),
        (("7581AB", 12, "", "ABCDE"), "huisnummertoevoeging"),
    ]:
        with pytest.raises(AddressError) as caught:
            Address(*fields)  # type: ignore[arg-type]
        assert caught.value.field == field


def test_address_keys_match_the_scalar_key() -> None:
    frame = pd.DataFrame(
        {
            "postcode": ["7581AB", "7587AA", "7586BC"],
            "huisnummer": [12, 4, 100],
            "huisletter": ["A", "", np.nan],
            "huisnummertoevoeging": ["", "HS", "2"],
        },
        index=[10, 20, 30],
    )
    keys = address_keys(frame)

    assert keys.name == "address_key"
    assert keys.index.tolist() == [10, 20, 30]
    assert keys.tolist() == [
        address_key(*row) for row in frame.fillna("").itertuples(index=False)
    ]
    assert keys.tolist() == ["7581AB|12|A|", "7587AA|4||HS", "7586BC|100||2"]


def test_normalise_columns_keeps_index_and_other_columns() -> None:
    frame = pd.DataFrame(
        {
            "postcode": ["7581 ab", "0000XX", "7587aa"],
            "huisnummer": ["12a", "3", 7.0],
            "naam": ["x", "y", "z"],
        },
        index=["r1", "r2", "r3"],
    )
    normalised, problems = normalise_address_columns(frame, strict=False)

    assert normalised.index.tolist() == ["r1", "r3"]
    assert normalised["naam"].tolist() == ["x", "z"]
    assert normalised["huisnummer"].dtype == np.dtype("int64")
    assert normalised["huisletter"].tolist() == ["A", ""]
    assert normalised["huisnummertoevoeging"].tolist() == ["", ""]
    assert normalised["address_key"].tolist() == ["7581AB|12|A|", "7587AA|7||"]
    assert problems.columns.tolist() == ["row", "field", "reason"]
    assert problems[["row", "field"]].values.tolist() == [[1, "postcode"]]


def test_normalise_columns_numeric_huisnummer_with_gaps() -> None:
    frame = pd.DataFrame(
        {"postcode": ["7581AB"] * 4, "huisnummer": [1.0, np.nan, 2.5, 100000.0]}
    )
    normalised, problems = normalise_address_columns(frame, strict=False)

    assert normalised["huisnummer"].tolist() == [1]
    assert problems["row"].tolist() == [1, 2, 3]
    assert set(problems["field"]) == {"huisnummer"}


def test_normalise_columns_reports_every_problem_in_field_order() -> None:
    frame = _frame([("7581 SA", "0", "AB", "ABCDE"), ("7581AB", "1", None, None)])
    normalised, problems = normalise_address_columns(frame, strict=False)

    assert normalised.index.tolist() == [1]
    assert problems["row"].tolist() == [0, 0, 0, 0]
    assert problems["field"].tolist() == [
        "postcode",
        "huisnummer",
        "huisletter",
        "huisnummertoevoeging",
    ]


def test_strict_raises_on_the_first_problem_with_row_and_shape() -> None:
    frame = _frame(
        [("7581AB", "1", None, None), ("7581AB", "2", None, None)]
        + [("7581 SA", "0", None, None)]
    ).set_axis(["a", "b", "c"])
    with pytest.raises(AddressError) as caught:
        normalise_address_columns(frame, strict=True)
    message = str(caught.value)

    assert caught.value.field == "postcode"
    assert message.startswith("row 2: `postcode` of shape '9999 AA'")
    assert "7581 SA" not in message


def test_strict_accepts_a_clean_frame() -> None:
    frame = _frame([("7581AB", "1", None, None), ("7581 ab", "2b", None, "3")])
    normalised, problems = normalise_address_columns(frame, strict=True)

    assert problems.empty
    assert normalised["address_key"].tolist() == ["7581AB|1||", "7581AB|2|B|3"]


def test_missing_required_column_raises() -> None:
    with pytest.raises(AddressError, match="`huisnummer`"):
        normalise_address_columns(pd.DataFrame({"postcode": ["7581AB"]}), strict=False)


def test_empty_frame() -> None:
    frame = pd.DataFrame({"postcode": [], "huisnummer": []})
    normalised, problems = normalise_address_columns(frame, strict=True)

    assert normalised.empty and problems.empty
    assert "address_key" in normalised.columns
    assert normalised["huisnummer"].dtype == np.dtype("int64")


# --- property tests -------------------------------------------------------------

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@st.composite
def _addresses(draw: st.DrawFn) -> Address:
    """A valid normalised address."""
    digits = draw(st.integers(1000, 9999))
    letters = draw(
        st.text(_LETTERS, min_size=2, max_size=2).filter(
            lambda pair: pair not in {"SA", "SD", "SS"}
        )
    )
    number = draw(st.integers(1, 99999))
    letter = draw(st.sampled_from(["", *_LETTERS]))
    addition = draw(st.sampled_from(["", "2", "HS", "BIS", "II", "1HG", "A2", "B"]))
    return Address(f"{digits}{letters}", number, letter, addition)


def _random_case(draw: st.DrawFn, text: str) -> str:
    """Upper- or lower-case the text."""
    return text.lower() if draw(st.booleans()) else text


@st.composite
def _spellings(draw: st.DrawFn) -> tuple[Address, tuple[object, ...]]:
    """A valid address and one of the ways a resident could write it."""
    address = draw(_addresses())
    separator = draw(st.sampled_from(["", " ", "-", "  "]))
    postcode = f"{address.postcode[:4]}{separator}{address.postcode[4:]}"
    postcode = _random_case(draw, postcode)
    number, letter = address.huisnummer, address.huisletter
    addition = address.huisnummertoevoeging

    # spellings that the documented grammar reads back unambiguously
    inside = [(number, letter or None, addition or None)]
    if letter and not addition:
        inside += [
            (f"{number}{letter}", None, None),
            (f"{number}-{letter}", None, None),
        ]
    if addition and not letter and (len(addition) > 1 or addition.isdigit()):
        inside += [(f"{number}-{addition}", None, None)]
    if letter and addition:
        inside += [(f"{number}{letter}-{addition}", None, None)]
        inside += [(f"{number} {letter} {addition}", None, None)]
        inside += [(f"{number}{letter}", None, addition)]
    huisnummer, huisletter, toevoeging = draw(st.sampled_from(inside))
    if isinstance(huisnummer, str):
        huisnummer = _random_case(draw, huisnummer)
    return address, (postcode, huisnummer, huisletter, toevoeging)


@settings(max_examples=150, deadline=None)
@given(st.lists(_spellings(), min_size=1, max_size=20))
def test_key_of_parsed_equals_key_of_normalised(
    cases: list[tuple[Address, tuple[object, ...]]],
) -> None:
    frame = _frame([fields for _, fields in cases])
    normalised, problems = normalise_address_columns(frame, strict=True)

    assert problems.empty
    for row, (address, fields) in enumerate(cases):
        assert parse_address(*fields) == address
        assert normalised["address_key"].iloc[row] == address.key
        assert address_key(*fields) == address.key


_TEXT = st.text(alphabet="0123456789aAbBhsS -/.\u00df\t", max_size=9)


@settings(max_examples=100, deadline=None)
@given(st.lists(_TEXT, min_size=1, max_size=30))
def test_vectorised_house_numbers_agree_with_scalar(values: list[str]) -> None:
    frame = pd.DataFrame({"postcode": "7581AB", "huisnummer": values})
    normalised, problems = normalise_address_columns(frame, strict=False)

    failed = dict(zip(problems["row"], problems["field"], strict=True))
    for row, value in enumerate(values):
        try:
            number, letter, addition = parse_huisnummer(value)
        except AddressError as error:
            assert failed[row] == error.field
            continue
        parsed = normalised.loc[row]
        assert (parsed["huisnummer"], parsed["huisletter"]) == (number, letter)
        assert parsed["huisnummertoevoeging"] == addition
        assert 1 <= number <= 99999
        assert len(letter) <= 1 and len(addition) <= 4
