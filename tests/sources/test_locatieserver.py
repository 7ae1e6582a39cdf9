"""The PDOK Locatieserver geocoder against the loopback server."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
import pytest

from partition.geocode import OUTPUT_COLUMNS, RegisterGeocoder
from partition.sources._http import HttpClient, RetryPolicy, ServiceError
from partition.sources.locatieserver import LocatieserverGeocoder
from tests.sources.conftest import FREE, FakePdok, Fault

# registration id -> (postcode, huisnummer as typed, street, woonplaats, outcome)
CASES = {
    "exact": ("7581AB", "12", None, None, "exact"),
    "letter": ("7581 ab", "12a", None, None, "exact"),
    "letter-apart": ("7581AB", "12", None, None, "exact"),
    "no-such-letter": ("7581AB", "12C", None, None, "unknown_address"),
    "two-toevoegingen": ("7581AC", "5", None, None, "ambiguous_toevoeging"),
    "only-toevoeging": ("7581AD", "7", None, None, "toevoeging_unique"),
    "toevoeging": ("7581AC", "5-2", None, None, "exact"),
    "no-such-number": ("7581AB", "13", None, None, "unknown_address"),
    "street-typo": ("9999 A", "14", "Kerkstrat", "Losser", "fuzzy"),
    "bad-number": ("7581AB", "abc", None, None, "invalid_huisnummer"),
    "de-lutte": ("7587AA", "3", None, None, "exact"),
    "enschede": ("7522AA", "3", None, None, "outside_register"),
}


def registrations() -> pd.DataFrame:
    """The registrations of CASES, with a phone number that must never leak."""
    rows = [
        {
            "registration_id": rid,
            "postcode": pc,
            "huisnummer": nr,
            "huisletter": "B" if rid == "letter-apart" else None,
            "openbare_ruimte": street,
            "woonplaats": place,
            "telefoon": "06 12345678",
        }
        for rid, (pc, nr, street, place, _) in CASES.items()
    ]
    return pd.DataFrame(rows)


def outcome(result: pd.DataFrame) -> pd.Series:
    """The match quality, or the unmatched reason, per registration id."""
    named = result["match_quality"].where(
        result["match_quality"].ne("unmatched"), result["unmatched_reason"]
    )
    return pd.Series(named.to_numpy(), index=result["registration_id"])


def geocoder(
    pdok: FakePdok, client: HttpClient, **options: object
) -> LocatieserverGeocoder:
    """A geocoder talking to the fixture server."""
    base = pdok.url + FREE.removesuffix("/free")
    return LocatieserverGeocoder(base_url=base, client=client, **options)


def offline_register(docs: list[dict], gemeente: str) -> pd.DataFrame:
    """The same addresses as an offline register (written independently here)."""
    rows = []
    for d in docs:
        if d["type"] != "adres" or d["gemeentecode"] != gemeente:
            continue
        x, y = re.findall(r"[-\d.]+", d["centroide_rd"])
        rows.append(
            {
                "postcode": d["postcode"],
                "huisnummer": d["huisnummer"],
                "huisletter": d.get("huisletter", ""),
                "huisnummertoevoeging": d.get("huisnummertoevoeging", ""),
                "openbare_ruimte": d["straatnaam"],
                "woonplaats": d["woonplaatsnaam"],
                "nummeraanduiding_id": d["nummeraanduiding_id"],
                "buurtcode": d["buurtcode"],
                "wijkcode": d["wijkcode"],
                "x": float(x),
                "y": float(y),
            }
        )
    return pd.DataFrame(rows)


def test_each_case_gets_its_documented_outcome(pdok: FakePdok, make_client) -> None:
    """Letters and toevoegingen pick the matching result, as in the offline rules."""
    result = geocoder(pdok, make_client(), gemeentecode="GM0168").geocode(
        registrations()
    )
    expected = pd.Series({rid: case[-1] for rid, case in CASES.items()})
    pd.testing.assert_series_equal(
        outcome(result), expected, check_names=False, check_index_type=False
    )
    assert list(result.columns) == list(OUTPUT_COLUMNS)
    assert result.index.equals(registrations().index)


def test_same_output_as_the_offline_register_geocoder(
    pdok: FakePdok, make_client
) -> None:
    """Columns, qualities, reasons, ids and points equal RegisterGeocoder's."""
    people = registrations()
    online = geocoder(pdok, make_client(), gemeentecode="GM0168").geocode(people)
    offline = RegisterGeocoder(offline_register(pdok.docs, "0168")).geocode(people)

    same = [c for c in OUTPUT_COLUMNS if c != "address_index"]
    pd.testing.assert_frame_equal(online[same], offline[same], check_dtype=False)
    assert (online["address_index"] >= 0).equals(offline["address_index"] >= 0)
    matched = online[online["address_index"] >= 0]
    assert matched["x"].between(260_000, 262_000).all()
    assert matched["buurtcode"].str.match(r"^BU0168\d{4}$").all()


def test_without_a_gemeente_all_of_the_netherlands_matches(
    pdok: FakePdok, make_client
) -> None:
    """The Enschede address is found when no gemeente is configured."""
    result = geocoder(pdok, make_client()).geocode(registrations())
    assert outcome(result)["enschede"] == "exact"


def test_an_unknown_postcode_is_an_unknown_address(pdok: FakePdok, make_client) -> None:
    """Without a register, a postcode the service lacks is not "outside"."""
    people = pd.DataFrame(
        {"registration_id": ["a"], "postcode": ["7583ZZ"], "huisnummer": ["1"]}
    )
    result = geocoder(pdok, make_client(), gemeentecode="GM0168").geocode(people)
    assert outcome(result).to_dict() == {"a": "unknown_address"}


