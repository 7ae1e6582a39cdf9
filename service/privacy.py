"""The privacy statement and processing-register entry, generated from the settings.

``docs/privacy.md`` is written by ``buurtgroepen privacy`` from the same
sections the service shows residents at ``GET /privacy``, so the statement
always names the configured controller, retention and phone-number rule. The
resident-facing text is Dutch; the closing notes for maintainers are English.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from service.config import Settings

DEFAULT_PATH = Path("docs/privacy.md")
_CODE = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Section:
    """One section of the statement: paragraphs, bullets and a two-column table."""

    title: str
    paragraphs: tuple[str, ...] = ()
    bullets: tuple[str, ...] = ()
    table: tuple[tuple[str, str], ...] = ()
    for_residents: bool = True


def statement(settings: Settings) -> list[Section]:
    """The sections of the privacy statement for these settings."""
    days = settings.retention_days
    mobiles = (
        "een Nederlands of Duits mobiel nummer"
        if settings.allow_foreign_mobile
        else "een Nederlands mobiel nummer"
    )
    data = (
        f"uw mobiele telefoonnummer ({mobiles}), versleuteld opgeslagen",
        "uw voornaam, als u die opgeeft (niet verplicht), versleuteld opgeslagen",
        "uw adres (postcode, huisnummer, huisletter, toevoeging) met het "
        "BAG-nummer en de plek (coördinaat) uit het adressenregister van de "
        "gemeente",
        "wanneer u toestemming gaf en voor welke versie van deze verklaring",
        "in welke groep u zit of zat, met uw lidnummer en de data",
        "uw persoonlijke code, alleen als onomkeerbare hash",
    )
    retention = (
        "Zolang u bent aangemeld, bewaren we uw gegevens.",
        f"Meldt u zich af, dan wissen we uw telefoonnummer, naam en adres "
        f"{days} dagen later automatisch (met het dagelijkse `buurtgroepen purge`). "
        "Zo kan de beheerder u uit de groep halen en kunt u zich nog bedenken.",
        "Kiest u voor direct wissen, dan wissen we die gegevens meteen.",
        "Daarna blijven alleen anonieme tellingen over: postcodegebied (4 "
        "cijfers), woonplaats, buurtcode, status en data, zonder nummer, naam "
        "of adres.",
        "Het logboek van inzage (wie, wat, wanneer) bevat geen telefoonnummers, "
        "namen of adressen.",
    )
    register = (
        ("Verwerkingsverantwoordelijke", settings.controller),
        ("Doel", "Bewoners indelen in en beheren van buurtpreventie-WhatsApp-groepen"),
        ("Grondslag", "Toestemming (artikel 6 lid 1 onder a AVG), altijd intrekbaar"),
        ("Betrokkenen", "Bewoners van de gemeente die zich aanmelden"),
        ("Persoonsgegevens", "; ".join(data)),
        (
            "Ontvangers",
            "De beheerder(s) van de eigen groep (voornaam en nummer); de leden "
            "van de WhatsApp-groep (nummer, via WhatsApp); de stuurgroep alleen "
            "aantallen, dekking en de codes van aanmeldingen bij het indelen "
            "(geen nummer, naam of adres)",
        ),
        (
            "Doorgifte buiten de EER",
            "Niet door deze dienst; WhatsApp (Meta) verwerkt de nummers van de "
            "groep onder zijn eigen voorwaarden",
        ),
        (
            "Bewaartermijn",
            f"Tot afmelding plus {days} dagen, of direct wissen op verzoek; daarna "
            "alleen anonieme tellingen",
        ),
        (
            "Beveiliging",
            "Nummer en naam versleuteld (Fernet), dubbelcheck met een geheime "
            "sleutel (HMAC-SHA256), codes alleen als hash, elke inzage in een "
            "ledenlijst gelogd, geen externe scripts of trackers",
        ),
        ("Versie van deze verklaring", settings.privacy_version),
    )
    return [
        Section(
            "Wie is verantwoordelijk",
            (
                f"Verantwoordelijk voor de verwerking is {settings.controller}. "
                "Vrijwilligers van de stuurgroep en de beheerders van de groepen "
                "doen het werk.",
            ),
        ),
        Section(
            "Waarvoor gebruiken we uw gegevens",
            (
                "Om u in te delen in de buurtpreventie-WhatsApp-groep van uw "
                "buurt, zodat de beheerder u kan toevoegen, en om uw aanmelding "
                "en afmelding te regelen. Voor niets anders: geen reclame, geen "
                "profielen, niet doorverkopen.",
                "We doen dit omdat u er toestemming voor geeft (artikel 6 lid 1 "
                "onder a AVG). U kunt die toestemming altijd intrekken door u af "
                "te melden.",
            ),
        ),
        Section("Welke gegevens", ("We bewaren alleen:",), bullets=data),
        Section(
            "Wie ziet uw gegevens",
            bullets=(
                "De beheerder(s) van uw eigen groep zien uw voornaam en mobiele "
                "nummer, om u in de WhatsApp-groep te zetten. Uw adres zien ze "
                "niet.",
                "De andere leden van de WhatsApp-groep zien uw nummer in "
                "WhatsApp, zoals in elke groep.",
                "De stuurgroep ziet alleen aantallen per groep en per gebied, "
                "en bij het indelen een code per aanmelding; nooit uw nummer, "
                "naam of adres.",
                "Niemand anders. We geven uw gegevens niet aan derden.",
                "Elke keer dat een beheerder de ledenlijst bekijkt of downloadt, "
                "wordt vastgelegd wie dat deed en wanneer.",
            ),
        ),
        Section("Hoe lang bewaren we uw gegevens", retention),
        Section(
            "Uw rechten",
            bullets=(
                "Inzage: met uw persoonlijke code ziet u op de afmeldpagina alles "
                "wat we van u hebben, ook wanneer uw ledenlijst is bekeken "
                "(`GET /registrations/me`).",
                "Afmelden: op de afmeldpagina, met uw persoonlijke code. De "
                "beheerder krijgt de opdracht u uit de groep te halen.",
                "Wissen: op de afmeldpagina kunt u ook kiezen voor direct wissen "
                "(`DELETE /registrations/me`).",
                "Code kwijt: neem contact op met de verantwoordelijke hierboven. "
                "Na een controle via uw mobiele nummer kan die u een nieuwe code "
                "geven, of uw gegevens laten zien of wissen.",
                "Wijzigen: meld u af en meld u opnieuw aan met de juiste gegevens.",
                "Klacht: neem contact op met de verantwoordelijke hierboven, of "
                "dien een klacht in bij de Autoriteit Persoonsgegevens.",
            ),
        ),
        Section(
            "Beveiliging",
            bullets=(
                "Uw telefoonnummer en voornaam staan versleuteld in de database; "
                "de sleutel staat daar niet in.",
                "Om dubbele aanmeldingen te herkennen gebruiken we een "
                "vingerafdruk van uw nummer met een geheime sleutel (HMAC), "
                "waaruit het nummer niet terug te halen is.",
                "Persoonlijke codes bewaren we alleen als hash.",
                "De pagina's laden geen scripts, lettertypes of trackers van "
                "andere partijen.",
            ),
        ),
        Section("Verwerkingsregister (artikel 30 AVG)", table=register),
        Section(
            "Notes for maintainers: erasure and the beheerder's task",
            (
                "`DELETE /registrations/me` nulls the number, its keyed hash, the "
                "first name, the exact address, the BAG id, the point and the "
                "token hash in the same transaction, and on SQLite checkpoints "
                "the write-ahead log (with `secure_delete` on) so the values are "
                "gone from the file too.",
                "The beheerder still has to remove the number from the WhatsApp "
                "group and from their contacts. The removal task does **not** "
                "keep the number, not even encrypted: encrypted personal data is "
                "still personal data (pseudonymised, AVG recital 26), the key sits "
                "on the same server, and keeping it until a volunteer clicks "
                "'done' would make 'removed at once' depend on that volunteer. "
                "Instead every member has a stable number in their group, and the "
                "vCard export names each contact with it (`Anna - Buurtpreventie "
                "de-lutte-03 #17`). The task says 'remove member #17 (contact "
                "Buurtpreventie de-lutte-03 #17)', which the beheerder finds in "
                "their contacts and in the WhatsApp group without the service "
                "holding the number.",
                "Known limit: a beheerder who never imported the vCard has only "
                "the member number to go on; the welcome flow asks them to import "
                "it. On PostgreSQL the old row versions stay in the table files "
                "until autovacuum reclaims them.",
            ),
            for_residents=False,
        ),
    ]


def render_markdown(settings: Settings) -> str:
    """The statement as Markdown, the content of ``docs/privacy.md``."""
    lines = [
        "# Privacyverklaring buurtpreventie-WhatsApp-groepen",
        "",
        f"Versie {settings.privacy_version}. Gegenereerd uit de configuratie met "
        "`buurtgroepen privacy`; pas de instellingen (`BUURTGROEPEN_*`) aan en "
        "genereer opnieuw, in plaats van dit bestand te bewerken.",
    ]
    for section in statement(settings):
        lines += ["", f"## {section.title}", ""]
        blocks: list[str] = list(section.paragraphs)
        if section.bullets:
            blocks.append("\n".join(f"- {bullet}" for bullet in section.bullets))
        if section.table:
            rows = ["| onderdeel | inhoud |", "|---|---|"]
            rows += [f"| {key} | {value} |" for key, value in section.table]
            blocks.append("\n".join(rows))
        lines.append("\n\n".join(blocks))
    return "\n".join(lines) + "\n"


def write_markdown(settings: Settings, path: Path = DEFAULT_PATH) -> Path:
    """Write ``docs/privacy.md`` (or ``path``) from the settings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown(settings), encoding="utf-8")
    return path


def inline_html(text: str) -> str:
    """Escape a text for HTML, showing ```code``` spans and ``**bold**``."""
    escaped = html.escape(text)
    escaped = _CODE.sub(r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)
