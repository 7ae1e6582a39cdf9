"""Geocoding registrations online with the PDOK Locatieserver (``free`` endpoint).

:class:`LocatieserverGeocoder` implements :class:`partition.geocode.Geocoder`
for users with internet and no address register. It asks the Locatieserver
v3.1 ``free`` endpoint for the candidate addresses of each registration and
then applies exactly the matching rules of the offline
:class:`partition.geocode.RegisterGeocoder` to those candidates, so the output
has the same columns, match qualities and unmatched reasons:

1. one query per distinct (postcode, huisnummer):
   ``q=postcode:7581AB AND huisnummer:12``, ``fq=type:adres``; every address at
   that number comes back, with its ``huisletter`` and
   ``huisnummertoevoeging``, so the result whose letter and toevoeging match
   is picked (``exact``), or the only one that fits what the registration
   gives (``toevoeging_unique``), or none when several fit
   (``ambiguous_toevoeging``);
2. for a registration whose postcode is invalid or unknown and that names its
   street and woonplaats, one free-text query ``q=<street> <number>
   <woonplaats>`` (``fq=type:adres``); the street must then match as in the
   offline ``fuzzy`` path (rapidfuzz score at least 88).

Only documented parameters of ``/free`` are sent: ``q``, ``fq``, ``fl``,
``rows`` and ``start`` (v3.1 rejects others). The fields read are
``centroide_rd`` (``"POINT(x y)"``, EPSG:28992), ``nummeraanduiding_id``,
``postcode``, ``huisnummer``, ``huisletter``, ``huisnummertoevoeging``,
``straatnaam``, ``woonplaatsnaam``, ``buurtcode``, ``wijkcode`` and
``gemeentecode`` (four digits, ``"0168"``).

Notes
-----
With ``gemeentecode`` set, addresses of other gemeenten are not matched; their
registrations are ``unmatched`` with ``outside_register``. Without a register
there is no "outside" otherwise: an address the Locatieserver does not know is
``unknown_address``. ``address_index`` is the position in :attr:`candidates`,
the addresses fetched for the last call.

Requests are throttled (``min_interval``) and answers cached on disk
(``cache_dir``). The queries carry postcodes, house numbers and street names
(no names or phone numbers) to PDOK, and the cache keeps the answers: treat
the cache folder with the same care as the registrations. Logs carry counts
only. Accuracy is the Locatieserver's ``centroide_rd``: the verblijfsobject
point of the address.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from partition.addresses import ADDRESS_FIELDS, normalise_address_columns
from partition.errors import BuurtgroepenError
from partition.geocode import (
    OUTSIDE_REGISTER,
    UNKNOWN_ADDRESS,
    UNMATCHED,
    RegisterGeocoder,
    check_registrations,
)
from partition.logs import quiet
from partition.sources._http import HttpClient
from partition.sources.cbs import normalise_gemeentecode

logger = logging.getLogger(__name__)

LOCATIESERVER_URL = "https://api.pdok.nl/bzk/locatieserver/search/v3_1"
FIELDS = (
    "id",
    "type",
    "nummeraanduiding_id",
    "postcode",
    "huisnummer",
    "huisletter",
    "huisnummertoevoeging",
    "straatnaam",
    "woonplaatsnaam",
    "gemeentecode",
    "buurtcode",
    "wijkcode",
    "centroide_rd",
)
ROWS = 100
MAX_DOCS = 1000
_POINT = re.compile(r"^\s*POINT\s*\(\s*([-\d.eE+]+)\s+([-\d.eE+]+)\s*\)\s*$")
_SOLR_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/])')
_PLACEHOLDER_POSTCODE = "1000AA"


class LocatieserverGeocoder:
    """Geocode registrations with the PDOK Locatieserver.

    Parameters
    ----------
    base_url
        The Locatieserver search API (``.../search/v3_1``); ``/free`` is added.
    gemeentecode
        Match only addresses of this gemeente (``"GM0168"``); ``None`` matches
        all of the Netherlands.
    cache_dir
        Folder for cached answers (``None``: no cache).
    min_interval
        Least seconds between two requests.
    client
        An :class:`~partition.sources._http.HttpClient` to use instead (tests,
        shared throttling); `cache_dir` and `min_interval` are then ignored.
    rows
        Results asked per request (``rows``); more are paged with ``start``
        up to 1,000 per query.

    Raises
    ------
    BuurtgroepenError
        When `gemeentecode` is not a gemeentecode.
    """

    def __init__(
        self,
        *,
        base_url: str = LOCATIESERVER_URL,
        gemeentecode: str | None = None,
        cache_dir: str | Path | None = None,
        min_interval: float = 0.1,
        client: HttpClient | None = None,
        rows: int = ROWS,
    ) -> None:
        self._url = base_url.rstrip("/") + "/free"
        self._gemeente = None
        if gemeentecode is not None:
            code = normalise_gemeentecode(gemeentecode)
            if code is None:
                msg = "`gemeentecode` must be GM + four digits, such as GM0168"
                raise BuurtgroepenError(msg)
            self._gemeente = code
        self._client = client or HttpClient(
            service="PDOK Locatieserver",
            min_interval=min_interval,
            cache_dir=cache_dir,
        )
        self._rows = rows
        self.candidates = _documents_frame([])

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def geocode(self, registrations: pd.DataFrame) -> pd.DataFrame:
        """Match each registration to one Locatieserver address.

        Parameters
        ----------
        registrations
            As for :meth:`partition.geocode.RegisterGeocoder.geocode`.

        Returns
        -------
        geocoded
            The columns of :data:`partition.geocode.OUTPUT_COLUMNS`, on the
            index of `registrations`; ``address_index`` points into
            :attr:`candidates`.

        Raises
        ------
        BuurtgroepenError
            When a required column is missing.
        partition.sources._http.ServiceError
            When the Locatieserver keeps failing.
        """
        started = time.perf_counter()
        check_registrations(registrations)
        parts = _parts(registrations)

        # candidates by postcode and number, then by street for the rest
        docs, outside, found = self._by_postcode(parts)
        docs_street = self._by_street(registrations, parts, ~found)
        candidates = _candidates(pd.concat([docs, docs_street], ignore_index=True))
        self.candidates = candidates

        # the offline matcher's own log would count reasons before the remap
        with quiet(logging.getLogger(RegisterGeocoder.__module__)):
            result = RegisterGeocoder(candidates).geocode(registrations)
        result = _outside_reasons(result, parts, outside)
        _log_counts(result, time.perf_counter() - started, self._client)
        return result

    def _by_postcode(
        self, parts: pd.DataFrame
    ) -> tuple[pd.DataFrame, set[str], np.ndarray]:
        """Candidates of each distinct (postcode, huisnummer).

        Also returns the pairs found only outside the gemeente, and which rows
        got candidates.
        """
        pairs = parts.loc[parts["pair"].ne(""), ["pair", "postcode", "huisnummer"]]
        frames, outside, hits = [], set(), set()
        for pair, postcode, number in pairs.drop_duplicates("pair").itertuples(
            index=False
        ):
            query = f"postcode:{postcode} AND huisnummer:{int(number)}"
            docs = _documents_frame(self._query(query))
            docs = docs[docs["postcode"].eq(postcode) & docs["huisnummer"].eq(number)]
            inside = self._inside(docs)
            if len(docs) and not inside.any():
                outside.add(pair)
            if inside.any():
                hits.add(pair)
            frames.append(docs[inside])
        found = parts["pair"].isin(hits).to_numpy()
        return _concat_docs(frames), outside, found

    def _by_street(
        self, registrations: pd.DataFrame, parts: pd.DataFrame, rows: np.ndarray
    ) -> pd.DataFrame:
        """Free-text candidates for rows that name a street and woonplaats."""
        if not {"openbare_ruimte", "woonplaats"} <= set(registrations.columns):
            return _documents_frame([])
        street = registrations["openbare_ruimte"].astype("string").str.strip()
        place = registrations["woonplaats"].astype("string").str.strip()
        named = (street.fillna("").ne("") & place.fillna("").ne("")).to_numpy()
        wanted = rows & named & parts["number_ok"].to_numpy()

        queries = pd.DataFrame(
            {
                "street": street[wanted].to_numpy(),
                "number": parts.loc[wanted, "huisnummer"].to_numpy(),
                "place": place[wanted].to_numpy(),
            }
        ).drop_duplicates()
        frames = []
        for name, number, woonplaats in queries.itertuples(index=False):
            text = f"{_escape(name)} {int(number)} {_escape(woonplaats)}"
            docs = _documents_frame(self._query(text, rows=10, page=False))
            frames.append(docs[self._inside(docs)])
        return _concat_docs(frames)

    def _inside(self, docs: pd.DataFrame) -> np.ndarray:
        """Which documents lie in the configured gemeente (all without one)."""
        if self._gemeente is None:
            return np.ones(len(docs), dtype=bool)
        return docs["gemeentecode"].eq(self._gemeente).fillna(False).to_numpy()

    def _query(self, q: str, *, rows: int | None = None, page: bool = True) -> list:
        """The address documents of one query, paged with ``start``."""
        rows = rows or self._rows
        docs: list[dict] = []
        while len(docs) < MAX_DOCS:
            params = [
                ("q", q),
                ("fq", "type:adres"),
                ("fl", ",".join(FIELDS)),
                ("rows", rows),
                ("start", len(docs)),
            ]
            body = self._client.get_json(self._url, params, check=_check_answer)
            answer = body["response"]
            docs.extend(answer["docs"])
            if not page or not answer["docs"] or len(docs) >= answer["numFound"]:
                break
        return docs


# --- steps ----------------------------------------------------------------------


def _parts(registrations: pd.DataFrame) -> pd.DataFrame:
    """Normalised postcode and huisnummer per row, on positions 0..n-1.

    ``pair`` is ``"7581AB|12"`` for rows whose address parts are all valid,
    ``""`` otherwise; ``number_ok`` marks rows whose house-number parts are
    valid (the postcode may still be invalid, for the street query).
    """
    columns = [c for c in ADDRESS_FIELDS if c in registrations.columns]
    frame = registrations[columns].reset_index(drop=True)
    normalised, problems = normalise_address_columns(frame, strict=False)

    # house numbers of rows whose only problem is the postcode
    field_is_postcode = problems["field"].eq("postcode").to_numpy()
    other = set(problems["row"].to_numpy()[~field_is_postcode])
    only_postcode = set(problems["row"].to_numpy()[field_is_postcode]) - other
    retry = frame.iloc[sorted(only_postcode)]
    again, _ = normalise_address_columns(
        retry.assign(postcode=_PLACEHOLDER_POSTCODE), strict=False
    )
    parts = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    parts["postcode"] = normalised["postcode"].reindex(parts.index).fillna("")
    number = normalised["huisnummer"].combine_first(again["huisnummer"])
    parts["huisnummer"] = number.reindex(parts.index).fillna(0).astype("int64")
    parts["number_ok"] = parts["huisnummer"].gt(0)
    valid = parts.index.isin(normalised.index)
    parts["pair"] = np.where(
        valid, parts["postcode"] + "|" + parts["huisnummer"].astype(str), ""
    )
    return parts


def _check_answer(body: Any) -> str | None:
    """What is wrong with a Locatieserver answer, or ``None`` when it is whole."""
    answer = body.get("response") if isinstance(body, dict) else None
    if not isinstance(answer, dict) or not isinstance(answer.get("docs"), list):
        return "an answer without `response.docs`"
    if not isinstance(answer.get("numFound"), int):
        return "an answer without `response.numFound`"
    return None


def _documents_frame(docs: list[dict]) -> pd.DataFrame:
    """Address documents as rows with register column names."""
    frame = pd.DataFrame(docs, columns=list(FIELDS))
    frame = frame[frame["type"].eq("adres")] if len(frame) else frame
    xy = frame["centroide_rd"].astype("string").str.extract(_POINT)
    result = pd.DataFrame(
        {
            "postcode": frame["postcode"].astype("string").str.replace(" ", ""),
            "huisnummer": pd.to_numeric(frame["huisnummer"], errors="coerce"),
            "huisletter": frame["huisletter"].astype("string").fillna(""),
            "huisnummertoevoeging": frame["huisnummertoevoeging"]
            .astype("string")
            .fillna(""),
            "openbare_ruimte": frame["straatnaam"].astype("string"),
            "woonplaats": frame["woonplaatsnaam"].astype("string"),
            "nummeraanduiding_id": frame["nummeraanduiding_id"].astype("string"),
            "buurtcode": frame["buurtcode"].astype("string"),
            "wijkcode": frame["wijkcode"].astype("string"),
            "gemeentecode": frame["gemeentecode"].map(
                normalise_gemeentecode, na_action="ignore"
            ),
            "x": pd.to_numeric(xy[0], errors="coerce"),
            "y": pd.to_numeric(xy[1], errors="coerce"),
        }
    )
    return result.reset_index(drop=True)


def _concat_docs(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One frame of documents (empty with the right columns when none)."""
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else _documents_frame([])


