"""Encryption at rest, keyed hashes and tokens.

One master key (``BUURTGROEPEN_SECRET_KEY`` or the key file) yields two keys by
HKDF-SHA256: a Fernet key that encrypts phone numbers and first names, and an
HMAC-SHA256 key for the duplicate check on phone numbers. The HMAC is keyed
because the space of Dutch mobile numbers is small (about 10^8): a plain hash
could be reversed by trying them all, a keyed one cannot without the key.

Tokens (self-service and role tokens) are ``secrets.token_urlsafe(32)``, shown
once and stored only as their SHA-256; 256 random bits need no key stretching.

Known limit: the key sits next to the database by default (in the data
directory). The database alone reveals no number, but a backup that holds both
the database and the key file does; back up the key separately, or set
``BUURTGROEPEN_SECRET_KEY`` from a secret store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import stat

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from service.config import PREFIX, Settings, SettingsError, prepare_data_dir

logger = logging.getLogger(__name__)

_SALT = b"buurtgroepen/v1"
_FERNET_INFO = b"fernet: phone numbers and first names at rest"
_HMAC_INFO = b"hmac-sha256: duplicate check of phone numbers"
TOKEN_BYTES = 32


def load_or_create_key(settings: Settings) -> bytes:
    """The master key: from the settings, else from the key file (created once).

    The key file ``<data_dir>/secret.key`` is created with mode 0600 on the
    first start (exclusively, so two processes starting at once agree on one
    key) and refused later when others can read it.

    Raises
    ------
    SettingsError
        When the key file is readable by group or others, or empty.
    """
    if settings.secret_key is not None:
        return settings.secret_key.encode()

    prepare_data_dir(settings)
    path = settings.key_file
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(settings)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(TOKEN_BYTES) + "\n")
    logger.info("created a new key file in the data directory (mode 0600)")
    return _read_key_file(settings)


def _read_key_file(settings: Settings) -> bytes:
    """Read and check the key file."""
    path = settings.key_file
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        msg = (
            f"the key file {path} has mode {mode:04o} and can be read by others; "
            f"run `chmod 600 {path}`."
        )
        raise SettingsError(msg)
    key = path.read_text().strip()
    if not key:
        msg = (
            f"the key file {path} is empty; restore it from the backup, or set "
            f"`{PREFIX}SECRET_KEY` (a new key makes the stored numbers unreadable)."
        )
        raise SettingsError(msg)
    return key.encode()


class Vault:
    """Encrypt, decrypt and hash personal values with keys derived from one key.

    Parameters
    ----------
    master_key
        The master key (at least 32 bytes of secret).
    """

    def __init__(self, master_key: bytes) -> None:
        self._fernet = Fernet(
            base64.urlsafe_b64encode(_derive(master_key, _FERNET_INFO))
        )
        self._hmac_key = _derive(master_key, _HMAC_INFO)

    def encrypt(self, value: str) -> str:
        """Fernet token (ASCII) of a text value; a fresh random IV each time."""
        return self._fernet.encrypt(value.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The text value of a Fernet token.

        Raises
        ------
        SettingsError
            When the token was made with another key (the key was changed).
        """
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except InvalidToken:
            msg = (
                "a stored value cannot be decrypted with the current key; restore "
                f"the key file or `{PREFIX}SECRET_KEY` the data was written with."
            )
            raise SettingsError(msg) from None

    def phone_hash(self, e164: str) -> str:
        """Keyed HMAC-SHA256 (hex) of a normalised E.164 number."""
        return hmac.new(self._hmac_key, e164.encode(), hashlib.sha256).hexdigest()


def new_token() -> str:
    """A new random token: 32 bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """SHA-256 (hex) of a token, the only form in which tokens are stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def _derive(master_key: bytes, info: bytes) -> bytes:
    """32 bytes for one purpose from the master key (HKDF-SHA256)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=info)
    return hkdf.derive(master_key)
