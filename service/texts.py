"""Dutch texts for residents and beheerders, and the stable error codes.

Every 422 of the service has one shape (documented in the OpenAPI description
and the README)::

    {"detail": [{"field": "postcode", "code": "postcode_invalid",
                 "message": "Dit is geen geldige postcode. ..."}]}

``code`` is stable for programs; ``message`` is Dutch for the resident and
never repeats the value that was sent.
"""

from __future__ import annotations

from service.config import DEFAULT_RETENTION_DAYS

SAAR_RULES = (
    "S - Signaleer: zie je iets verdachts, kijk goed (wie, wat, waar, welke "
    "richting, kenteken).",
    "A - Alarmeer: bel eerst 112 bij een verdachte situatie die nu gebeurt.",
    "A - App: meld het daarna in deze groep, kort en feitelijk.",
    "R - Reageer: reageer alleen als je iets toevoegt; ga nooit zelf achter "
    "iemand aan.",
)

ERRORS: dict[str, str] = {
    "body_invalid": (
        "We konden uw aanmelding niet lezen. Vul het formulier opnieuw in en "
        "probeer het nog eens."
    ),
    "field_type": "Dit veld heeft een ongeldige waarde. Vul het opnieuw in.",
    "postcode_missing": "Vul uw postcode in, bijvoorbeeld 7581 AB.",
    "postcode_invalid": (
        "Dit is geen geldige postcode. Een postcode heeft 4 cijfers (niet "
        "beginnend met 0) en 2 letters, bijvoorbeeld 7581 AB."
    ),
    "huisnummer_missing": "Vul uw huisnummer in, bijvoorbeeld 12.",
    "huisnummer_invalid": (
        "Dit is geen geldig huisnummer. Vul een getal van 1 tot 99999 in, "
        "eventueel met letter of toevoeging, bijvoorbeeld 12, 12A of 12-2."
    ),
    "huisletter_invalid": "Een huisletter is één letter, bijvoorbeeld A.",
    "huisletter_conflict": (
        "U gaf twee verschillende huisletters op. Vul de huisletter maar op één "
        "plek in."
    ),
    "toevoeging_invalid": (
        "Een toevoeging heeft hoogstens 4 letters of cijfers, bijvoorbeeld 2, "
        "HS of BIS."
    ),
    "toevoeging_conflict": (
        "U gaf twee verschillende toevoegingen op. Vul de toevoeging maar op "
        "één plek in."
    ),
    "address_unknown": (
        "Dit adres staat niet in het adressenregister van de gemeente. "
        "Controleer uw postcode en huisnummer."
    ),
    "address_ambiguous": (
        "Op dit huisnummer zijn meerdere adressen. Vul ook uw huisletter of "
        "toevoeging in."
    ),
    "address_outside": (
        "Deze postcode ligt niet in onze gemeente. Aanmelden kan alleen met "
        "een adres in de gemeente."
    ),
    "telefoon_missing": (
        "Vul uw mobiele nummer in, bijvoorbeeld 06 12345678. Daarmee voegt de "
        "beheerder u toe aan de WhatsApp-groep."
    ),
    "telefoon_invalid": (
        "Dit is geen geldig telefoonnummer. Vul uw mobiele nummer in, "
        "bijvoorbeeld 06 12345678."
    ),
    "telefoon_not_mobile": (
        "Dit is geen mobiel nummer. WhatsApp werkt alleen met een mobiel "
        "nummer (06...)."
    ),
    "telefoon_foreign": (
        "Aanmelden kan alleen met een Nederlands mobiel nummer (06...)."
    ),
    "telefoon_foreign_de": (
        "Aanmelden kan alleen met een Nederlands of Duits mobiel nummer."
    ),
    "voornaam_too_long": "Uw voornaam mag hoogstens 40 tekens hebben.",
    "voornaam_invalid": (
        "Uw voornaam mag alleen letters, spaties, punten, apostroffen en "
        "streepjes bevatten."
    ),
    "consent_missing": (
        "U kunt zich alleen aanmelden als u instemt met de privacyverklaring. "
        "Vink het vakje aan."
    ),
    "privacy_version_missing": (
        "Lees de privacyverklaring en meld u opnieuw aan via de aanmeldpagina."
    ),
    "privacy_version_outdated": (
        "De privacyverklaring is gewijzigd sinds u deze pagina opende. Lees de "
        "nieuwe versie en meld u opnieuw aan."
    ),
    "token_missing": "Vul de persoonlijke code in die u bij uw aanmelding kreeg.",
    "token_unknown": (
        "Deze code kennen we niet (meer). Controleer of u de hele code hebt "
        "overgenomen."
    ),
    "action_invalid": "Kies wat u wilt doen.",
}

