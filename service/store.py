"""Domain operations of the service: intake, rights of residents, groups, roles.

Four parts:

- the address book: the address register loaded once, and where an address
  is (:class:`AddressBook`);
- intake validation: a posted registration becomes an :class:`Intake` or a
  list of :class:`FieldError` with stable codes (:func:`validate_intake`);
- operations on the database, each inside the caller's transaction except
  :func:`register_resident`, which owns its transactions to retry a
  concurrent duplicate;
- the group plan: partitioning the stored registrations with
  :func:`partition.pipeline.run_partition` and storing groups, memberships
  and territories (:func:`plan_groups`, :func:`apply_plan`).

Nothing here logs or raises with a phone number, a name or a full address;
log lines carry ids, counts and group ids.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from sqlalchemy import Engine, Select, delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from partition import io
from partition.addresses import (
    Address,
    normalise_huisletter,
    normalise_postcode,
    normalise_toevoeging,
    parse_address,
    parse_huisnummer,
)
from partition.demo import make_demo_municipality
from partition.errors import AddressError, BuurtgroepenError
from partition.geocode import (
    AMBIGUOUS_TOEVOEGING,
    EXACT,
    OUTSIDE_REGISTER,
    UNMATCHED,
    RegisterGeocoder,
)
from partition.pipeline import run_partition
from partition.rebalance import RebalancePlan, rebalance, split_threshold
from partition.register import prepare_register
from partition.territories import assign_addresses
from service import db, texts
from service.config import Settings, prepare_data_dir
from service.crypto import Vault, hash_token, load_or_create_key, new_token
from service.models import (
    ACTIVE_STATUSES,
    ADD,
    ASSIGNED,
    BEHEERDER,
    END_ERASED,
    END_LEFT,
    END_REGROUPED,
    ERASED,
    GROUP_FULL,
    INIT,
    LEFT,
    NO_GROUP,
    PERSONAL_COLUMNS,
    QUEUED,
    REMOVE,
    ROLES,
    STEERING,
    AuditEntry,
    Beheerder,
    Group,
    GroupChange,
    Membership,
    RebalanceRecord,
    Registration,
    Task,
    Territory,
    User,
    utcnow,
)

logger = logging.getLogger(__name__)

RESIDENT = "resident"
SYSTEM = "system"
_AUDIT_DETAIL = re.compile(r"[a-z_]+=[A-Za-z0-9_.-]+(,[a-z_]+=[A-Za-z0-9_.-]+)*")
OPERATOR = "operator"
REMOVE_MEMBER = "remove_member"
VOORNAAM_MAX_LENGTH = 40
TEXT_FIELD_MAX_LENGTH = 64
INTAKE_FIELDS = (
    "postcode",
    "huisnummer",
    "huisletter",
    "huisnummertoevoeging",
    "telefoon",
    "voornaam",
    "consent",
    "privacy_version",
)
_CONSENT_TEXTS = frozenset({"on", "true", "1", "ja", "yes"})
_NAME_PUNCTUATION = frozenset(" .'-\u2019")
_GEOCODER_REASON_CODES = {
    OUTSIDE_REGISTER: "address_outside",
    AMBIGUOUS_TOEVOEGING: "address_ambiguous",
}


class StoreError(BuurtgroepenError):
    """An operation the stored state does not allow (unknown group, bad role)."""


# --- address book -----------------------------------------------------------------


@dataclass(frozen=True)
class Located:
    """Where a registered address is, from the address register."""

    address_key: str
    nummeraanduiding_id: str | None
    x: float
    y: float
    pc4: str
    woonplaats: str
    buurtcode: str | None
    match_quality: str


class AddressBook:
    """The address register of the municipality, loaded once per process.

    Parameters
    ----------
    register
        The register as :func:`partition.register.prepare_register` returns it
        (``address_key``, address fields, ``woonplaats``, ``x``/``y`` in
        EPSG:28992 metres, optional ``buurtcode`` and ``nummeraanduiding_id``).
    source
        Label of the register for logs (``"demo"`` or a file name).
    buurten
        Buurt polygons (``buurtcode``, EPSG:28992) for the partition run, or None.

    Notes
    -----
    An exact address key is looked up in a dictionary (microseconds); only the
    rest goes through :class:`partition.geocode.RegisterGeocoder`, which finds
    an address given without its only toevoeging and says why the others fail.
    The geocoder is called under a lock, so one instance serves all threads.
    """

    def __init__(
        self,
        register: gpd.GeoDataFrame,
        *,
        source: str,
        buurten: gpd.GeoDataFrame | None = None,
    ) -> None:
        self.register = register
        self.source = source
        self.buurten = buurten
        self._position = {key: i for i, key in enumerate(register["address_key"])}
        self._geocoder = RegisterGeocoder(register)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.register)

    def locate(self, address: Address) -> Located | str:
        """The register entry of an address, or an error code of the address.

        Returns
        -------
        located
            The :class:`Located` address, or ``"address_outside"`` (its PC4 is
            not in the register), ``"address_ambiguous"`` (several addresses
            fit what was given) or ``"address_unknown"``.
        """
        position = self._position.get(address.key)
        if position is not None:
            return self._located(position, EXACT)

        frame = pd.DataFrame(
            {
                "registration_id": ["intake"],
                "postcode": [address.postcode],
                "huisnummer": [address.huisnummer],
                "huisletter": [address.huisletter],
                "huisnummertoevoeging": [address.huisnummertoevoeging],
            }
        )
        with self._lock:
            result = self._geocoder.geocode(frame).iloc[0]
        if result["match_quality"] == UNMATCHED:
            reason = str(result["unmatched_reason"])
            return _GEOCODER_REASON_CODES.get(reason, "address_unknown")
        return self._located(int(result["address_index"]), str(result["match_quality"]))

    def _located(self, position: int, quality: str) -> Located:
        """The :class:`Located` of a register row."""
        row = self.register.iloc[position]
        return Located(
            address_key=str(row["address_key"]),
            nummeraanduiding_id=_text_or_none(row.get("nummeraanduiding_id")),
            x=float(row["x"]),
            y=float(row["y"]),
            pc4=str(row["postcode"])[:4],
            woonplaats=str(row["woonplaats"]),
            buurtcode=_text_or_none(row.get("buurtcode")),
            match_quality=quality,
        )


@functools.lru_cache(maxsize=4)
def load_address_book(path: Path | None, boundaries: Path | None = None) -> AddressBook:
    """Load the address register once per process: a file, or the demo (seed 0).

    Parameters
    ----------
    path
        The address register file; None for the generated demo municipality.
    boundaries
        Buurt polygons; None takes the demo's own buurten for the demo register
        and none for a file.

    Raises
    ------
    InputFileError
        For a file that does not meet the data contract.
    """
    started = time.perf_counter()
    buurten = io.read_boundaries(boundaries).get("buurt") if boundaries else None
    if path is None:
        municipality = make_demo_municipality(seed=0)
        register = prepare_register(municipality.addresses, source="demo")
        source = "demo"
        buurten = municipality.buurten if buurten is None else buurten
    else:
        register = io.read_addresses(path)
        source = path.name
    book = AddressBook(register, source=source, buurten=buurten)
    logger.info(
        "address register %s loaded: %d addresses%s in %.2f s",
        source,
        len(book),
        f", {len(buurten)} buurten" if buurten is not None else "",
        time.perf_counter() - started,
    )
    return book


def _text_or_none(value: object) -> str | None:
    """A register text value, None when missing."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


# --- services ----------------------------------------------------------------------


