import pytest
from cryptography.fernet import Fernet

from api.integrations.vault import Vault, VaultError, mask


def test_a_sealed_secret_opens_with_the_same_key_and_does_not_show_the_secret():
    vault = Vault(Fernet.generate_key().decode())
    token = vault.seal("cs_0123456789abcdef")
    assert "0123456789abcdef" not in token
    assert vault.open(token) == "cs_0123456789abcdef"


def test_another_key_cannot_open_it_and_says_why():
    token = Vault(Fernet.generate_key().decode()).seal("cs_0123456789abcdef")
    with pytest.raises(VaultError, match="cannot be decrypted"):
        Vault(Fernet.generate_key().decode()).open(token)


def test_a_malformed_key_is_refused_with_how_to_make_one():
    with pytest.raises(VaultError, match="Fernet.generate_key"):
        Vault("not a key")


def test_masking_keeps_the_prefix_and_last_four():
    assert mask("ck_0123456789abcdef") == "ck_…cdef"
    assert mask("plainsecretvalue") == "…alue"
    assert mask("short") == "…"


def test_the_key_derived_from_the_settings_secret_is_stable_and_secret_specific():
    token = Vault.from_secret_key("a" * 40).seal("ck_0123456789abcdef")
    assert Vault.from_secret_key("a" * 40).open(token) == "ck_0123456789abcdef"
    with pytest.raises(VaultError):
        Vault.from_secret_key("b" * 40).open(token)