def _candidates(docs: pd.DataFrame) -> pd.DataFrame:
    """The fetched addresses as a small register: valid, with a point, once each."""
    usable = docs["x"].notna() & docs["y"].notna() & docs["huisnummer"].notna()
    usable &= docs["postcode"].notna() & docs["openbare_ruimte"].notna()
    docs = docs[usable.to_numpy()].reset_index(drop=True)
    docs["huisnummer"] = docs["huisnummer"].astype("int64")
    normalised, problems = normalise_address_columns(docs, strict=False)
    if len(problems):
        logger.warning(
            "%d Locatieserver addresses do not follow the BAG rules and are left out",
            problems["row"].nunique(),
        )
    normalised = normalised.drop_duplicates("address_key").reset_index(drop=True)
    return normalised.fillna({"woonplaats": ""})


def _outside_reasons(
    result: pd.DataFrame, parts: pd.DataFrame, outside: set[str]
) -> pd.DataFrame:
    """Reasons without a register: outside the gemeente, or an unknown address."""
    reason = result["unmatched_reason"].to_numpy(dtype=object).copy()
    unmatched = result["match_quality"].eq(UNMATCHED).to_numpy()
    elsewhere = unmatched & parts["pair"].isin(outside).to_numpy()
    stray = unmatched & ~elsewhere & (reason == OUTSIDE_REGISTER)
    reason[elsewhere] = OUTSIDE_REGISTER
    reason[stray] = UNKNOWN_ADDRESS
    result = result.copy()
    result["unmatched_reason"] = pd.array(reason, dtype="str")
    return result


def _log_counts(result: pd.DataFrame, seconds: float, client: HttpClient) -> None:
    """One INFO line with the counts, one WARNING with the unmatched reasons."""
    quality = result["match_quality"].value_counts()
    unmatched = int(quality.get(UNMATCHED, 0))
    logger.info(
        "geocoded %d of %d registrations with the Locatieserver in %.2f s (%s; "
        "%d requests so far, %d from cache)",
        len(result) - unmatched,
        len(result),
        seconds,
        ", ".join(f"{q} {n}" for q, n in quality.items()),
        client.requests,
        client.cache_hits,
    )
    if unmatched:
        reasons = result.loc[result["match_quality"].eq(UNMATCHED), "unmatched_reason"]
        counts = ", ".join(f"{r} {n}" for r, n in reasons.value_counts().items())
        logger.warning(
            "%d registrations unmatched (%s); see `unmatched_reason` per "
            "registration_id",
            unmatched,
            counts,
        )


def _escape(text: str) -> str:
    """Text for a Solr query, its special characters escaped."""
    return _SOLR_SPECIAL.sub(r"\\\1", str(text))
