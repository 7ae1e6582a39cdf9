"""Settings of the web service, read once from ``BUURTGROEPEN_*`` variables.

Every variable has a safe default, so ``buurtgroepen serve`` runs without any
configuration on an embedded SQLite file and the generated demo municipality.
Reading the settings touches nothing on disk; the data directory and the key
file are created at start-up by :func:`prepare_data_dir` and
:func:`service.crypto.load_or_create_key`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from partition.errors import BuurtgroepenError

PREFIX = "BUURTGROEPEN_"
DEFAULT_DATA_DIR = Path("var/buurtgroepen")
DEFAULT_MAX_GROUP_SIZE = 50
WHATSAPP_GROUP_LIMIT = 1024
DEFAULT_PRIVACY_VERSION = "2025-1"
DEFAULT_CONTROLLER = "de stuurgroep Buurtpreventie (stel BUURTGROEPEN_CONTROLLER in)"
DEFAULT_RETENTION_DAYS = 30
RETENTION_DAYS_MAX = 3650
DATABASE_FILE = "buurtgroepen.db"
KEY_FILE = "secret.key"

_TRUE = frozenset({"1", "true", "yes", "on", "ja"})
_FALSE = frozenset({"0", "false", "no", "off", "nee", ""})

# name (without prefix) -> (default as documented, meaning); the README table
# and `buurtgroepen privacy` list them from here
VARIABLES: dict[str, tuple[str, str]] = {
    "DATA_DIR": (
        str(DEFAULT_DATA_DIR),
        "folder of the SQLite file and the key file, created with mode 0700",
    ),
    "DATABASE_URL": (
        f"sqlite:///<DATA_DIR>/{DATABASE_FILE}",
        "SQLAlchemy URL; `postgresql+psycopg://user@host/db` for PostgreSQL",
    ),
    "ADDRESSES": (
        "the generated demo municipality (seed 0)",
        "address register file (CSV with x/y, GeoJSON or GeoPackage)",
    ),
    "BOUNDARIES": (
        "the demo's buurten with the demo register, else none",
        "buurt polygons (GeoJSON/GPKG) that clip the group territories",
    ),
    "MAX_GROUP_SIZE": (
        str(DEFAULT_MAX_GROUP_SIZE),
        f"cap on members per group, 1 to {WHATSAPP_GROUP_LIMIT}",
    ),
    "ALLOW_FOREIGN_MOBILE": (
        "false",
        "`true` also accepts German mobile numbers (+49 15x/16x/17x)",
    ),
    "SECRET_KEY": (
        f"random, kept in <DATA_DIR>/{KEY_FILE} (mode 0600)",
        "master key for encryption and keyed hashes (at least 32 characters)",
    ),
    "PRIVACY_VERSION": (
        DEFAULT_PRIVACY_VERSION,
        "version of the privacy statement residents consent to",
    ),
    "CONTROLLER": (
        DEFAULT_CONTROLLER,
        "the controller (verwerkingsverantwoordelijke) named in the statement",
    ),
    "RETENTION_DAYS": (
        str(DEFAULT_RETENTION_DAYS),
        "days the data of a resident who left is kept before `purge` erases it",
    ),
}

SECRET_KEY_MIN_LENGTH = 32


class SettingsError(BuurtgroepenError):
    """A ``BUURTGROEPEN_*`` variable with a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    """Configuration of one service instance.

    Attributes
    ----------
    data_dir
        Folder of the SQLite file and the key file.
    database_url
        SQLAlchemy URL of the database.
    addresses
        Address register file, or None for the generated demo municipality.
    boundaries
        Buurt polygons for ``groups init`` (territories are made and clipped per
        buurt, which is also much faster), or None.
    max_group_size
        Cap on the members of a group, 1 to 1,024.
    allow_foreign_mobile
        Accept German mobile numbers besides Dutch ones.
    secret_key
        Master key from ``BUURTGROEPEN_SECRET_KEY``, or None to use (and on the
        first start create) the key file in `data_dir`.
    privacy_version
        Version of the privacy statement a registration must consent to.
    controller
        The controller named in the privacy statement.
    retention_days
        Days the data of a resident who left is kept before ``purge``.
    """

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = f"sqlite:///{DEFAULT_DATA_DIR / DATABASE_FILE}"
    addresses: Path | None = None
    boundaries: Path | None = None
    max_group_size: int = DEFAULT_MAX_GROUP_SIZE
    allow_foreign_mobile: bool = False
    secret_key: str | None = None
    privacy_version: str = DEFAULT_PRIVACY_VERSION
    controller: str = DEFAULT_CONTROLLER
    retention_days: int = DEFAULT_RETENTION_DAYS

    @property
    def key_file(self) -> Path:
        """The key file used when no ``BUURTGROEPEN_SECRET_KEY`` is set."""
        return self.data_dir / KEY_FILE

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is an SQLite file."""
        return self.database_url.startswith("sqlite")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``BUURTGROEPEN_*`` variables.

    Parameters
    ----------
    env
        The variables; ``os.environ`` when None. Unset and empty variables take
        their default.

    Returns
    -------
    settings
        The checked settings. Nothing is created on disk.

    Raises
    ------
    SettingsError
        For a value out of range or unreadable, naming the variable and the fix.
    """
    env = os.environ if env is None else env

    def get(name: str) -> str | None:
        value = env.get(PREFIX + name)
        return value.strip() if value and value.strip() else None

    data_dir = Path(get("DATA_DIR") or DEFAULT_DATA_DIR)
    addresses = get("ADDRESSES")
    boundaries = get("BOUNDARIES")
    return Settings(
        data_dir=data_dir,
        database_url=get("DATABASE_URL") or f"sqlite:///{data_dir / DATABASE_FILE}",
        addresses=Path(addresses) if addresses else None,
        boundaries=Path(boundaries) if boundaries else None,
        max_group_size=_max_group_size(get("MAX_GROUP_SIZE")),
        allow_foreign_mobile=_flag("ALLOW_FOREIGN_MOBILE", get("ALLOW_FOREIGN_MOBILE")),
        secret_key=_secret_key(get("SECRET_KEY")),
        privacy_version=get("PRIVACY_VERSION") or DEFAULT_PRIVACY_VERSION,
        controller=get("CONTROLLER") or DEFAULT_CONTROLLER,
        retention_days=_retention_days(get("RETENTION_DAYS")),
    )