STATUS_TEXT = {
    "assigned": "U bent aangemeld en ingedeeld in groep {group}.",
    "queued": (
        "U bent aangemeld en staat in de wachtrij: er is nog geen groep voor "
        "uw adres. U hoort van ons zodra er een groep is."
    ),
    "left": "U bent afgemeld.",
    "erased": "Uw gegevens zijn gewist.",
}

DUPLICATE_TEXT = (
    "U was al aangemeld met dit nummer op dit adres; er is niets veranderd. "
    "Gebruik de persoonlijke code die u bij uw eerste aanmelding kreeg."
)

REJOIN_TEXT = {
    "assigned": (
        "U had zich eerder afgemeld en bent nu weer aangemeld, in groep {group}. "
        "De persoonlijke code van uw eerste aanmelding werkt weer."
    ),
    "queued": (
        "U had zich eerder afgemeld en bent nu weer aangemeld. U staat in de "
        "wachtrij: er is nog geen groep met plaats voor uw adres. U hoort van ons "
        "zodra er een groep is. De persoonlijke code van uw eerste aanmelding "
        "werkt weer."
    ),
}


def registration_text(
    status: str, group: str | None, *, created: bool, rejoined: bool
) -> str:
    """What a resident reads after posting the registration form (Dutch)."""
    if created:
        return STATUS_TEXT[status].format(group=group)
    if rejoined:
        return REJOIN_TEXT[status].format(group=group)
    return DUPLICATE_TEXT


_BEHEERDER_REMOVES = (
    " De beheerder haalt uw nummer uit de WhatsApp-groep en uit zijn of haar contacten."
)


def left_text(retention_days: int, *, was_member: bool) -> str:
    """What a resident reads after leaving."""
    text = "U bent afgemeld."
    if was_member:
        text += _BEHEERDER_REMOVES
    return text + (
        f" Uw gegevens worden na {retention_days} dagen gewist; met uw code kunt "
        "u ze nu al laten wissen."
    )


def erased_text(*, was_member: bool) -> str:
    """What a resident reads after erasing their data."""
    text = (
        "Uw gegevens zijn gewist: uw telefoonnummer, naam en adres staan niet "
        "meer bij ons."
    )
    return text + (_BEHEERDER_REMOVES if was_member else "")


def error_message(code: str) -> str:
    """The Dutch message of an error code."""
    return ERRORS[code]


def member_label(group_id: str, member_number: int) -> str:
    """How a member appears in the vCard export and in tasks: no personal data."""
    return f"Buurtpreventie {group_id} #{member_number}"


def removal_task_text(group_id: str, member_number: int) -> str:
    """The beheerder's task when a member leaves or erases their data."""
    label = member_label(group_id, member_number)
    return (
        f"Verwijder lid #{member_number} (contact '{label}') uit de "
        "WhatsApp-groep en uit je contacten. Het nummer staat niet meer in de "
        "ledenlijst: zoek het contact op deze naam."
    )


def welcome_text(group_id: str, retention_days: int = DEFAULT_RETENTION_DAYS) -> str:
    """The ready-to-send welcome message of a group, with the SAAR house rules.

    Parameters
    ----------
    group_id
        The group, e.g. ``"de-lutte-03"``.
    retention_days
        Days the data of someone who leaves is kept (named in the text).
    """
    rules = "\n".join(f"  {rule}" for rule in SAAR_RULES)
    return (
        f"Welkom in de buurtpreventiegroep {group_id}!\n"
        "\n"
        "Deze WhatsApp-groep is er om elkaar te waarschuwen bij verdachte "
        "situaties in de buurt. De huisregels volgen SAAR:\n"
        f"{rules}\n"
        "\n"
        "Bij spoed en bij een verdachte situatie die nu gebeurt: bel altijd "
        "eerst 112.\n"
        "Geen spoed? Bel de politie op 0900-8844.\n"
        "\n"
        "Houd de groep rustig: geen reclame, geen doorgestuurde berichten, geen "
        "discussies en geen foto's van mensen die herkenbaar in beeld zijn. "
        "Deel nooit namen, adressen of kentekens van vermoedelijke daders in de "
        "groep; geef ze door aan de politie.\n"
        "\n"
        "Afmelden kan altijd via de afmeldpagina met je persoonlijke code; de "
        "beheerder haalt je dan uit de groep en je gegevens worden binnen "
        f"{retention_days} dagen gewist (of direct, als je daarvoor kiest).\n"
    )


#: How the access page names the audit log's events about a registration.
EVENT_TEXT = {
    "registration.create": "aangemeld",
    "registration.read": "uw gegevens ingezien",
    "registration.leave": "afgemeld",
    "registration.rejoin": "weer aangemeld",
    "registration.erase": "gegevens gewist",
    "registration.token": "nieuwe persoonlijke code gemaakt",
}

#: How the access page names the beheerder's steps about a member.
CHANGE_TEXT = {"add": "toevoegen aan groep", "remove": "verwijderen uit groep"}