@dataclass
class Services:
    """Everything a request or a command needs: settings, database, keys, register."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    vault: Vault
    _book: AddressBook | None = field(default=None, repr=False)

    @property
    def book(self) -> AddressBook:
        """The address register, loaded on first use (and cached per process)."""
        if self._book is None:
            self._book = load_address_book(
                self.settings.addresses, self.settings.boundaries
            )
        return self._book

    def close(self) -> None:
        """Close the database connections."""
        self.engine.dispose()


def open_services(settings: Settings) -> Services:
    """Prepare the data directory and the key, connect and migrate the database.

    A write-ahead log an earlier run could not truncate (see
    :func:`service.db.checkpoint`) is folded now.

    Raises
    ------
    SettingsError
        For an unusable data directory or key file.
    """
    prepare_data_dir(settings)
    vault = Vault(load_or_create_key(settings))
    _create_private_sqlite_file(settings)
    engine = db.make_engine(settings.database_url)
    db.migrate(engine)
    db.checkpoint(engine)
    return Services(settings, engine, db.make_sessionmaker(engine), vault)


def _create_private_sqlite_file(settings: Settings) -> None:
    """Create a missing SQLite file with mode 0600 (SQLite copies it to -wal)."""
    if not settings.is_sqlite:
        return
    database = db.make_url(settings.database_url).database
    if not database or database == ":memory:":
        return
    path = Path(database)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(mode=0o600)


# --- intake validation ---------------------------------------------------------------


@dataclass(frozen=True)
class FieldError:
    """One reason a field was refused: the field, a stable code, Dutch text."""

    field: str
    code: str

    @property
    def message(self) -> str:
        """The Dutch message for the resident."""
        return texts.error_message(self.code)

    def as_dict(self) -> dict[str, str]:
        """The JSON form used in every 422 response."""
        return {"field": self.field, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class Intake:
    """A valid registration, ready to store."""

    located: Located
    e164: str
    voornaam: str | None
    privacy_version: str


def validate_intake(
    data: Mapping[str, object], settings: Settings, book: AddressBook
) -> Intake | list[FieldError]:
    """Check a posted registration field by field.

    Parameters
    ----------
    data
        The posted fields (JSON object or form), see :data:`INTAKE_FIELDS`;
        other keys are ignored and never stored.
    settings
        For the privacy version and whether German mobiles are allowed.
    book
        The address register to locate the address in.

    Returns
    -------
    intake
        The checked registration, or every field error found (the address is
        looked up only when its fields are valid).
    """
    errors: list[FieldError] = []
    values = {name: data.get(name) for name in INTAKE_FIELDS}
    for name in INTAKE_FIELDS:
        if name == "consent":
            continue
        if not _is_text(values[name], allow_int=name == "huisnummer"):
            errors.append(FieldError(name, "field_type"))
            values[name] = None

    address = _check_address(values, errors)
    e164 = _check_phone(values["telefoon"], settings, errors)
    voornaam = _check_voornaam(values["voornaam"], errors)
    _check_consent(values["consent"], values["privacy_version"], settings, errors)

    located: Located | None = None
    if address is not None:
        found = book.locate(address)
        if isinstance(found, str):
            errors.append(
                FieldError(
                    "huisnummer" if found == "address_ambiguous" else "postcode", found
                )
            )
        else:
            located = found
    if errors or located is None or e164 is None:
        order = {name: i for i, name in enumerate(("body", *INTAKE_FIELDS))}
        return sorted(errors, key=lambda error: order.get(error.field, len(order)))
    return Intake(located, e164, voornaam, settings.privacy_version)


def _is_text(value: object, *, allow_int: bool = False) -> bool:
    """Whether a posted value is absent, a short text, or (if allowed) an int."""
    if value is None:
        return True
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, str) and len(value) <= TEXT_FIELD_MAX_LENGTH


def _blank(value: object) -> bool:
    """Whether a value is missing or only white space."""
    return value is None or (isinstance(value, str) and not value.strip())


def _check_address(
    values: dict[str, object], errors: list[FieldError]
) -> Address | None:
    """Normalise the four address fields with the BAG rules of partition."""
    before = len(errors)
    if errors and any(e.field in ("postcode", "huisnummer") for e in errors):
        return None
    postcode, number = values["postcode"], values["huisnummer"]
    letter, addition = values["huisletter"], values["huisnummertoevoeging"]
    if _blank(postcode):
        errors.append(FieldError("postcode", "postcode_missing"))
    else:
        _collect(errors, "postcode", "postcode_invalid", normalise_postcode, postcode)
    if _blank(number):
        errors.append(FieldError("huisnummer", "huisnummer_missing"))
    else:
        _collect(errors, "huisnummer", "huisnummer_invalid", parse_huisnummer, number)
    _collect(errors, "huisletter", "huisletter_invalid", normalise_huisletter, letter)
    _collect(
        errors,
        "huisnummertoevoeging",
        "toevoeging_invalid",
        normalise_toevoeging,
        addition,
    )
    if len(errors) > before:
        return None

    # each part is valid alone; what is left are two places that disagree
    try:
        return parse_address(postcode, number, letter, addition)
    except AddressError as error:
        conflict = {"huisletter": "huisletter_conflict"}
        errors.append(
            FieldError(error.field, conflict.get(error.field, "toevoeging_conflict"))
        )
        return None


def _collect(
    errors: list[FieldError],
    name: str,
    code: str,
    check: Callable[[object], object],
    value: object,
) -> None:
    """Run one partition normaliser; record its failure under the right field."""
    try:
        check(value)
    except AddressError as error:
        if error.field == "huisnummertoevoeging":
            errors.append(FieldError("huisnummertoevoeging", "toevoeging_invalid"))
        else:
            errors.append(FieldError(name, code))


def _check_phone(
    value: object, settings: Settings, errors: list[FieldError]
) -> str | None:
    """A mobile number in E.164: Dutch, or German when the setting allows it."""
    if any(e.field == "telefoon" for e in errors):
        return None
    if _blank(value):
        errors.append(FieldError("telefoon", "telefoon_missing"))
        return None
    try:
        number = phonenumbers.parse(str(value), "NL")
    except NumberParseException:
        errors.append(FieldError("telefoon", "telefoon_invalid"))
        return None
    if not phonenumbers.is_valid_number(number):
        errors.append(FieldError("telefoon", "telefoon_invalid"))
        return None

    region = phonenumbers.region_code_for_number(number)
    allowed = {"NL", "DE"} if settings.allow_foreign_mobile else {"NL"}
    if region not in allowed:
        foreign = "telefoon_foreign_de" if settings.allow_foreign_mobile else ""
        errors.append(FieldError("telefoon", foreign or "telefoon_foreign"))
        return None
    if phonenumbers.number_type(number) != PhoneNumberType.MOBILE:
        errors.append(FieldError("telefoon", "telefoon_not_mobile"))
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _check_voornaam(value: object, errors: list[FieldError]) -> str | None:
    """An optional first name: letters with spaces, dots, apostrophes, hyphens."""
    if any(e.field == "voornaam" for e in errors) or _blank(value):
        return None
    name = unicodedata.normalize("NFC", " ".join(str(value).split()))
    if len(name) > VOORNAAM_MAX_LENGTH:
        errors.append(FieldError("voornaam", "voornaam_too_long"))
        return None
    letters = [char.isalpha() for char in name]
    if not any(letters) or not all(
        ok or char in _NAME_PUNCTUATION for ok, char in zip(letters, name, strict=True)
    ):
        errors.append(FieldError("voornaam", "voornaam_invalid"))
        return None
    return name


def _check_consent(
    consent: object,
    version: object,
    settings: Settings,
    errors: list[FieldError],
) -> None:
    """Consent must be given to the privacy statement version now in force."""
    given = consent is True or (
        isinstance(consent, str) and consent.strip().lower() in _CONSENT_TEXTS
    )
    if not given:
        errors.append(FieldError("consent", "consent_missing"))
    if any(e.field == "privacy_version" for e in errors):
        return
    if _blank(version):
        errors.append(FieldError("privacy_version", "privacy_version_missing"))
    elif str(version).strip() != settings.privacy_version:
        errors.append(FieldError("privacy_version", "privacy_version_outdated"))


# --- registrations -------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """The result of a registration: new (with its token) or the existing one."""

    registration_id: str
    status: str
    group_id: str | None
    created: bool
    token: str | None
    rejoined: bool = False


def register_resident(services: Services, intake: Intake) -> Outcome:
    """Store a registration, or return the existing one for the same number+address.

    A duplicate is detected by the keyed hash of the number and the address
    key; two concurrent identical posts meet at the unique index, and the
    loser reads the winner's row. A duplicate of a registration that left
    rejoins it. The new self-service token is returned once and stored hashed.
    """
    phone_hmac = services.vault.phone_hash(intake.e164)
    try:
        return _store_once(services, intake, phone_hmac)
    except IntegrityError:
        # a concurrent post of the same registration won the unique index
        logger.info("concurrent duplicate registration; reading the stored one")
    return _store_once(services, intake, phone_hmac)


def _store_once(services: Services, intake: Intake, phone_hmac: str) -> Outcome:
    """One transaction: return the stored duplicate, or insert a new registration."""
    with services.sessions() as session, session.begin():
        existing = session.scalars(
            select(Registration).where(
                Registration.phone_hmac == phone_hmac,
                Registration.address_key == intake.located.address_key,
            )
        ).first()
        if existing is not None:
            return _duplicate(session, services, existing, intake)
        return _create(session, services, intake, phone_hmac)


def _create(
    session: Session, services: Services, intake: Intake, phone_hmac: str
) -> Outcome:
    """Insert a new registration and place it in its group or the queue."""
    now = utcnow()
    token = new_token()
    vault = services.vault
    located = intake.located
    registration = Registration(
        id=uuid.uuid4().hex,
        created_at=now,
        status=QUEUED,
        phone_encrypted=vault.encrypt(intake.e164),
        phone_hmac=phone_hmac,
        voornaam_encrypted=vault.encrypt(intake.voornaam) if intake.voornaam else None,
        address_key=located.address_key,
        nummeraanduiding_id=located.nummeraanduiding_id,
        x=located.x,
        y=located.y,
        token_hash=hash_token(token),
        match_quality=located.match_quality,
        pc4=located.pc4,
        woonplaats=located.woonplaats,
        buurtcode=located.buurtcode,
        consent_at=now,
        privacy_version=intake.privacy_version,
    )
    session.add(registration)
    session.flush()

    group_id = _place(session, registration, services.settings.max_group_size, now)
    audit(
        session,
        RESIDENT,
        "registration.create",
        "registration",
        registration.id,
        f"status={registration.status}",
    )
    logger.info(
        "registration %s stored: %s%s",
        registration.id,
        registration.status,
        f" in group {group_id}" if group_id else f" ({registration.queue_reason})",
    )
    return Outcome(registration.id, registration.status, group_id, True, token)


def _duplicate(
    session: Session, services: Services, existing: Registration, intake: Intake
) -> Outcome:
    """The stored registration for a repeated post; a resident who left rejoins.

    Rejoining is a new consent: its time, the privacy statement's version and
    the first name are taken from this post. A post for a registration that is
    still active changes nothing.
    """
    rejoined = existing.status == LEFT
    if rejoined:
        now = utcnow()
        existing.left_at = None
        existing.consent_at = now
        existing.privacy_version = intake.privacy_version
        existing.voornaam_encrypted = (
            services.vault.encrypt(intake.voornaam) if intake.voornaam else None
        )
        _place(session, existing, services.settings.max_group_size, now)
        audit(
            session,
            RESIDENT,
            "registration.rejoin",
            "registration",
            existing.id,
            f"status={existing.status}",
        )
    membership = open_membership(session, existing.id)
    logger.info(
        "registration %s posted again: %s",
        existing.id,
        f"rejoined, {existing.status}" if rejoined else "unchanged",
    )
    return Outcome(
        existing.id,
        existing.status,
        membership.group_id if membership else None,
        False,
        None,
        rejoined,
    )


def _place(
    session: Session, registration: Registration, cap: int, now: datetime
) -> str | None:
    """Put a registration in the group whose territory holds its address.

    The group row is locked (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
    transactions are serialised anyway), so two intakes never both take the
    last place or the same member number. A full group or an address without
    a territory queues the registration. A placed registration gets an "add"
    in its group's change list, as a rebalance's newcomers do, so the
    beheerder is told whom to add and a rebalance knows who is not added yet.
    """
    group_id = session.scalar(
        select(Territory.group_id).where(
            Territory.address_key == registration.address_key
        )
    )
    group = session.get(Group, group_id, with_for_update=True) if group_id else None
    if group is None or not group.active:
        registration.status, registration.queue_reason = QUEUED, NO_GROUP
        return None
    if group_size(session, group.id) >= cap:
        registration.status, registration.queue_reason = QUEUED, GROUP_FULL
        return None

    number = _start_membership(session, group, registration, now)
    session.add(
        GroupChange(
            plan_id=None,
            group_id=group.id,
            action=ADD,
            reason="join",
            registration_id=registration.id,
            member_number=number,
            created_at=now,
        )
    )
    return group.id


def group_size(session: Session, group_id: str) -> int:
    """Number of open memberships of a group."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.group_id == group_id, Membership.ended_at.is_(None))
        )
        or 0
    )


