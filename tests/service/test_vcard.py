"""vCard 3.0 export: escaping, folding, one card per member."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from service.vcard import escape, fold, members_vcard


def _unfold(text: str) -> str:
    """RFC 2426 unfolding: a CRLF followed by one space joins two lines."""
    return text.replace("\r\n ", "")


def test_special_characters_are_escaped():
    assert escape("a,b;c\\d\ne\r\nf") == "a\\,b\\;c\\\\d\\ne\\nf"


@given(st.text(min_size=0, max_size=300))
def test_folded_lines_fit_75_octets_and_unfold_to_the_original(line):
    line = line.replace("\r", "").replace("\n", "")

    folded = fold(line)

    assert all(len(part.encode()) <= 75 for part in folded.split("\r\n"))
    assert _unfold(folded) == line


def test_each_member_becomes_one_card_with_crlf_endings():
    members = [
        {"member_number": 3, "telefoon": "+31620000003", "voornaam": "Anna"},
        {"member_number": 9, "telefoon": "+4915123456789", "voornaam": None},
    ]

    text = members_vcard("de-lutte-03", members)

    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    lines = _unfold(text).split("\r\n")
    assert lines.count("BEGIN:VCARD") == lines.count("END:VCARD") == 2
    assert "FN:Anna - Buurtpreventie de-lutte-03 #3" in lines
    assert "FN:Buurtpreventie de-lutte-03 #9" in lines
    assert "N:Buurtpreventie de-lutte-03 #3;Anna;;;" in lines
    assert "TEL;TYPE=CELL:+4915123456789" in lines