def test_only_documented_parameters_are_sent(pdok: FakePdok, make_client) -> None:
    """Every request uses q, fq, fl, rows and start only, with fq=type:adres."""
    geocoder(pdok, make_client(), gemeentecode="GM0168").geocode(registrations())
    requests = pdok.requests(FREE)
    assert requests
    for request in requests:
        query = parse_qsl(urlsplit(request).query)
        assert {name for name, _ in query} <= {"q", "fq", "fl", "rows", "start"}
        assert ("fq", "type:adres") in query
        fields = dict(query)["fl"].split(",")
        assert {"centroide_rd", "nummeraanduiding_id", "huisletter"} <= set(fields)
        assert {"huisnummertoevoeging", "buurtcode", "wijkcode", "gemeentecode"} <= set(
            fields
        )


def test_one_request_per_distinct_address(pdok: FakePdok, make_client) -> None:
    """Registrations at one (postcode, number) share one query."""
    people = pd.DataFrame(
        {
            "registration_id": ["a", "b", "c"],
            "postcode": ["7581AB", "7581 AB", "7581ab"],
            "huisnummer": ["12", "12a", "12"],
        }
    )
    geocoder(pdok, make_client()).geocode(people)
    assert len(pdok.requests(FREE)) == 1


def test_results_are_paged_with_start(pdok: FakePdok, make_client) -> None:
    """With rows=1 the three addresses at number 12 take three pages."""
    people = pd.DataFrame(
        {"registration_id": ["a"], "postcode": ["7581AB"], "huisnummer": ["12B"]}
    )
    result = geocoder(pdok, make_client(), rows=1).geocode(people)
    assert outcome(result).to_dict() == {"a": "exact"}
    starts = [dict(parse_qsl(urlsplit(r).query))["start"] for r in pdok.requests(FREE)]
    assert starts == ["0", "1", "2"]


def test_the_disk_cache_makes_a_second_run_offline(
    pdok: FakePdok, make_client, tmp_path: Path
) -> None:
    """A second geocoder on the same cache folder sends no request."""
    people = registrations()
    first = geocoder(pdok, make_client(cache_dir=tmp_path)).geocode(people)
    sent = len(pdok.log)
    second = geocoder(pdok, make_client(cache_dir=tmp_path)).geocode(people)
    assert len(pdok.log) == sent
    pd.testing.assert_frame_equal(first, second)


def test_requests_are_throttled(pdok: FakePdok) -> None:
    """The geocoder's own client keeps `min_interval` between requests."""
    now = [0.0]
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        now[0] += seconds

    client = HttpClient(
        service="fixture", min_interval=0.2, sleep=sleep, clock=lambda: now[0]
    )
    with client:
        geocoder(pdok, client).geocode(registrations())
    assert len(waited) == len(pdok.log) - 1
    assert waited == pytest.approx([0.2] * len(waited))


def test_a_failing_service_raises_one_service_error(
    pdok: FakePdok, make_client
) -> None:
    """A Locatieserver that keeps failing gives a ServiceError, not a partial result."""
    pdok.faults.append(Fault(FREE, status=500, times=100))
    client = make_client(retry=RetryPolicy(attempts=2, backoff=0.0))
    with pytest.raises(ServiceError, match="PDOK fixture did not answer"):
        geocoder(pdok, client).geocode(registrations())


def test_logs_carry_counts_not_addresses(pdok: FakePdok, make_client, caplog) -> None:
    """No postcode, street or phone number in any log line, httpx's included."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="httpx")  # the CLI may have raised it
    geocoder(pdok, make_client(), gemeentecode="GM0168").geocode(registrations())
    text = caplog.text
    assert "geocoded 7 of 12 registrations with the Locatieserver" in text
    assert "HTTP Request: GET" in text  # httpx's line is there, without its query
    for secret in ("7581", "Kerkstra", "12345678", "Losser"):
        assert secret not in text


def test_geocode_command_selects_pdok_by_option_and_environment(
    pdok: FakePdok, tmp_path, monkeypatch
) -> None:
    """`buurtgroepen geocode --geocoder pdok` (or BUURTGROEPEN_GEOCODER=pdok) asks
    the Locatieserver; without either, the offline register is used."""
    from typer.testing import CliRunner

    from service.cli import app

    people = tmp_path / "registrations.csv"
    registrations().drop(columns="telefoon").to_csv(people, index=False)
    base = pdok.url + FREE.removesuffix("/free")
    out = tmp_path / "geocoded.csv"
    result = CliRunner().invoke(
        app,
        [
            "geocode",
            "--registrations",
            str(people),
            "--out",
            str(out),
            "--geocoder",
            "pdok",
            "--pdok-url",
            base,
            "--gemeente",
            "GM0168",
            "--cache",
            str(tmp_path / "cache"),
        ],
    )
    assert result.exit_code == 0, result.output
    geocoded = pd.read_csv(out, dtype=str)
    assert len(geocoded) == len(CASES)
    assert (geocoded["match_quality"] == "exact").any()

    # the same choice through the environment; the offline default needs a register
    monkeypatch.setenv("BUURTGROEPEN_GEOCODER", "register")
    result = CliRunner().invoke(
        app, ["geocode", "--registrations", str(people), "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "--addresses" in result.output