def was_member(session: Session, registration_id: str) -> bool:
    """Whether a registration was ever in a group (so a beheerder has its number)."""
    found = session.scalar(
        select(Membership.id)
        .where(Membership.registration_id == registration_id)
        .limit(1)
    )
    return found is not None


def open_membership(session: Session, registration_id: str) -> Membership | None:
    """The current membership of a registration, if it is in a group."""
    return session.scalars(
        select(Membership).where(
            Membership.registration_id == registration_id,
            Membership.ended_at.is_(None),
        )
    ).first()


def find_by_token(session: Session, token: str) -> Registration | None:
    """The registration of a self-service token (never an erased one)."""
    if not token:
        return None
    return session.scalars(
        select(Registration).where(
            Registration.token_hash == hash_token(token),
            Registration.status != ERASED,
        )
    ).first()


def find_by_number_and_address(
    session: Session, vault: Vault, telefoon: str, address: Address
) -> Registration | None:
    """The registration of a number at an address, for a resident without token.

    The operator's way in (``buurtgroepen registrations``) when a resident who
    lost their self-service token asks for access, erasure or a new token; the
    operator checks first that the request comes from that number. Erased
    registrations hold no number any more and are not found.

    Raises
    ------
    StoreError
        When ``telefoon`` is not a phone number.
    """
    try:
        number = phonenumbers.parse(telefoon, "NL")
    except NumberParseException as error:
        msg = f"`--telefoon` {telefoon!r} is not a phone number; give e.g. 0612345678."
        raise StoreError(msg) from error
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return session.scalars(
        select(Registration).where(
            Registration.phone_hmac == vault.phone_hash(e164),
            Registration.address_key == address.key,
        )
    ).first()


def reissue_token(session: Session, registration: Registration, actor: str) -> str:
    """Give a registration a new self-service token; the old one stops working.

    Returns the token, to be handed to the resident once (it is stored hashed).
    """
    if registration.status == ERASED:
        msg = f"registration {registration.id} is erased; it has no token."
        raise StoreError(msg)
    token = new_token()
    registration.token_hash = hash_token(token)
    audit(session, actor, "registration.token", "registration", registration.id)
    return token


def describe_registration(
    session: Session, vault: Vault, registration: Registration, actor: str = RESIDENT
) -> dict[str, object]:
    """Everything held about a resident, for the right of access (AVG art. 15).

    Includes the decrypted number and name, the address and its point, the
    consent, every membership, when the member list of their group was read by
    a beheerder while they were in it, the beheerders' changes and tasks about
    them, the audit log's entries about the registration and the rebalance
    plans that name it. Writes the read to the audit log, as done by ``actor``.
    """
    memberships = session.scalars(
        select(Membership)
        .where(Membership.registration_id == registration.id)
        .order_by(Membership.started_at)
    ).all()
    current = next((m for m in memberships if m.ended_at is None), None)
    audit(session, actor, "registration.read", "registration", registration.id)
    return {
        "registration_id": registration.id,
        "status": registration.status,
        "queue_reason": registration.queue_reason,
        "group_id": current.group_id if current else None,
        "created_at": _iso(registration.created_at),
        "telefoon": _decrypt(vault, registration.phone_encrypted),
        "voornaam": _decrypt(vault, registration.voornaam_encrypted),
        "address": _address_of(registration),
        "consent": {
            "given_at": _iso(registration.consent_at),
            "privacy_version": registration.privacy_version,
        },
        "left_at": _iso(registration.left_at),
        "memberships": [_membership_dict(m) for m in memberships],
        "member_list_reads": _reads_during(session, memberships),
        "changes": _changes_of(session, registration.id),
        "tasks": _tasks_of(session, memberships),
        "events": _events_of(session, registration.id),
        "rebalance_plans": _plans_naming(session, registration.id),
        "recipients": (
            "De beheerder(s) van uw groep zien uw voornaam en mobiele nummer en "
            "zetten u in de WhatsApp-groep; de leden van die groep zien uw "
            "nummer in WhatsApp. De stuurgroep ziet aantallen, en in de plannen "
            "voor het herindelen van de groepen uw registratienummer, zonder "
            "naam, adres of telefoonnummer."
        ),
    }


def _changes_of(session: Session, registration_id: str) -> list[dict[str, object]]:
    """The beheerders' change-list rows about a resident (add or remove)."""
    rows = session.scalars(
        select(GroupChange)
        .where(GroupChange.registration_id == registration_id)
        .order_by(GroupChange.created_at, GroupChange.id)
    )
    return [
        {
            "group_id": row.group_id,
            "action": row.action,
            "reason": row.reason,
            "other_group_id": row.other_group_id,
            "created_at": _iso(row.created_at),
            "done_at": _iso(row.done_at),
        }
        for row in rows
    ]


def _tasks_of(
    session: Session, memberships: Iterable[Membership]
) -> list[dict[str, object]]:
    """The beheerders' tasks about a resident (by group and member number)."""
    tasks: list[dict[str, object]] = []
    for membership in memberships:
        rows = session.scalars(
            select(Task)
            .where(
                Task.group_id == membership.group_id,
                Task.member_number == membership.member_number,
            )
            .order_by(Task.created_at, Task.id)
        )
        tasks.extend(
            {
                "group_id": row.group_id,
                "kind": row.kind,
                "reason": row.reason,
                "created_at": _iso(row.created_at),
                "done_at": _iso(row.done_at),
            }
            for row in rows
        )
    return tasks


def _events_of(session: Session, registration_id: str) -> list[dict[str, object]]:
    """The audit log's entries about a registration, with the role of who acted."""
    entries = session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.object_type == "registration",
            AuditEntry.object_id == registration_id,
        )
        .order_by(AuditEntry.at, AuditEntry.id)
    ).all()
    users = {
        int(entry.actor.removeprefix("user:"))
        for entry in entries
        if entry.actor.startswith("user:")
    }
    rows = session.execute(select(User.id, User.role).where(User.id.in_(users)))
    roles = {int(user_id): role for user_id, role in rows}
    return [
        {
            "at": _iso(entry.at),
            "action": entry.action,
            "by": roles.get(int(entry.actor.removeprefix("user:")), "user")
            if entry.actor.startswith("user:")
            else entry.actor,
        }
        for entry in entries
    ]


def _plans_naming(session: Session, registration_id: str) -> list[dict[str, object]]:
    """The stored rebalance plans (applied or not) that name a registration."""
    plans = session.scalars(
        select(RebalanceRecord)
        .where(RebalanceRecord.document.contains(registration_id))
        .order_by(RebalanceRecord.created_at)
    )
    return [
        {
            "plan_id": plan.id,
            "created_at": _iso(plan.created_at),
            "applied_at": _iso(plan.applied_at),
        }
        for plan in plans
    ]


def _address_of(registration: Registration) -> dict[str, object] | None:
    """The stored address fields and point of a registration."""
    if registration.address_key is None:
        return None
    postcode, number, letter, addition = registration.address_key.split("|")
    return {
        "postcode": postcode,
        "huisnummer": int(number),
        "huisletter": letter,
        "huisnummertoevoeging": addition,
        "nummeraanduiding_id": registration.nummeraanduiding_id,
        "woonplaats": registration.woonplaats,
        "buurtcode": registration.buurtcode,
        "x": registration.x,
        "y": registration.y,
        "crs": "EPSG:28992",
        "match_quality": registration.match_quality,
    }


def _membership_dict(membership: Membership) -> dict[str, object]:
    """One membership for the resident's access request."""
    return {
        "group_id": membership.group_id,
        "member_number": membership.member_number,
        "started_at": _iso(membership.started_at),
        "ended_at": _iso(membership.ended_at),
        "end_reason": membership.end_reason,
    }


def _reads_during(
    session: Session, memberships: Iterable[Membership]
) -> list[dict[str, object]]:
    """Reads of a group's member list while the resident was a member."""
    reads: list[dict[str, object]] = []
    for membership in memberships:
        query = select(AuditEntry).where(
            AuditEntry.object_type == "group",
            AuditEntry.object_id == membership.group_id,
            AuditEntry.action.in_(("members.read", "members.vcard")),
            AuditEntry.at >= membership.started_at,
        )
        if membership.ended_at is not None:
            query = query.where(AuditEntry.at <= membership.ended_at)
        for entry in session.scalars(query.order_by(AuditEntry.at)):
            reads.append(
                {"at": _iso(entry.at), "action": entry.action, "by": "beheerder"}
            )
    return reads


def leave(session: Session, registration: Registration, actor: str) -> bool:
    """End a registration's membership; the data is kept until ``purge``.

    Returns
    -------
    changed
        False when the registration had already left or was erased.
    """
    if registration.status in (LEFT, ERASED):
        return False
    now = utcnow()
    _end_membership(session, registration, END_LEFT, now)
    registration.status, registration.queue_reason = LEFT, None
    registration.left_at = now
    audit(session, actor, "registration.leave", "registration", registration.id)
    logger.info("registration %s left", registration.id)
    return True


def erase(session: Session, registration: Registration, actor: str) -> bool:
    """Erase a registration's personal data at once (AVG art. 17).

    Nulls every column of :data:`service.models.PERSONAL_COLUMNS` (number,
    keyed hash, name, exact address, point, token), ends the membership and
    leaves the beheerder a task that names the member by number only. Kept:
    the id, status, PC4, woonplaats, buurtcode, match quality, the dates and
    the privacy version consented to: anonymised counts.

    Returns
    -------
    changed
        False when the registration was already erased.
    """
    if registration.status == ERASED:
        return False
    now = utcnow()
    _end_membership(session, registration, END_ERASED, now)
    for column in PERSONAL_COLUMNS:
        setattr(registration, column, None)
    registration.status, registration.queue_reason = ERASED, None
    registration.erased_at = now
    audit(session, actor, "registration.erase", "registration", registration.id)
    logger.info("registration %s erased", registration.id)
    return True


