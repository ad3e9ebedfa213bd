"""Key-encryption-key rotation (idp.kek, core.crypto): while serving, with the old KEK still
accepted, every sealed secret moves under the new one, resumably; afterwards the old KEK is
removed and everything made before still works: signing, TOTP, client secrets, recovery codes
and the audit chain's keyed links."""

from __future__ import annotations

import base64
import importlib
import io
import os

import pyotp
import pytest
from cryptography.exceptions import InvalidTag
from django.core.management import CommandError, call_command
from django.db import ProgrammingError, connections, transaction

from accounts.factors import confirm_totp, new_recovery_codes, start_totp_enrolment, totp_secret, use_recovery_code
from accounts.models import TOTPDevice
from audit import checkpoints
from audit.models import Action, AuditEvent
from audit.verification import verify_chain
from core import crypto
from core.models import DataKey
from idp import kek, keys
from idp.models import SigningKey
from tenants.context import tenant_context
from tests.security.flows import token_request
from tests.totp import current_code

pytestmark = pytest.mark.django_db(transaction=True)

NEW_KEK = base64.urlsafe_b64encode(os.urandom(32)).decode()


def new_kek(settings, *, keep_old: bool) -> None:
    old = settings.TESSERA["KEY_ENCRYPTION_KEY"]
    settings.TESSERA = {**settings.TESSERA, "KEY_ENCRYPTION_KEY": NEW_KEK,
                        "PREVIOUS_KEY_ENCRYPTION_KEYS": [old] if keep_old else []}


def client_credentials(issuer: str, world) -> int:
    return token_request(issuer, {"grant_type": "client_credentials"}, world.web.application.client_id,
                         world.web.client_secret).status_code


@pytest.fixture
def secrets_made(world_a, world_b):
    """A TOTP seed, recovery codes and a checkpoint in tenant A, before the KEK changes."""
    with tenant_context(world_a.tenant):
        device = start_totp_enrolment(world_a.user)
        totp = pyotp.TOTP(base64.b32encode(totp_secret(device)).decode())
        assert confirm_totp(device, current_code(totp))
        codes = new_recovery_codes(world_a.user)
        checkpoint = checkpoints.write()
    return {"totp": totp, "codes": codes, "checkpoint": checkpoint}


def still_works(issuer_a, world_a, secrets_made, *, code_index: int) -> None:
    assert client_credentials(issuer_a, world_a) == 200  # client-secret digest, and a signed ID token path
    with tenant_context(world_a.tenant):
        assert keys.sign_jwt({"iss": "x"}, "RS256") and keys.sign_jwt({"iss": "x"}, "ES256")
        device = TOTPDevice.objects.get(user=world_a.user)
        assert pyotp.TOTP(base64.b32encode(totp_secret(device)).decode()).now() == secrets_made["totp"].now()
        assert use_recovery_code(world_a.user, secrets_made["codes"][code_index]) is not None
        result = verify_chain()
        assert result.ok, result


def test_a_kek_rotation_while_serving_then_without_the_old_kek(live_server, issuer_a, world_a, world_b,
                                                                  secrets_made, settings):
    new_kek(settings, keep_old=True)
    # Serving goes on before anything was re-sealed: the previous KEK is still accepted.
    still_works(issuer_a, world_a, secrets_made, code_index=0)
    with pytest.raises(CommandError, match="still sealed under a previous KEK"):
        call_command("rotate_kek", "--check", stdout=io.StringIO())

    out = io.StringIO()
    call_command("rotate_kek", stdout=out)
    assert "3 data keys" in out.getvalue() and "4 signing keys" in out.getvalue() and "1 TOTP seeds" in out.getvalue()
    call_command("rotate_kek", "--check", stdout=io.StringIO())  # nothing left
    again = io.StringIO()
    call_command("rotate_kek", stdout=again)  # a second run changes nothing
    assert "0 data keys, 0 signing keys, 0 TOTP seeds" in again.getvalue()
    with tenant_context(world_a.tenant):
        assert AuditEvent.objects.filter(action=Action.KEK_RESEALED).count() == 1

    # The old KEK is gone: everything made before the rotation still works.
    new_kek(settings, keep_old=False)
    crypto._data_keys.clear()
    keys._private_cache.clear()
    still_works(issuer_a, world_a, secrets_made, code_index=1)
    assert client_credentials(issuer_a, world_a) == 200


def test_without_the_rotation_removing_the_old_kek_fails_loudly(live_server, issuer_a, world_a, secrets_made,
                                                                 settings):
    new_kek(settings, keep_old=False)
    crypto._data_keys.clear()
    keys._private_cache.clear()
    with tenant_context(world_a.tenant), pytest.raises(InvalidTag):
        totp_secret(TOTPDevice.objects.get(user=world_a.user))


def test_an_interrupted_rotation_resumes(world_a, world_b, secrets_made, settings, monkeypatch):
    new_kek(settings, keep_old=True)
    real_reseal, calls = kek.reseal, []

    def reseal_then_die(blob, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("the machine went away")
        return real_reseal(blob, **kwargs)

    monkeypatch.setattr(kek, "reseal", reseal_then_die)
    with pytest.raises(RuntimeError):
        call_command("rotate_kek", stdout=io.StringIO())
    monkeypatch.setattr(kek, "reseal", real_reseal)
    with pytest.raises(CommandError):
        call_command("rotate_kek", "--check", stdout=io.StringIO())
    out = io.StringIO()
    call_command("rotate_kek", stdout=out)  # finishes what the first run left
    call_command("rotate_kek", "--check", stdout=io.StringIO())
    new_kek(settings, keep_old=False)
    crypto._data_keys.clear()
    keys._private_cache.clear()
    for world in (world_a, world_b):
        with tenant_context(world.tenant):
            for key in SigningKey.objects.with_private_half():
                assert keys.private_key(key) is not None


@pytest.mark.django_db(transaction=True, databases=["default", "owner"])
def test_data_keys_are_what_the_kek_derived_before_they_existed(world_a):
    """Digests made by a release without data keys verify: the migration seeds each data key
    with the sub-key those digests were made under (and so does a first use)."""
    from django.apps import apps

    seed = importlib.import_module("core.migrations.0001_data_keys")
    DataKey.objects.using("owner").all().delete()
    seed.seed(apps, type("Editor", (), {"connection": connections["owner"]})())
    assert DataKey.objects.count() == len(seed.PURPOSES)
    crypto._data_keys.clear()
    for info in seed.PURPOSES:
        assert crypto.data_key(info) == crypto.derived_key(info)
    assert {row.purpose.encode() for row in DataKey.objects.all()} == set(seed.PURPOSES)


@pytest.mark.postgres
def test_the_application_role_cannot_delete_a_data_key(world_a):
    with pytest.raises(ProgrammingError, match="permission denied"), transaction.atomic():
        DataKey.objects.all().delete()
