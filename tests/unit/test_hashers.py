"""accounts.hashers: Argon2id with Tessera's parameters (m=7 MiB, t=5, p=1)."""

from __future__ import annotations

from django.contrib.auth.hashers import (
    Argon2PasswordHasher,
    check_password,
    get_hasher,
    make_password,
    verify_password,
)

from accounts.hashers import TesseraArgon2PasswordHasher
from settings.base import PASSWORD_HASHERS as BASE_PASSWORD_HASHERS

PASSWORD = "correct-horse-battery-staple"
TESSERA_PARAMS = "m=7168,t=5,p=1"


def params(encoded: str) -> str:
    algorithm, variety, version, parameters, _salt, _hash = encoded.split("$")
    assert (algorithm, variety, version) == ("argon2", "argon2id", "v=19")
    return parameters


def test_make_password_with_the_argon2_hasher_uses_tessera_parameters():
    """What the test overlay promises for hashing tests ("ask for Argon2id explicitly")."""
    encoded = make_password(PASSWORD, hasher="argon2")
    assert encoded.startswith("argon2$argon2id$")
    assert params(encoded) == TESSERA_PARAMS, encoded
    assert check_password(PASSWORD, encoded) and not check_password(PASSWORD + "x", encoded)


def test_the_production_hasher_list_resolves_argon2_to_tessera(settings):
    settings.PASSWORD_HASHERS = BASE_PASSWORD_HASHERS
    assert isinstance(get_hasher("default"), TesseraArgon2PasswordHasher)
    assert isinstance(get_hasher("argon2"), TesseraArgon2PasswordHasher), type(get_hasher("argon2"))


def test_default_hash_in_production_settings(settings):
    settings.PASSWORD_HASHERS = BASE_PASSWORD_HASHERS
    encoded = make_password(PASSWORD)
    assert params(encoded) == TESSERA_PARAMS
    assert verify_password(PASSWORD, encoded) == (True, False)  # right, and no rehash needed
    assert verify_password("wrong-" + PASSWORD, encoded)[0] is False
    assert make_password(PASSWORD) != encoded  # salted


def test_stock_django_argon2_hashes_verify_and_are_upgraded(settings):
    settings.PASSWORD_HASHERS = BASE_PASSWORD_HASHERS
    stock = Argon2PasswordHasher()
    old = stock.encode(PASSWORD, stock.salt())
    assert params(old) != TESSERA_PARAMS
    assert verify_password(PASSWORD, old) == (True, True)  # valid, and rehashed at next login