def _end_membership(
    session: Session, registration: Registration, reason: str, now: datetime
) -> None:
    """Close the open membership, if any, and task the beheerder with the removal."""
    membership = open_membership(session, registration.id)
    if membership is None:
        return
    membership.ended_at, membership.end_reason = now, reason
    _removal_task(session, membership.group_id, membership.member_number, reason, now)


def _removal_task(
    session: Session, group_id: str, member_number: int, reason: str, now: datetime
) -> None:
    """A task for the group's beheerder to remove a member from WhatsApp."""
    session.add(
        Task(
            group_id=group_id,
            kind=REMOVE_MEMBER,
            member_number=member_number,
            reason=reason,
            created_at=now,
        )
    )


def purge(session: Session, days: int) -> dict[str, int]:
    """Erase residents who left more than ``days`` days ago; drop old done tasks.

    Idempotent, so safe to run daily: a second run finds nothing left to do.

    Returns
    -------
    counts
        ``erased`` registrations and deleted ``tasks``.
    """
    cutoff = utcnow() - timedelta(days=days)
    gone = session.scalars(
        select(Registration).where(
            Registration.status == LEFT, Registration.left_at < cutoff
        )
    ).all()
    erased = sum(erase(session, registration, SYSTEM) for registration in gone)
    tasks = session.execute(
        delete(Task).where(Task.done_at.is_not(None), Task.done_at < cutoff)
    ).rowcount
    counts = {"erased": erased, "tasks": int(tasks or 0)}
    audit(
        session,
        SYSTEM,
        "purge",
        "registrations",
        f"older_than={days}d",
        f"erased={counts['erased']},tasks={counts['tasks']}",
    )
    logger.info(
        "purge: erased %d registrations that left over %d days ago, deleted %d "
        "done tasks",
        counts["erased"],
        days,
        counts["tasks"],
    )
    return counts


# --- groups, members, tasks ---------------------------------------------------------


def group_exists(session: Session, group_id: str) -> bool:
    """Whether a group of that id exists (active or not)."""
    return session.get(Group, group_id) is not None


def group_members(
    session: Session, vault: Vault, group_id: str
) -> list[dict[str, object]]:
    """The current members of a group with number and name, by member number."""
    rows = session.execute(
        select(Membership, Registration)
        .join(Registration, Registration.id == Membership.registration_id)
        .where(Membership.group_id == group_id, Membership.ended_at.is_(None))
        .order_by(Membership.member_number)
    ).all()
    return [
        {
            "member_number": membership.member_number,
            "label": texts.member_label(group_id, membership.member_number),
            "voornaam": _decrypt(vault, registration.voornaam_encrypted),
            "telefoon": _decrypt(vault, registration.phone_encrypted),
            "woonplaats": registration.woonplaats,
            "since": _iso(membership.started_at),
        }
        for membership, registration in rows
    ]


def group_overview(
    session: Session,
    group_ids: Iterable[str] | None = None,
    *,
    max_size: int,
) -> list[dict[str, object]]:
    """Sizes and coverage per active group, for the steering group: no person.

    ``coverage`` is the share of the addresses in the group's territory with at
    least one member. ``handed_on`` counts the members the group handed on to
    a neighbour since it was made or last split; with ``splits_next`` it has
    handed on enough (:func:`partition.rebalance.split_threshold`) to hand on
    no more existing members: at its next overflow that a newcomer on its edge
    cannot take next door, it splits, and will need a second beheerder.
    """
    threshold = split_threshold(max_size)
    query = select(Group).where(Group.active.is_(True)).order_by(Group.id)
    if group_ids is not None:
        query = query.where(Group.id.in_(list(group_ids)))
    groups = session.scalars(query).all()

    open_members = Membership.ended_at.is_(None)
    sizes = _counts(
        session,
        select(Membership.group_id, func.count())
        .where(open_members)
        .group_by(Membership.group_id),
    )
    addresses = _counts(
        session, select(Territory.group_id, func.count()).group_by(Territory.group_id)
    )
    registered = _counts(
        session,
        select(Membership.group_id, func.count(func.distinct(Registration.address_key)))
        .join(Registration, Registration.id == Membership.registration_id)
        .where(open_members)
        .group_by(Membership.group_id),
    )
    tasks = _counts(
        session,
        select(Task.group_id, func.count())
        .where(Task.done_at.is_(None))
        .group_by(Task.group_id),
    )
    return [
        {
            "group_id": group.id,
            "woonplaats": group.woonplaats,
            "size": sizes.get(group.id, 0),
            "territory_addresses": addresses.get(group.id, 0),
            "registered_addresses": registered.get(group.id, 0),
            "coverage": round(registered.get(group.id, 0) / addresses[group.id], 4)
            if addresses.get(group.id)
            else None,
            "open_tasks": tasks.get(group.id, 0),
            "handed_on": group.handed_on,
            "splits_next": group.handed_on >= threshold,
        }
        for group in groups
    ]


def _counts(session: Session, query: object) -> dict[str, int]:
    """A ``(key, count)`` query as a dictionary."""
    rows = session.execute(query)  # type: ignore[call-overload]
    return {str(key): int(count) for key, count in rows}


def stats(session: Session) -> dict[str, int]:
    """Counts for the steering group: registrations by status, groups, tasks.

    ``registrations`` counts every registration received, erased ones included
    (they stay as anonymous stubs); ``geocoded`` those placed on an address.
    """
    by_status = _counts(
        session,
        select(Registration.status, func.count()).group_by(Registration.status),
    )
    geocoded = session.scalar(
        select(func.count())
        .select_from(Registration)
        .where(Registration.match_quality != UNMATCHED)
    )
    groups = session.scalar(
        select(func.count()).select_from(Group).where(Group.active.is_(True))
    )
    tasks_open = session.scalar(
        select(func.count()).select_from(Task).where(Task.done_at.is_(None))
    )
    return {
        "registrations": sum(by_status.values()),
        "geocoded": int(geocoded or 0),
        "assigned": by_status.get(ASSIGNED, 0),
        "queued": by_status.get(QUEUED, 0),
        "left": by_status.get(LEFT, 0),
        "erased": by_status.get(ERASED, 0),
        "groups": int(groups or 0),
        "tasks_open": int(tasks_open or 0),
    }


def group_tasks(
    session: Session, group_id: str, *, include_done: bool = False
) -> list[dict[str, object]]:
    """The tasks of a group, open ones first, oldest first."""
    query = select(Task).where(Task.group_id == group_id)
    if not include_done:
        query = query.where(Task.done_at.is_(None))
    tasks = session.scalars(query.order_by(Task.done_at.is_not(None), Task.id)).all()
    return [task_dict(task) for task in tasks]


def task_dict(task: Task) -> dict[str, object]:
    """A task as JSON, with its Dutch instruction."""
    return {
        "task_id": task.id,
        "group_id": task.group_id,
        "kind": task.kind,
        "member_number": task.member_number,
        "reason": task.reason,
        "text": texts.removal_task_text(task.group_id, task.member_number),
        "created_at": _iso(task.created_at),
        "done_at": _iso(task.done_at),
    }


def complete_task(
    session: Session, group_id: str, task_id: int, user_id: int
) -> dict[str, object] | None:
    """Mark a task of a group done; None when the group has no such task."""
    task = session.get(Task, task_id)
    if task is None or task.group_id != group_id:
        return None
    if task.done_at is None:
        task.done_at, task.done_by = utcnow(), user_id
        audit(session, f"user:{user_id}", "task.done", "task", str(task.id))
    return task_dict(task)


# --- users and tokens ---------------------------------------------------------------


@dataclass(frozen=True)
class UserPrincipal:
    """An authenticated steering or beheerder user."""

    user_id: int
    role: str
    group_ids: frozenset[str]

    @property
    def actor(self) -> str:
        """How this user appears in the audit log."""
        return f"user:{self.user_id}"


def add_user(
    session: Session, role: str, group_id: str | None, name: str | None
) -> tuple[int, str]:
    """Create a user and return its id and its token (shown once, stored hashed).

    Raises
    ------
    StoreError
        For an unknown role, a beheerder without an existing group, or a
        steering user given a group.
    """
    if role not in ROLES:
        msg = f"`--role` must be one of {', '.join(ROLES)}; got another value."
        raise StoreError(msg)
    if role == BEHEERDER and not group_id:
        raise StoreError("`--group` is required for a beheerder; give the group id.")
    if role == STEERING and group_id:
        msg = "`--group` is only for beheerders; a steering user sees all groups."
        raise StoreError(msg)
    if group_id and not group_exists(session, group_id):
        known = session.scalars(select(Group.id).order_by(Group.id)).all()
        hint = f" (known: {', '.join(known[:10])}{'...' if len(known) > 10 else ''})"
        msg = (
            f"group `{group_id}` does not exist{hint if known else ''}; run "
            "`buurtgroepen groups init` first or check the id."
        )
        raise StoreError(msg)

    now = utcnow()
    token = new_token()
    user = User(
        role=role, name=name or None, token_hash=hash_token(token), created_at=now
    )
    session.add(user)
    session.flush()
    if group_id:
        session.add(Beheerder(user_id=user.id, group_id=group_id, since=now))
    audit(session, SYSTEM, "user.add", "user", str(user.id), f"role={role}")
    logger.info("user %d added with role %s", user.id, role)
    return user.id, token


def revoke_user(session: Session, user_id: int) -> bool:
    """Revoke a user's token; False when there is no such active user."""
    user = session.get(User, user_id)
    if user is None or user.revoked_at is not None:
        return False
    user.revoked_at = utcnow()
    audit(session, SYSTEM, "user.revoke", "user", str(user_id))
    return True


def authenticate_user(session: Session, token: str) -> UserPrincipal | None:
    """The active user of a bearer token, with the groups a beheerder manages."""
    user = session.scalars(
        select(User).where(
            User.token_hash == hash_token(token), User.revoked_at.is_(None)
        )
    ).first()
    if user is None:
        return None
    groups = session.scalars(
        select(Beheerder.group_id).where(Beheerder.user_id == user.id)
    ).all()
    return UserPrincipal(user.id, user.role, frozenset(groups))


# --- group plan ---------------------------------------------------------------------