def prepare_data_dir(settings: Settings) -> Path:
    """Create the data directory with mode 0700 if it does not exist yet.

    Returns
    -------
    data_dir
        The directory.

    Raises
    ------
    SettingsError
        When the path exists and is not a directory.
    """
    path = settings.data_dir
    if path.exists() and not path.is_dir():
        msg = (
            f"`{PREFIX}DATA_DIR` points to a file, not a folder; give a folder "
            "(it is created when missing)."
        )
        raise SettingsError(msg)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o700)
    return path


def _integer(name: str, value: str) -> int:
    """Parse a whole number, or raise naming the variable."""
    try:
        return int(value)
    except ValueError:
        msg = f"`{PREFIX}{name}` must be a whole number; got a value of {len(value)} "
        msg += "characters that is not."
        raise SettingsError(msg) from None


def _max_group_size(value: str | None) -> int:
    """The cap, 1 to 1,024 (WhatsApp's own limit on a group)."""
    if value is None:
        return DEFAULT_MAX_GROUP_SIZE
    size = _integer("MAX_GROUP_SIZE", value)
    if not 1 <= size <= WHATSAPP_GROUP_LIMIT:
        msg = (
            f"`{PREFIX}MAX_GROUP_SIZE` is {size}; set it from 1 to "
            f"{WHATSAPP_GROUP_LIMIT} (a WhatsApp group holds at most "
            f"{WHATSAPP_GROUP_LIMIT} members)."
        )
        raise SettingsError(msg)
    return size


def _retention_days(value: str | None) -> int:
    """Days to keep the data of people who left, 0 to 3,650."""
    if value is None:
        return DEFAULT_RETENTION_DAYS
    days = _integer("RETENTION_DAYS", value)
    if not 0 <= days <= RETENTION_DAYS_MAX:
        msg = (
            f"`{PREFIX}RETENTION_DAYS` is {days}; set it from 0 to "
            f"{RETENTION_DAYS_MAX} days."
        )
        raise SettingsError(msg)
    return days


def _flag(name: str, value: str | None) -> bool:
    """A true/false variable."""
    text = (value or "").lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    msg = f"`{PREFIX}{name}` must be true or false (also 1/0, yes/no, ja/nee)."
    raise SettingsError(msg)


def _secret_key(value: str | None) -> str | None:
    """The master key, long enough to be one."""
    if value is not None and len(value) < SECRET_KEY_MIN_LENGTH:
        msg = (
            f"`{PREFIX}SECRET_KEY` has {len(value)} characters; give at least "
            f"{SECRET_KEY_MIN_LENGTH} random characters (e.g. `python -c "
            '"import secrets; print(secrets.token_urlsafe(32))"`) or unset it to '
            "use a key file."
        )
        raise SettingsError(msg)
    return value
