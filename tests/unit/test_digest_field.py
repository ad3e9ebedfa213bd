"""idp.fields.DigestField on the authorization-code model: only sha256(code) is stored."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from idp.fields import StoredDigest
from idp.models import Grant
from tenants.context import tenant_context

RAW = "kJ3v0x-the-authorization-code-value-9QzT"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def column(grant: Grant) -> str:
    """The raw column, read as the grant's tenant (row-level security shows nothing else)."""
    with tenant_context(grant.tenant), connection.cursor() as cursor:
        cursor.execute(f"SELECT code FROM {Grant._meta.db_table} WHERE id = %s", [grant.pk])
        return cursor.fetchone()[0]


@pytest.fixture
def make_grant(world_a):
    def make(code: str = RAW) -> Grant:
        with tenant_context(world_a.tenant):
            return Grant.objects.create(
                user=world_a.user, application=world_a.web.application, code=code,
                expires=timezone.now() + timedelta(seconds=60), redirect_uri="https://rp.example.test/callback",
                scope="openid", code_challenge="x" * 43, code_challenge_method="S256",
            )
    return make


def test_column_holds_the_sha256_hex_and_raw_lookup_finds_the_row(world_a, make_grant):
    grant = make_grant()
    assert column(grant) == sha256_hex(RAW)
    with tenant_context(world_a.tenant):
        assert Grant.objects.get(code=RAW).pk == grant.pk
        assert list(Grant.objects.filter(code=RAW).values_list("pk", flat=True)) == [grant.pk]
        assert Grant.objects.filter(code__in=[RAW, "other"]).get().pk == grant.pk
        assert not Grant.objects.filter(code=RAW + "x").exists()


def test_presenting_the_digest_as_a_code_finds_nothing(world_a, make_grant):
    grant = make_grant()
    stolen = column(grant)
    with tenant_context(world_a.tenant):
        assert not Grant.objects.filter(code=stolen).exists()
        assert not Grant.objects.filter(code__in=[stolen]).exists()
        with pytest.raises(Grant.DoesNotExist):
            Grant.objects.get(code=str(stolen))


def test_resaving_a_loaded_row_does_not_hash_again(world_a, make_grant):
    grant = make_grant()
    with tenant_context(world_a.tenant):
        loaded = Grant.objects.get(pk=grant.pk)
        assert isinstance(loaded.code, StoredDigest) and loaded.code == sha256_hex(RAW)
        loaded.scope = "openid email"
        loaded.save()
        loaded.used_at = timezone.now()
        loaded.save(update_fields=["used_at", "code"])
        loaded.refresh_from_db()
        assert isinstance(loaded.code, StoredDigest)
        loaded.save()
        assert column(grant) == sha256_hex(RAW)
        assert Grant.objects.get(code=RAW).scope == "openid email"


def test_same_code_twice_violates_uniqueness(world_a, make_grant):
    make_grant()
    with pytest.raises(IntegrityError), transaction.atomic():
        make_grant()
    other = make_grant("another-code")
    assert column(other) == sha256_hex("another-code")