@dataclass(frozen=True)
class GroupPlan:
    """Groups and the group of every register address, from one partition run."""

    groups: dict[str, str]  # group_id -> woonplaats
    territory: dict[str, str]  # address_key -> group_id


def active_address_keys(session: Session) -> list[str]:
    """The address key of every active registration (repeats for households)."""
    return list(
        session.scalars(
            select(Registration.address_key)
            .where(Registration.status.in_(ACTIVE_STATUSES))
            .order_by(Registration.id)
        )
    )


def plan_groups(book: AddressBook, address_keys: list[str], max_size: int) -> GroupPlan:
    """Partition registrations (by address key) into capped groups with territories.

    Parameters
    ----------
    book
        The address register.
    address_keys
        One key per registration; a household appears once per registration,
        so the cap counts people, not addresses.
    max_size
        The cap on members per group.

    Raises
    ------
    StoreError
        When there is no registration to partition.
    """
    if not address_keys:
        msg = (
            "there are no active registrations to partition; groups are made "
            "from registrations, so wait for the first sign-ups."
        )
        raise StoreError(msg)
    parts = [key.split("|") for key in address_keys]
    frame = pd.DataFrame(
        {
            "registration_id": [f"r{i}" for i in range(len(parts))],
            "postcode": [p[0] for p in parts],
            "huisnummer": [int(p[1]) for p in parts],
            "huisletter": [p[2] for p in parts],
            "huisnummertoevoeging": [p[3] for p in parts],
        }
    )
    result = run_partition(
        book.register, frame, buurten=book.buurten, max_size=max_size
    )
    territory = pd.Series(
        result.address_groups.to_numpy(), index=result.addresses["address_key"]
    ).dropna()
    groups = dict(
        zip(result.groups["group_id"], result.groups["woonplaats"], strict=True)
    )
    return GroupPlan(
        groups={str(k): str(v) for k, v in groups.items()},
        territory={str(k): str(v) for k, v in territory.items()},
    )


def check_replace(session: Session, *, replace: bool) -> None:
    """Refuse to partition again over existing groups unless asked to.

    Raises
    ------
    StoreError
        When groups exist and ``replace`` is False.
    """
    existing = session.scalar(select(func.count()).select_from(Group)) or 0
    if existing and not replace:
        msg = (
            f"{existing} groups exist already; pass `--replace` to partition "
            "again (members who move get a new group and their old beheerder a "
            "removal task)."
        )
        raise StoreError(msg)


def apply_plan(session: Session, plan: GroupPlan, *, replace: bool) -> dict[str, int]:
    """Store a group plan: groups, territories, and memberships of registrations.

    Members whose group stays keep their membership and member number; members
    that move get a new membership, and their old group's beheerder a removal
    task. Every new membership is an "add" on its beheerder's change list (the
    beheerder builds the WhatsApp group by hand), so until it is marked done a
    rebalance may still reroute the member. Groups absent from the plan are
    deactivated.

    Raises
    ------
    StoreError
        When groups exist already and ``replace`` is False.
    """
    check_replace(session, replace=replace)
    now = utcnow()
    existing = {g.id: g for g in session.scalars(select(Group))}

    for group_id, woonplaats in plan.groups.items():
        group = existing.get(group_id)
        if group is None:
            session.add(
                Group(
                    id=group_id,
                    woonplaats=woonplaats,
                    created_at=now,
                    active=True,
                    last_member_number=0,
                )
            )
        else:
            group.woonplaats, group.active = woonplaats, True
            group.handed_on = 0
    for group_id, group in existing.items():
        if group_id not in plan.groups:
            group.active, group.handed_on = False, 0
    session.flush()

    session.execute(delete(Territory))
    rows = [{"address_key": k, "group_id": g} for k, g in plan.territory.items()]
    if rows:
        session.execute(insert(Territory), rows)

    counts = _regroup(session, plan, now)
    counts["groups"] = len(plan.groups)
    counts["territory_addresses"] = len(rows)
    audit(
        session,
        SYSTEM,
        "groups.init",
        "groups",
        f"{len(plan.groups)}",
        ",".join(f"{k}={v}" for k, v in counts.items()),
    )
    logger.info(
        "stored %d groups over %d addresses: %d members placed, %d moved, %d queued",
        counts["groups"],
        counts["territory_addresses"],
        counts["placed"],
        counts["moved"],
        counts["queued"],
    )
    return counts


def _regroup(session: Session, plan: GroupPlan, now: datetime) -> dict[str, int]:
    """Move every active registration to its group in the plan."""
    counts = {"placed": 0, "moved": 0, "kept": 0, "queued": 0}
    groups = {g.id: g for g in session.scalars(select(Group))}
    registrations = session.scalars(
        select(Registration)
        .where(Registration.status.in_(ACTIVE_STATUSES))
        .order_by(Registration.created_at, Registration.id)
    ).all()

    # a member nobody has added yet needs no removal; one whose removal from the
    # target group is still pending never left it and keeps its old number there
    not_added = set(session.scalars(_pending_additions(GroupChange.registration_id)))
    removals = _pending_removals(session)
    for registration in registrations:
        target = plan.territory.get(registration.address_key or "")
        current = open_membership(session, registration.id)
        if current is not None and current.group_id == target:
            counts["kept"] += 1
            continue
        if current is not None:
            current.ended_at, current.end_reason = now, END_REGROUPED
            if registration.id not in not_added:
                _removal_task(
                    session, current.group_id, current.member_number, END_REGROUPED, now
                )
        if target is None:
            registration.status, registration.queue_reason = QUEUED, NO_GROUP
            counts["queued"] += 1
            continue
        counts["moved" if current is not None else "placed"] += 1
        back = [c for c in removals.get(registration.id, []) if c.group_id == target]
        if back:
            _reopen_membership(session, registration, back[-1])
            continue
        number = _start_membership(session, groups[target], registration, now)
        session.add(
            GroupChange(
                plan_id=None,
                group_id=target,
                action=ADD,
                reason=INIT,
                registration_id=registration.id,
                member_number=number,
                other_group_id=current.group_id if current is not None else None,
                created_at=now,
            )
        )
    return counts


# --- helpers ------------------------------------------------------------------------


def audit(
    session: Session,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    detail: str | None = None,
) -> None:
    """Write one audit entry: who, what, which object, when; never the data.

    ``detail`` is comma-separated ``key=value`` pairs of short codes and
    counts (``moved=12,joined=3``); anything else is refused, so free text
    (a name, an address) cannot slip into the log.
    """
    if detail is not None and not _AUDIT_DETAIL.fullmatch(detail):
        msg = f"audit detail must be key=value pairs of codes, got {detail!r}"
        raise ValueError(msg)
    session.add(
        AuditEntry(
            at=utcnow(),
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            detail=detail,
        )
    )


def _decrypt(vault: Vault, value: str | None) -> str | None:
    """Decrypt a stored value; None stays None."""
    return vault.decrypt(value) if value is not None else None


def _iso(value: datetime | None) -> str | None:
    """An aware datetime as ISO 8601 (UTC, seconds), or None."""
    return value.isoformat(timespec="seconds") if value is not None else None


# --- data version and coverage inputs -------------------------------------------------


def data_version(session: Session) -> str:
    """A fingerprint of the stored state that groups and coverage are made from.

    SHA-256 over the registrations (id, status, address key), the open
    memberships, the groups (id, active, members handed on) and the territories,
    each in key order. Every registration, leave, erasure, placement, move and
    group change gives another value, so a rebalance plan made on one version
    is refused on another: an optimistic check that needs no counter for every
    writer to bump.

    Notes
    -----
    Reads every registration and territory row: linear in their number, tens
    of milliseconds for a municipality of 10,000 addresses.
    """
    digest = hashlib.sha256()
    queries = (
        select(Registration.id, Registration.status, Registration.address_key).order_by(
            Registration.id
        ),
        select(Membership.id, Membership.registration_id, Membership.group_id)
        .where(Membership.ended_at.is_(None))
        .order_by(Membership.id),
        select(Group.id, Group.active, Group.handed_on).order_by(Group.id),
        select(Territory.address_key, Territory.group_id).order_by(
            Territory.address_key
        ),
    )
    for query in queries:
        for row in session.execute(query):
            digest.update("\x1f".join(map(str, row)).encode())
            digest.update(b"\x1e")
        digest.update(b"\x1d")
    return digest.hexdigest()


def coverage_registrations(session: Session) -> pd.DataFrame:
    """The active geocoded registrations as address fields, for the coverage job.

    Returns
    -------
    pandas.DataFrame
        ``registration_id``, ``postcode``, ``huisnummer``, ``huisletter`` and
        ``huisnummertoevoeging`` (from the stored address key), the columns
        :func:`service.coverage_job.run_coverage` geocodes; no number or name.
    """
    rows = session.execute(
        select(Registration.id, Registration.address_key)
        .where(
            Registration.status.in_(ACTIVE_STATUSES),
            Registration.address_key.is_not(None),
            Registration.match_quality != UNMATCHED,
        )
        .order_by(Registration.id)
    ).all()
    parts = [str(key).split("|") for _, key in rows]
    return pd.DataFrame(
        {
            "registration_id": [str(registration_id) for registration_id, _ in rows],
            "postcode": [p[0] for p in parts],
            "huisnummer": [int(p[1]) for p in parts],
            "huisletter": [p[2] for p in parts],
            "huisnummertoevoeging": [p[3] for p in parts],
        },
        columns=[
            "registration_id",
            "postcode",
            "huisnummer",
            "huisletter",
            "huisnummertoevoeging",
        ],
    )


def current_assignments(session: Session) -> pd.DataFrame:
    """``registration_id`` and ``group_id`` of every open membership."""
    rows = session.execute(
        select(Membership.registration_id, Membership.group_id)
        .where(Membership.ended_at.is_(None))
        .order_by(Membership.registration_id)
    ).all()
    return pd.DataFrame(
        [(str(r), str(g)) for r, g in rows], columns=["registration_id", "group_id"]
    )


# --- rebalance ----------------------------------------------------------------------

