"""vCard 3.0 (RFC 2426) export of a group's members, for import into a phone.

Each member becomes one card: ``FN`` is the first name followed by the member
label (``Anna - Buurtpreventie de-lutte-03 #17``), or the label alone
(``Buurtpreventie de-lutte-03 #17``), and ``TEL;TYPE=CELL`` the number in
E.164. The label is what removal tasks name, so a beheerder finds the contact
to delete after the service has erased the number itself. Lines end in CRLF,
values are escaped and long lines folded at 75 octets, as the RFC requires.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from service.texts import member_label

CRLF = "\r\n"
FOLD_OCTETS = 75


def escape(value: str) -> str:
    r"""Escape a text value: backslash, comma, semicolon and newlines (``\n``)."""
    value = value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
    return value.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def fold(line: str) -> str:
    """Fold a content line into chunks of at most 75 octets (UTF-8 safe)."""
    out: list[str] = []
    current, size = "", 0
    limit = FOLD_OCTETS
    for char in line:
        width = len(char.encode())
        if size + width > limit:
            out.append(current)
            # continuation lines start with one space, which counts as an octet
            current, size, limit = " ", 1, FOLD_OCTETS
        current += char
        size += width
    out.append(current)
    return CRLF.join(out)


def member_card(group_id: str, member: Mapping[str, object]) -> str:
    """One vCard for a member (``member_number``, ``telefoon``, ``voornaam``)."""
    number = int(member["member_number"])  # type: ignore[call-overload]
    label = member_label(group_id, number)
    voornaam = str(member["voornaam"]) if member.get("voornaam") else ""
    full_name = f"{voornaam} - {label}" if voornaam else label
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        f"N:{escape(label)};{escape(voornaam)};;;",
        f"FN:{escape(full_name)}",
        f"TEL;TYPE=CELL:{member['telefoon']}",
        f"CATEGORIES:{escape('Buurtpreventie ' + group_id)}",
        f"NOTE:{escape(f'Lid #{number} van buurtpreventiegroep {group_id}')}",
        f"UID:buurtgroepen-{group_id}-{number}",
        "END:VCARD",
    ]
    return "".join(fold(line) + CRLF for line in lines)


def members_vcard(group_id: str, members: Iterable[Mapping[str, object]]) -> str:
    """All members of a group as one vCard 3.0 file (CRLF line endings)."""
    return "".join(member_card(group_id, member) for member in members)
