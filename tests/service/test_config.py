"""Settings from BUURTGROEPEN_* variables, the key file and the vault."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from service.config import (
    DEFAULT_MAX_GROUP_SIZE,
    VARIABLES,
    Settings,
    SettingsError,
    load_settings,
)
from service.crypto import Vault, hash_token, load_or_create_key, new_token

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_are_safe_and_touch_nothing_on_disk(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})

    assert settings == Settings()
    assert settings.database_url == "sqlite:///var/buurtgroepen/buurtgroepen.db"
    assert settings.addresses is None
    assert settings.max_group_size == DEFAULT_MAX_GROUP_SIZE
    assert settings.allow_foreign_mobile is False
    assert settings.secret_key is None
    assert settings.retention_days == 30
    assert list(tmp_path.iterdir()) == []


def test_variables_are_read(tmp_path):
    env = {
        "BUURTGROEPEN_DATA_DIR": str(tmp_path / "d"),
        "BUURTGROEPEN_ADDRESSES": "register.gpkg",
        "BUURTGROEPEN_MAX_GROUP_SIZE": "1024",
        "BUURTGROEPEN_ALLOW_FOREIGN_MOBILE": "true",
        "BUURTGROEPEN_SECRET_KEY": "k" * 40,
        "BUURTGROEPEN_PRIVACY_VERSION": "2026-2",
        "BUURTGROEPEN_CONTROLLER": "Stichting Buurtpreventie Losser",
        "BUURTGROEPEN_RETENTION_DAYS": "14",
    }
    settings = load_settings(env)

    assert settings.data_dir == tmp_path / "d"
    assert settings.database_url == f"sqlite:///{tmp_path / 'd' / 'buurtgroepen.db'}"
    assert settings.addresses == Path("register.gpkg")
    assert settings.max_group_size == 1024
    assert settings.allow_foreign_mobile is True
    assert settings.privacy_version == "2026-2"
    assert settings.controller == "Stichting Buurtpreventie Losser"
    assert settings.retention_days == 14


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("MAX_GROUP_SIZE", "1025", "from 1 to 1024"),
        ("MAX_GROUP_SIZE", "0", "from 1 to 1024"),
        ("MAX_GROUP_SIZE", "fifty", "whole number"),
        ("ALLOW_FOREIGN_MOBILE", "maybe", "true or false"),
        ("SECRET_KEY", "short", "at least 32"),
        ("RETENTION_DAYS", "-1", "from 0 to 3650"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(name, value, fragment):
    with pytest.raises(SettingsError, match=fragment) as error:
        load_settings({f"BUURTGROEPEN_{name}": value})
    assert f"`BUURTGROEPEN_{name}`" in str(error.value)
    if not value.lstrip("-").isdigit():
        # a secret or a typo is not repeated back
        assert value not in str(error.value)


def test_every_variable_is_documented_in_the_readme():
    readme = README.read_text()
    for name in VARIABLES:
        assert f"BUURTGROEPEN_{name}" in readme


def test_key_file_is_created_once_with_private_modes(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")

    first = load_or_create_key(settings)
    second = load_or_create_key(settings)

    assert first == second and len(first) >= 32
    assert stat.S_IMODE(settings.key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.data_dir.stat().st_mode) == 0o700


def test_a_key_file_others_can_read_is_refused(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    load_or_create_key(settings)
    settings.key_file.chmod(0o644)

    with pytest.raises(SettingsError, match="chmod 600"):
        load_or_create_key(settings)


def test_a_key_from_the_environment_writes_no_file(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", secret_key="s" * 32)

    assert load_or_create_key(settings) == b"s" * 32
    assert not settings.key_file.exists()


def test_vault_encrypts_with_fresh_randomness_and_a_derived_key():
    vault = Vault(b"m" * 32)

    first, second = vault.encrypt("+31620000001"), vault.encrypt("+31620000001")

    assert first != second
    assert "620000001" not in first
    assert vault.decrypt(first) == "+31620000001"
    with pytest.raises(SettingsError, match="cannot be decrypted"):
        Vault(b"o" * 32).decrypt(first)


def test_phone_hash_is_deterministic_and_keyed():
    one, other = Vault(b"m" * 32), Vault(b"o" * 32)

    assert one.phone_hash("+31620000001") == one.phone_hash("+31620000001")
    assert one.phone_hash("+31620000001") != one.phone_hash("+31620000002")
    assert one.phone_hash("+31620000001") != other.phone_hash("+31620000001")


def test_tokens_are_random_and_stored_as_sha256():
    tokens = {new_token() for _ in range(100)}

    assert len(tokens) == 100
    assert all(len(token) == 43 for token in tokens)
    token = tokens.pop()
    assert len(hash_token(token)) == 64 and token not in hash_token(token)