#: The unit groups may not cross; ``groups init`` partitions per woonplaats too.
REBALANCE_WITHIN = "woonplaats"
_MEMBER_COLUMNS = ["registration_id", "address_key", "x", "y", "woonplaats"]
# why a rebalance plan cannot be applied
PLAN_APPLIED = "applied"
PLAN_STALE = "stale"
PLAN_CONFIRMED = "confirmed"
PLAN_OVER_CAP = "over_cap"


class PlanConflictError(StoreError):
    """A rebalance plan that cannot be applied: applied already, or data changed."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class RebalanceInputs:
    """The stored state a rebalance starts from (RD New metres).

    Attributes
    ----------
    current
        Members: ``registration_id``, ``group_id``, ``address_key``, ``x``,
        ``y``, ``woonplaats``, one row per open membership.
    joiners
        Queued registrations with a point, the same columns but ``group_id``.
    leavers
        Registrations that left or were erased.
    territory
        ``group_id`` per ``address_key`` (the territories table).
    pending_adds
        Members whose "add" in their present group is still pending: their
        beheerder has not added them to the WhatsApp group yet.
    handed_on
        Per active group with any, the members it handed on since it was made
        or last split (``Group.handed_on``).
    """

    current: pd.DataFrame
    joiners: pd.DataFrame
    leavers: list[str]
    territory: pd.Series
    pending_adds: list[str]
    handed_on: dict[str, int]


def rebalance_inputs(session: Session) -> RebalanceInputs:
    """Read members, queued newcomers, leavers and territories for a rebalance."""
    member_columns = (
        Registration.address_key,
        Registration.x,
        Registration.y,
        Registration.woonplaats,
    )
    members = session.execute(
        select(Membership.registration_id, Membership.group_id, *member_columns)
        .join(Registration, Registration.id == Membership.registration_id)
        .where(Membership.ended_at.is_(None), Registration.x.is_not(None))
        .order_by(Membership.registration_id)
    ).all()
    queued = session.execute(
        select(Registration.id, *member_columns)
        .where(Registration.status == QUEUED, Registration.x.is_not(None))
        .order_by(Registration.id)
    ).all()
    leavers = session.scalars(
        select(Registration.id)
        .where(Registration.status.in_((LEFT, ERASED)))
        .order_by(Registration.id)
    ).all()
    territory = session.execute(select(Territory.address_key, Territory.group_id)).all()
    pending_adds = session.scalars(
        _pending_additions(GroupChange.registration_id)
        .distinct()
        .order_by(GroupChange.registration_id)
    ).all()
    handed_on = session.execute(
        select(Group.id, Group.handed_on)
        .where(Group.active.is_(True), Group.handed_on > 0)
        .order_by(Group.id)
    ).all()

    current = pd.DataFrame(
        [tuple(row) for row in members],
        columns=["registration_id", "group_id", *_MEMBER_COLUMNS[1:]],
    )
    joiners = pd.DataFrame([tuple(row) for row in queued], columns=_MEMBER_COLUMNS)
    for frame in (current, joiners):
        frame[["x", "y"]] = frame[["x", "y"]].astype(float)
    return RebalanceInputs(
        current=current,
        joiners=joiners,
        leavers=[str(r) for r in leavers],
        territory=pd.Series(
            {str(k): str(g) for k, g in territory}, dtype=object, name="group_id"
        ),
        pending_adds=[str(r) for r in pending_adds],
        handed_on={str(g): int(n) for g, n in handed_on},
    )


def plan_rebalance(
    session: Session, book: AddressBook, max_size: int, user_id: int | None
) -> dict[str, object]:
    """Plan a rebalance of the stored groups and store it as a dry run.

    Runs :func:`partition.rebalance.rebalance` with the open memberships as
    the current groups, the queued registrations as newcomers, the
    registrations that left or were erased as leavers, the territories as
    the group of each address and the members whose "add" is still pending
    (they are rerouted, not moved); new groups get ids no stored group has. The
    plan, the data version it was made on and the territory changes it
    implies are stored; nothing else changes.

    Parameters
    ----------
    session
        The caller's transaction.
    book
        The address register, for the territories of split and new groups.
    max_size
        The cap (``BUURTGROEPEN_MAX_GROUP_SIZE``).
    user_id
        The steering user asking, for the audit log.

    Returns
    -------
    dict
        The plan as :func:`rebalance_plan_view` shows it (registration ids and
        group ids, never a number or a name).

    Raises
    ------
    StoreError
        When there is no active registration at all.
    InfeasibleError
        When one address has more registrations than ``max_size``.
    """
    started = time.perf_counter()

    # the version first: a change landing while the inputs are read then makes
    # the plan stale (refused at apply), never wrongly current
    version = data_version(session)
    inputs = rebalance_inputs(session)
    if inputs.current.empty and inputs.joiners.empty:
        msg = (
            "there are no active registrations to rebalance; groups are made "
            "from registrations, so wait for the first sign-ups."
        )
        raise StoreError(msg)

    plan = rebalance(
        inputs.current,
        joiners=inputs.joiners,
        leavers=inputs.leavers,
        address_groups=inputs.territory,
        max_size=max_size,
        within=REBALANCE_WITHIN,
        pending_adds=inputs.pending_adds,
        handed_on=inputs.handed_on,
    )
    taken = set(session.scalars(select(Group.id)))
    document = _plan_document(plan, inputs, book.register, taken)
    document["returns"] = _returns(session, document)

    record = RebalanceRecord(
        id=uuid.uuid4().hex,
        created_at=utcnow(),
        created_by=user_id,
        base_version=version,
        max_group_size=max_size,
        document=json.dumps(document, sort_keys=True),
    )
    session.add(record)
    summary = document["summary"]
    audit(
        session,
        f"user:{user_id}" if user_id is not None else SYSTEM,
        "rebalance.plan",
        "rebalance_plan",
        record.id,
        f"moved={summary['moved']},rerouted={summary['rerouted']},"
        f"joined={summary['joined']},new_groups={summary['new_groups']}",
    )
    logger.info(
        "rebalance plan %s: %d joined, %d moved, %d rerouted, %d new groups, "
        "%d dissolved, %d territory addresses changed in %.2f s",
        record.id,
        summary["joined"],
        summary["moved"],
        summary["rerouted"],
        summary["new_groups"],
        summary["dissolved_groups"],
        len(document["territory"]),
        time.perf_counter() - started,
    )
    return rebalance_plan_view(record)


def _plan_document(
    plan: RebalancePlan,
    inputs: RebalanceInputs,
    register: pd.DataFrame,
    taken: set[str],
) -> dict[str, Any]:
    """The plan as JSON types, with new groups renamed away from stored ids."""
    rename = _fresh_group_ids(plan.new_groups, taken | set(plan.assignment.dropna()))
    assignment = plan.assignment.dropna().astype(str).map(lambda g: rename.get(g, g))

    # the members after the plan, for the sizes, woonplaatsen and territories
    people = pd.concat([inputs.current, inputs.joiners], ignore_index=True)
    people = people.drop_duplicates("registration_id").set_index("registration_id")
    after = people.loc[assignment.index, _MEMBER_COLUMNS[1:]].assign(
        group_id=assignment
    )
    moves, reroutes = (
        [
            {
                "registration_id": str(move.registration_id),
                "from_group": str(move.from_group),
                "to_group": rename.get(str(move.to_group), str(move.to_group)),
                "reason": str(move.reason),
            }
            for move in frame.itertuples(index=False)
        ]
        for frame in (plan.moves, plan.reroutes)
    )
    joins = [
        {
            "registration_id": str(join.registration_id),
            "group_id": rename.get(str(join.group_id), str(join.group_id)),
        }
        for join in plan.joins.itertuples(index=False)
    ]
    new_groups = sorted(rename.get(g, g) for g in plan.new_groups)
    woonplaats = after.groupby("group_id")["woonplaats"].first()

    before = inputs.current["group_id"].value_counts()
    sizes = after["group_id"].value_counts()
    touched = sorted(set(before.index) | set(sizes.index))
    return {
        "summary": {k: v for k, v in plan.summary.items() if k != "seconds"},
        "moves": moves,
        "reroutes": reroutes,
        "joins": joins,
        "leaves": [
            {"registration_id": str(r), "group_id": str(g)}
            for r, g in plan.leaves.itertuples(index=False)
        ],
        "new_groups": [
            {"group_id": g, "woonplaats": str(woonplaats[g])} for g in new_groups
        ],
        "dissolved_groups": [str(g) for g in plan.dissolved_groups],
        "handed_on": {rename.get(g, g): n for g, n in plan.handed_on.items()},
        "sizes": {
            str(g): {"before": int(before.get(g, 0)), "after": int(sizes.get(g, 0))}
            for g in touched
            if int(before.get(g, 0)) != int(sizes.get(g, 0))
        },
        "territory": _territory_changes(
            register,
            inputs.territory,
            after.reset_index(),
            moves + reroutes,
            [str(g) for g in plan.dissolved_groups],
        ),
    }


def _fresh_group_ids(new_groups: Iterable[str], taken: set[str]) -> dict[str, str]:
    """New ids for planned groups whose id a stored group has (active or not).

    The rebalance names new groups after the groups that have members; an
    emptied or deactivated group may still hold the next number.
    """
    taken = set(taken)
    rename: dict[str, str] = {}
    for group in sorted(new_groups):
        if group not in taken - set(new_groups):
            continue
        slug = group.rsplit("-", 1)[0]
        number = 1
        while f"{slug}-{number:02d}" in taken:
            number += 1
        rename[group] = f"{slug}-{number:02d}"
        taken.add(rename[group])
    return rename


def _territory_changes(
    register: pd.DataFrame,
    territory: pd.Series,
    members: pd.DataFrame,
    moves: list[dict[str, str]],
    dissolved: list[str],
) -> dict[str, str]:
    """The new group of the addresses whose territory a rebalance changes.

    The territory of a group that gave members away (any move or reroute) or was
    dissolved is shared out to the nearest member among that group and the
    groups that took its members; addresses without a group take the group of
    their nearest member in their woonplaats. Every other address keeps its
    group, so later sign-ups are placed as before.
    """
    old = register["address_key"].map(territory)
    heirs: dict[str, set[str]] = {group: set() for group in dissolved}
    for move in moves:
        heirs.setdefault(move["from_group"], set()).add(move["to_group"])

    changes: dict[str, str] = {}
    for group, takers in sorted(heirs.items()):
        keep = takers | ({group} - set(dissolved))
        candidates = members[members["group_id"].isin(keep)] if keep else members
        changes.update(_reassign(register[old.eq(group).to_numpy()], candidates, old))
    changes.update(_reassign(register[old.isna().to_numpy()], members, old))
    return dict(sorted(changes.items()))


def _reassign(
    addresses: pd.DataFrame, members: pd.DataFrame, old: pd.Series
) -> dict[str, str]:
    """The group of each address's nearest member, where it differs from before."""
    if addresses.empty or members.empty:
        return {}
    new = assign_addresses(
        addresses, members, members["group_id"], within=REBALANCE_WITHIN
    )
    before = old.loc[addresses.index]
    differs = new.notna() & (new.astype(object) != before.astype(object))
    return {
        str(key): str(group)
        for key, group in zip(
            addresses.loc[differs, "address_key"], new[differs], strict=True
        )
    }


