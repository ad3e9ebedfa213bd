"""manage.py create_user"""

from __future__ import annotations

import json
from io import StringIO

from django.contrib.auth import get_user_model
from django.core.management import call_command

from tenants.context import tenant_context
from tenants.services import create_tenant
from tests.commands.conftest import assert_usage_error

GOOD_PASSWORD = "a-long-operator-password-7"


def test_create_user_in_process(db):
    acme = create_tenant("acme", "Acme Corp")
    out = StringIO()
    call_command("create_user", "--tenant", "acme", "--username", "alice", "--email", "alice@example.com",
                 "--password", GOOD_PASSWORD, "--email-verified", "--json", stdout=out)
    printed = json.loads(out.getvalue())
    with tenant_context(acme):
        user = get_user_model().objects.get(username="alice")
    assert printed == {"tenant": "acme", "username": "alice", "sub": str(user.uid)}
    assert user.email == "alice@example.com" and user.email_verified
    assert user.check_password(GOOD_PASSWORD) and not user.check_password(GOOD_PASSWORD + "x")
    assert GOOD_PASSWORD not in user.password


def test_create_user_password_stdin(manage):
    manage.ok("create_tenant", "acme", "--name", "Acme Corp")
    result = manage.ok("create_user", "--tenant", "acme", "--username", "bob", "--password-stdin",
                       input=GOOD_PASSWORD + "\n")
    assert result.stdout.startswith("Created user bob in acme (sub ") and result.other_stderr == ""
    assert [e["action"] for e in result.audit] == ["user.created"]
    assert GOOD_PASSWORD not in result.stderr
    assert GOOD_PASSWORD not in result.stdout
    [(stored,)] = manage.query("SELECT password FROM accounts_user WHERE username = 'bob'")
    from django.contrib.auth.hashers import check_password

    # The newline ending stdin is not part of the password.
    assert check_password(GOOD_PASSWORD, stored) and not check_password(GOOD_PASSWORD + "\n", stored)


def test_create_user_password_argument(manage):
    manage.ok("create_tenant", "acme", "--name", "Acme Corp")
    manage.ok("create_user", "--tenant", "acme", "--username", "carol", "--password", GOOD_PASSWORD)
    assert manage.query("SELECT username, email FROM accounts_user") == [("carol", "")]


def test_create_user_with_names(manage):
    """The name claims come from the profile; without names they are left out, not empty."""
    manage.ok("create_tenant", "acme", "--name", "Acme Corp")
    manage.ok("create_user", "--tenant", "acme", "--username", "dora", "--password", GOOD_PASSWORD,
              "--first-name", " Dora ", "--last-name", "Explorer")
    assert manage.query("SELECT first_name, last_name FROM accounts_user") == [("Dora", "Explorer")]


def test_same_email_in_two_tenants_is_allowed_but_not_twice_in_one(manage):
    for slug in ("acme", "globex"):
        manage.ok("create_tenant", slug, "--name", slug.title())
        manage.ok("create_user", "--tenant", slug, "--username", "alice", "--email", "alice@example.com",
                  "--password", GOOD_PASSWORD)
    rows = manage.query("SELECT t.slug, u.username, u.email FROM accounts_user u "
                        "JOIN tenants_tenant t ON t.id = u.tenant_id ORDER BY t.slug")
    assert rows == [("acme", "alice", "alice@example.com"), ("globex", "alice", "alice@example.com")]

    line = assert_usage_error(manage("create_user", "--tenant", "acme", "--username", "alice2",
                                     "--email", "ALICE@example.com", "--password", GOOD_PASSWORD))
    assert "email" in line.lower()


def test_duplicate_username_in_one_tenant(manage):
    manage.ok("create_tenant", "acme", "--name", "Acme Corp")
    manage.ok("create_user", "--tenant", "acme", "--username", "alice", "--password", GOOD_PASSWORD)
    assert_usage_error(manage("create_user", "--tenant", "acme", "--username", "alice",
                              "--password", GOOD_PASSWORD), "alice")
    # Usernames are unique without regard to case.
    assert_usage_error(manage("create_user", "--tenant", "acme", "--username", "Alice",
                              "--password", GOOD_PASSWORD))
    assert manage.query("SELECT count(*) FROM accounts_user") == [(1,)]


def test_unknown_tenant(manage):
    assert_usage_error(manage("create_user", "--tenant", "nope", "--username", "alice",
                              "--password", GOOD_PASSWORD), "unknown tenant", "nope")


def test_weak_passwords_are_refused(manage):
    manage.ok("create_tenant", "acme", "--name", "Acme Corp")
    for weak in ("short", "123456789012", "aliceliddell1"):
        assert_usage_error(manage("create_user", "--tenant", "acme", "--username", "aliceliddell",
                                  "--password", weak))
    assert_usage_error(manage("create_user", "--tenant", "acme", "--username", "alice", "--password-stdin",
                              input="\n"))
    assert manage.query("SELECT count(*) FROM accounts_user") == [(0,)]


def test_usage_errors(manage):
    manage.ok("create_tenant", "acme", "--name", "Acme Corp")
    cases = [
        ("create_user", "--tenant", "acme", "--username", "alice"),  # no password source
        ("create_user", "--tenant", "acme", "--username", "alice", "--password", GOOD_PASSWORD,
         "--password-stdin"),  # both
        ("create_user", "--username", "alice", "--password", GOOD_PASSWORD),  # no tenant
        ("create_user", "--tenant", "acme", "--password", GOOD_PASSWORD),  # no username
    ]
    for args in cases:
        assert assert_usage_error(manage(*args, input="")).startswith("error: ")
    for args in [("--email", "not-an-email"), ("--username", "bad name!")]:
        base = {"--tenant": "acme", "--username": "alice", "--password": GOOD_PASSWORD}
        base.update([args])
        assert_usage_error(manage("create_user", *[x for kv in base.items() for x in kv]))
    assert manage.query("SELECT count(*) FROM accounts_user") == [(0,)]


def test_the_tenants_policy_sets_the_minimum_password_length(db):
    import pytest as _pytest
    from django.core.exceptions import ValidationError

    from accounts.services import create_user
    from tenants.context import tenant_context
    from tenants.services import create_tenant, update_policy

    tenant = create_tenant("strict", "Strict Org")
    update_policy(tenant, password_min_length=20)
    with tenant_context(tenant):
        with _pytest.raises(ValidationError, match="at least 20 characters"):
            create_user(username="short", email="", password="a-long-test-pass")  # 16
        assert create_user(username="long", email="", password="a-long-test-password-42").pk
