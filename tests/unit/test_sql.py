"""The SQL written by hand (audit/sql.py, idp/sql.py) names only tables, columns and action
values that the models define: a renamed field or action breaks this test, not production."""

from __future__ import annotations

import re

from django.apps import apps

from audit import sql as audit_sql
from audit.chain import HASHED_FIELDS
from audit.models import Action, AuditEvent, ChainHead, Checkpoint
from idp import sql as idp_sql

_TABLE = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+([a-z_]+)", re.IGNORECASE)
_QUALIFIED = re.compile(r"\b([a-z])\.([a-z_]+)\b")


def _tables() -> dict[str, set[str]]:
    return {model._meta.db_table: {f.column for f in model._meta.concrete_fields} for model in apps.get_models()}


def _statements(module) -> dict[str, str]:
    return {name: value for name, value in vars(module).items() if name.isupper() and isinstance(value, str)
            and re.search(r"\b(SELECT|INSERT|UPDATE)\b", value)}


def test_every_table_named_exists():
    tables = _tables()
    for module in (audit_sql, idp_sql):
        for name, statement in _statements(module).items():
            named = set(re.findall(r"\b([a-z_]+) AS \(", statement))  # a WITH query's own names
            for table in set(_TABLE.findall(statement)) - named:
                assert table in tables, f"{module.__name__}.{name} names an unknown table {table}"


def test_audit_statements_name_real_columns_and_actions():
    event_columns = {f.column for f in AuditEvent._meta.concrete_fields}
    head_columns = {f.column for f in ChainHead._meta.concrete_fields}
    checkpoint_columns = {f.column for f in Checkpoint._meta.concrete_fields}
    for action in re.findall(r"'([a-z_.]+)'", audit_sql.RISK_SIGNALS):
        assert action in Action.values, action
    for column in ("action", "subject", "occurred", "ip", "device", "tenant_id"):
        assert column in event_columns and column in audit_sql.RISK_SIGNALS
    for column in re.findall(r"SET (.*) WHERE", audit_sql.UPDATE_HEAD)[0].replace(" = %s", "").split(", "):
        assert column in head_columns, column
    assert set(re.findall(r"\(([^)]*)\)", audit_sql.INSERT_CHECKPOINT)[0].split(", ")) <= checkpoint_columns
    assert set(HASHED_FIELDS) | {"seq", "prev_hash", "hash", "mac", "spool_id"} <= event_columns


def test_idp_statements_name_real_columns():
    tables = _tables()
    aliases = {"t": "idp_accesstoken", "a": "idp_application", "u": "accounts_user"}
    for name, statement in _statements(idp_sql).items():
        for alias, column in _QUALIFIED.findall(statement):
            assert column in tables[aliases[alias]], f"idp.sql.{name}: {alias}.{column}"


def test_the_refresh_claim_names_real_columns():
    tables = _tables()
    refresh, access = tables["idp_refreshtoken"], tables["idp_accesstoken"]
    assigned = re.findall(r"SET (.*)\n", idp_sql.CLAIM_REFRESH_TOKEN)[0]
    assert {part.split(" = ")[0].strip() for part in assigned.split(", ")} <= refresh
    assert {"tenant_id", "id", "revoked"} <= refresh and {"tenant_id", "id"} <= access