def rebalance_plan_view(record: RebalanceRecord) -> dict[str, object]:
    """A stored plan for the steering group: ids and counts, never a number.

    ``changes`` lists per group the registrations its beheerder adds and
    removes; a member placed back in a group whose removal was still pending
    when the plan was made is no addition there (it never left that WhatsApp
    group; the apply checks again). ``territory_addresses`` counts the
    addresses that change group.
    """
    document = json.loads(record.document)
    changes: dict[str, dict[str, list[str]]] = {}

    def note(group: str, action: str, registration_id: str) -> None:
        entry = changes.setdefault(group, {ADD: [], REMOVE: []})
        entry[action].append(registration_id)

    returns = {tuple(pair) for pair in document.get("returns", [])}
    for join in document["joins"]:
        note(join["group_id"], ADD, join["registration_id"])
    for entry in document["moves"] + document.get("reroutes", []):
        if (entry["registration_id"], entry["to_group"]) not in returns:
            note(entry["to_group"], ADD, entry["registration_id"])
    for move in document["moves"]:
        note(move["from_group"], REMOVE, move["registration_id"])
    return {
        "plan_id": record.id,
        "created_at": _iso(record.created_at),
        "applied_at": _iso(record.applied_at),
        "max_group_size": record.max_group_size,
        "summary": document["summary"],
        "moves": document["moves"],
        "reroutes": document.get("reroutes", []),
        "joins": document["joins"],
        "leaves": document["leaves"],
        "new_groups": document["new_groups"],
        "dissolved_groups": document["dissolved_groups"],
        "sizes": document["sizes"],
        "changes": {group: changes[group] for group in sorted(changes)},
        "territory_addresses": len(document["territory"]),
    }


def get_rebalance_plan(session: Session, plan_id: str) -> dict[str, object] | None:
    """A stored plan as :func:`rebalance_plan_view` shows it, or None."""
    record = session.get(RebalanceRecord, plan_id)
    return rebalance_plan_view(record) if record is not None else None


def apply_rebalance(
    session: Session, plan_id: str, user_id: int | None, max_size: int
) -> dict[str, object] | None:
    """Apply a stored plan in the caller's transaction, or refuse it whole.

    Ends the membership of every moved member and starts one in its new group
    (history kept, ``end_reason`` "regrouped"), places the planned newcomers,
    creates the new groups, deactivates the dissolved ones, updates the
    territories and writes one change row per manual step for the beheerders.
    Any failure leaves the caller to roll everything back.

    Returns
    -------
    dict or None
        Counts of what was written; None for an unknown plan.

    Raises
    ------
    PlanConflictError
        When the plan was applied already, the data (or the cap) changed
        since it was made, or a beheerder confirmed the addition of a member
        the plan reroutes.
    """
    started = time.perf_counter()
    _lock_for_apply(session)
    record = session.get(RebalanceRecord, plan_id)
    if record is None:
        return None
    if record.applied_at is not None:
        raise PlanConflictError(PLAN_APPLIED, f"plan {plan_id} was applied already")
    if (
        record.max_group_size != max_size
        or data_version(session) != record.base_version
    ):
        msg = f"the data changed since plan {plan_id} was made; make a new plan"
        raise PlanConflictError(PLAN_STALE, msg)
    document = json.loads(record.document)
    _check_adds_still_pending(session, document.get("reroutes", []), plan_id)

    now = utcnow()
    groups = _apply_groups(session, document, now)
    _apply_handed_on(groups, document["handed_on"])
    changes = _apply_memberships(session, document, groups, record.id, now)
    territory = _apply_territory(session, document["territory"])
    record.applied_at, record.applied_by = now, user_id
    session.flush()
    _check_cap(session, max_size)

    counts = {
        "joined": len(document["joins"]),
        "moved": len(document["moves"]),
        "rerouted": len(document.get("reroutes", [])),
        "new_groups": len(document["new_groups"]),
        "dissolved_groups": len(document["dissolved_groups"]),
        "changes": changes,
        "territory_addresses": territory,
    }
    audit(
        session,
        f"user:{user_id}" if user_id is not None else SYSTEM,
        "rebalance.apply",
        "rebalance_plan",
        record.id,
        ",".join(f"{k}={v}" for k, v in counts.items()),
    )
    logger.info(
        "rebalance plan %s applied: %d joined, %d moved, %d rerouted, %d new "
        "groups, %d dissolved, %d change rows in %.2f s",
        record.id,
        counts["joined"],
        counts["moved"],
        counts["rerouted"],
        counts["new_groups"],
        counts["dissolved_groups"],
        changes,
        time.perf_counter() - started,
    )
    return {"plan_id": record.id, "applied_at": _iso(now), **counts}


# the open membership a change row is about: same registration, group and number
_OPEN_MEMBERSHIP_OF_CHANGE = (
    (Membership.registration_id == GroupChange.registration_id)
    & (Membership.group_id == GroupChange.group_id)
    & (Membership.member_number == GroupChange.member_number)
    & Membership.ended_at.is_(None)
)


def _pending_additions(*columns: Any) -> Select[Any]:
    """Select ``columns`` of the "add" changes not yet done for open memberships.

    Such a member is in a group on paper but not yet in its WhatsApp group.
    """
    return (
        select(*columns)
        .join(Membership, _OPEN_MEMBERSHIP_OF_CHANGE)
        .where(GroupChange.action == ADD, GroupChange.done_at.is_(None))
    )


def _check_adds_still_pending(
    session: Session, reroutes: list[dict[str, str]], plan_id: str
) -> None:
    """Refuse a plan whose reroutes a beheerder has since carried out.

    A reroute assumes the member is not in the WhatsApp group yet; once the
    "add" is marked done, moving them needs a removal the plan does not have.
    Marking a change done leaves :func:`data_version` alone (coverage does not
    depend on it), so the plan checks its own assumption here.
    """
    if not reroutes:
        return
    wanted = {(r["registration_id"], r["from_group"]) for r in reroutes}
    pending = session.execute(
        _pending_additions(GroupChange.registration_id, GroupChange.group_id).where(
            GroupChange.registration_id.in_([r for r, _ in wanted])
        )
    ).all()
    if wanted - {(str(r), str(g)) for r, g in pending}:
        msg = (
            f"a beheerder confirmed an addition that plan {plan_id} reroutes; "
            "make a new plan"
        )
        raise PlanConflictError(PLAN_CONFIRMED, msg)


def _lock_for_apply(session: Session) -> None:
    """Keep other writers out of the tables an apply checks and changes.

    PostgreSQL: ``SHARE ROW EXCLUSIVE`` blocks every insert, update and
    delete (and a second apply) until the transaction ends, while reads go
    on; ``group_changes`` is among them, so an addition cannot be confirmed
    between the check of the plan's reroutes and the commit. SQLite
    transactions already hold the write lock (``BEGIN IMMEDIATE``, see
    :mod:`service.db`).
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(
        text(
            "LOCK TABLE registrations, memberships, groups, territories, "
            "group_changes IN SHARE ROW EXCLUSIVE MODE"
        )
    )


def _apply_groups(
    session: Session, document: dict[str, Any], now: datetime
) -> dict[str, Group]:
    """Create the plan's new groups and deactivate its dissolved ones."""
    groups = {group.id: group for group in session.scalars(select(Group))}
    for new in document["new_groups"]:
        group = Group(
            id=new["group_id"],
            woonplaats=new["woonplaats"],
            created_at=now,
            active=True,
            last_member_number=0,
        )
        session.add(group)
        groups[group.id] = group
    for group_id in document["dissolved_groups"]:
        groups[group_id].active = False
    session.flush()
    return groups


def _apply_handed_on(groups: dict[str, Group], handed_on: dict[str, int]) -> None:
    """Store the members each group handed on, as the plan counts them.

    A group the plan leaves out counts zero. A plan stored before the counts
    existed never gets here: :func:`data_version` includes them, so it is stale.
    """
    for group_id, group in groups.items():
        group.handed_on = int(handed_on.get(group_id, 0))


def _apply_memberships(
    session: Session,
    document: dict[str, Any],
    groups: dict[str, Group],
    plan_id: str,
    now: datetime,
) -> int:
    """Place the newcomers, move and reroute members; return the change rows."""
    joins: list[dict[str, str]] = document["joins"]
    moves: list[dict[str, str]] = document["moves"]
    reroutes: list[dict[str, str]] = document.get("reroutes", [])
    ids = [j["registration_id"] for j in joins + moves + reroutes]
    registrations = {
        r.id: r
        for r in session.scalars(select(Registration).where(Registration.id.in_(ids)))
    }
    memberships = {
        m.registration_id: m
        for m in session.scalars(
            select(Membership).where(
                Membership.registration_id.in_(
                    [m["registration_id"] for m in moves + reroutes]
                ),
                Membership.ended_at.is_(None),
            )
        )
    }
    row = functools.partial(GroupChange, plan_id=plan_id, created_at=now)
    changes: list[GroupChange] = []

    # newcomers: a membership and one "add" for the beheerder
    for join in joins:
        registration = registrations[join["registration_id"]]
        number = _start_membership(session, groups[join["group_id"]], registration, now)
        changes.append(
            row(
                group_id=join["group_id"],
                action=ADD,
                reason="join",
                registration_id=registration.id,
                member_number=number,
            )
        )

    # a move ends the old membership (history) and starts one in the new group:
    # a removal and an addition. A reroute (not in the WhatsApp group yet)
    # needs only the addition; the old group's pending "add" then reads as no
    # longer needed. A member sent back to a group whose removal is still
    # pending never left that WhatsApp group: its membership there reopens
    # under the old number, with no addition, and the removal reads as no
    # longer needed
    regrouped = [(move, True) for move in moves] + [(r, False) for r in reroutes]
    removals = _pending_removals(session, [e["registration_id"] for e, _ in regrouped])
    for entry, removal in regrouped:
        old = memberships[entry["registration_id"]]
        old.ended_at, old.end_reason = now, END_REGROUPED
        registration = registrations[entry["registration_id"]]
        target = entry["to_group"]
        pending = removals.get(registration.id, [])
        for change in pending:  # every removal still to do now names the new group
            if change.group_id != target:
                change.other_group_id = target
        asked = any(
            (c.group_id, c.member_number) == (old.group_id, old.member_number)
            for c in pending
        )
        if removal and not asked:
            changes.append(
                row(
                    group_id=old.group_id,
                    action=REMOVE,
                    reason=entry["reason"],
                    registration_id=registration.id,
                    member_number=old.member_number,
                    other_group_id=target,
                )
            )
        back = [c for c in pending if c.group_id == target]
        if back:
            _reopen_membership(session, registration, back[-1])
            continue
        number = _start_membership(session, groups[target], registration, now)
        changes.append(
            row(
                group_id=target,
                action=ADD,
                reason=entry["reason"],
                registration_id=registration.id,
                member_number=number,
                other_group_id=old.group_id if removal else None,
            )
        )
    session.add_all(changes)
    return len(changes)


def _returns(session: Session, document: dict[str, Any]) -> list[list[str]]:
    """(registration, group) of the plan's moves and reroutes into a group whose
    removal of that member is still pending: no addition is needed there."""
    regrouped = document["moves"] + document.get("reroutes", [])
    pending = _pending_removals(session, [e["registration_id"] for e in regrouped])
    still_in = {(r, c.group_id) for r, rows in pending.items() for c in rows}
    return sorted(
        [e["registration_id"], e["to_group"]]
        for e in regrouped
        if (e["registration_id"], e["to_group"]) in still_in
    )


def _pending_removals(
    session: Session, registration_ids: list[str] | None = None
) -> dict[str, list[GroupChange]]:
    """The "remove" changes not yet done, per registration, oldest first.

    Of the given registrations, or of all (None). Read inside the apply's
    lock, so a removal confirmed after the plan was made is seen as done.
    """
    out: dict[str, list[GroupChange]] = {}
    query = select(GroupChange).where(
        GroupChange.action == REMOVE, GroupChange.done_at.is_(None)
    )
    if registration_ids is not None:
        if not registration_ids:
            return out
        query = query.where(GroupChange.registration_id.in_(registration_ids))
    rows = session.scalars(query.order_by(GroupChange.id))
    for row in rows:
        out.setdefault(row.registration_id, []).append(row)
    return out


def _reopen_membership(
    session: Session, registration: Registration, removal: GroupChange
) -> None:
    """Reopen the membership a pending removal is about (same group and number)."""
    membership = session.scalars(
        select(Membership).where(
            Membership.registration_id == registration.id,
            Membership.group_id == removal.group_id,
            Membership.member_number == removal.member_number,
        )
    ).one()
    membership.ended_at, membership.end_reason = None, None
    registration.status, registration.queue_reason = ASSIGNED, None


def _start_membership(
    session: Session, group: Group, registration: Registration, now: datetime
) -> int:
    """Open a membership with the group's next member number; return the number."""
    group.last_member_number += 1
    session.add(
        Membership(
            registration_id=registration.id,
            group_id=group.id,
            member_number=group.last_member_number,
            started_at=now,
        )
    )
    registration.status, registration.queue_reason = ASSIGNED, None
    return group.last_member_number


def _apply_territory(session: Session, changes: dict[str, str]) -> int:
    """Write the territory changes of a plan; return how many addresses changed."""
    if not changes:
        return 0
    stored = set(
        session.scalars(
            select(Territory.address_key).where(
                Territory.address_key.in_(list(changes))
            )
        )
    )
    updates = [
        {"address_key": k, "group_id": g} for k, g in changes.items() if k in stored
    ]
    inserts = [
        {"address_key": k, "group_id": g} for k, g in changes.items() if k not in stored
    ]
    if updates:
        session.execute(update(Territory), updates)
    if inserts:
        session.execute(insert(Territory), inserts)
    return len(changes)


def _check_cap(session: Session, max_size: int) -> None:
    """Refuse (roll back) an apply that would leave a group above the cap."""
    largest = session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.ended_at.is_(None))
        .group_by(Membership.group_id)
        .order_by(func.count().desc())
        .limit(1)
    )
    if largest is not None and int(largest) > max_size:
        msg = (
            f"applying the plan would leave a group with {int(largest)} members, "
            f"above `max_group_size` ({max_size}); nothing was changed."
        )
        raise PlanConflictError(PLAN_OVER_CAP, msg)


# --- beheerders' change lists --------------------------------------------------------


def group_changes(
    session: Session, vault: Vault, group_id: str, *, include_done: bool = False
) -> list[dict[str, object]]:
    """The change rows of a group, pending first, with the numbers to add.

    A pending addition of a registration still in the group carries its
    ``voornaam`` and ``telefoon`` (E.164), since the beheerder adds the number
    by hand; removals name the member by number only, as removal tasks do.
    """
    query = (
        select(GroupChange, Registration, Membership.id)
        .join(Registration, Registration.id == GroupChange.registration_id)
        .outerjoin(Membership, _OPEN_MEMBERSHIP_OF_CHANGE)
        .where(GroupChange.group_id == group_id)
    )
    if not include_done:
        query = query.where(GroupChange.done_at.is_(None))
    rows = session.execute(
        query.order_by(GroupChange.done_at.is_not(None), GroupChange.id)
    ).all()

    out: list[dict[str, object]] = []
    for change, registration, open_id in rows:
        item = change_dict(change, still_member=open_id is not None)
        if change.action == ADD and change.done_at is None and open_id is not None:
            item["voornaam"] = _decrypt(vault, registration.voornaam_encrypted)
            item["telefoon"] = _decrypt(vault, registration.phone_encrypted)
        out.append(item)
    return out


def change_dict(change: GroupChange, *, still_member: bool) -> dict[str, object]:
    """A change row as JSON, with its Dutch instruction (no number or name)."""
    return {
        "change_id": change.id,
        "group_id": change.group_id,
        "action": change.action,
        "reason": change.reason,
        "member_number": change.member_number,
        "label": texts.member_label(change.group_id, change.member_number),
        "other_group_id": change.other_group_id,
        "text": _change_text(change, still_member=still_member),
        "created_at": _iso(change.created_at),
        "done_at": _iso(change.done_at),
    }


def _change_text(change: GroupChange, *, still_member: bool) -> str:
    """The beheerder's instruction for one change, in Dutch."""
    number = change.member_number
    label = texts.member_label(change.group_id, number)
    if change.action == REMOVE and still_member:
        return (
            f"Lid #{number} hoeft niet meer te worden verwijderd: het blijft in "
            "deze groep. Heb je het al verwijderd, voeg het dan weer toe (het "
            "nummer staat in de ledenlijst). Markeer deze wijziging als gedaan."
        )
    if change.action == REMOVE:
        return (
            f"Verwijder lid #{number} (contact '{label}') uit de WhatsApp-groep "
            f"en uit je contacten: dit lid gaat over naar groep "
            f"{change.other_group_id}."
        )
    if not still_member:
        return (
            f"Lid #{number} hoeft niet meer te worden toegevoegd: het is niet "
            "meer lid van deze groep. Heb je het toch al toegevoegd, verwijder "
            "het dan weer uit de WhatsApp-groep. Markeer deze wijziging als gedaan."
        )
    origin = (
        f" Het lid komt over uit groep {change.other_group_id}."
        if change.other_group_id
        else ""
    )
    return (
        f"Voeg lid #{number} toe aan de WhatsApp-groep: sla het nummer op als "
        f"contact '{label}' (of importeer changes.vcf) en voeg het toe.{origin}"
    )


def complete_change(
    session: Session, group_id: str, change_id: int, user_id: int
) -> dict[str, object] | None:
    """Mark a change of a group done; None when the group has no such change."""
    change = session.get(GroupChange, change_id)
    if change is None or change.group_id != group_id:
        return None
    if change.done_at is None:
        change.done_at, change.done_by = utcnow(), user_id
        audit(session, f"user:{user_id}", "change.done", "group_change", str(change.id))
    open_id = session.scalar(
        select(Membership.id)
        .join(GroupChange, _OPEN_MEMBERSHIP_OF_CHANGE)
        .where(GroupChange.id == change.id)
    )
    return change_dict(change, still_member=open_id is not None)


def pending_changes(session: Session) -> list[dict[str, object]]:
    """What the beheerders still have to do, per group (rebalances and intake).

    For the steering group: counts, the pending rows (registration id, member
    number, action) and how many beheerders the group has, so a new group
    without one stands out. Never a number or a name.
    """
    changes = session.scalars(
        select(GroupChange)
        .where(GroupChange.done_at.is_(None))
        .order_by(GroupChange.group_id, GroupChange.id)
    ).all()
    beheerders = _counts(
        session,
        select(Beheerder.group_id, func.count()).group_by(Beheerder.group_id),
    )
    per_group: dict[str, list[GroupChange]] = {}
    for change in changes:
        per_group.setdefault(change.group_id, []).append(change)
    return [
        {
            "group_id": group_id,
            "beheerders": beheerders.get(group_id, 0),
            "add": sum(c.action == ADD for c in rows),
            "remove": sum(c.action == REMOVE for c in rows),
            "oldest": _iso(rows[0].created_at),
            "changes": [
                {
                    "change_id": c.id,
                    "action": c.action,
                    "reason": c.reason,
                    "registration_id": c.registration_id,
                    "member_number": c.member_number,
                    "plan_id": c.plan_id,
                }
                for c in rows
            ],
        }
        for group_id, rows in per_group.items()
    ]
