"""The SQL the idp app writes by hand (tests/unit/test_sql.py pins its names to the models)."""

from __future__ import annotations

from typing import cast

from django.db import models

from idp.models import AccessToken, RefreshToken


def _related_table(field: str) -> str:
    return cast(type[models.Model], AccessToken._meta.get_field(field).related_model)._meta.db_table


_APPLICATION_TABLE = _related_table("application")
_USER_TABLE = _related_table("user")

# Introspection of an opaque access token: the hottest read of a resource server's life, so
# one explicit statement instead of an ORM query (whose SQL compilation alone costs several
# times the round trip). The tenant filter is explicit, as the scoped manager would add it:
# on SQLite (make run) it is the only one; on PostgreSQL row-level security stands beneath.
ACCESS_TOKEN = f"""
    SELECT t.expires, t.created, t.scope, t.resource, a.client_id, u.uid, u.username, u.is_active
      FROM {AccessToken._meta.db_table} t
      LEFT JOIN {_APPLICATION_TABLE} a ON a.id = t.application_id
      LEFT JOIN {_USER_TABLE} u ON u.id = t.user_id
     WHERE t.tenant_id = %s AND t.token_checksum = %s
"""

# Whether the row of a user-bound JWT access token still exists and its user is active
# (revocation and logout delete the row; deactivation kills every token at once).
JWT_ACCESS_TOKEN_LIVE = f"""
    SELECT u.is_active
      FROM {AccessToken._meta.db_table} t
      JOIN {_USER_TABLE} u ON u.id = t.user_id
     WHERE t.tenant_id = %s AND t.token_checksum = %s
"""

# The claim of a refresh token (idp.services.tokens.claim_refresh_token) and the deletion of the
# access token it was issued with, in one statement on PostgreSQL: the UPDATE only lands while
# the token is unused (of two concurrent refreshes, one wins), and only a won claim deletes.
# SQLite (make run) has no data-modifying CTEs: two statements there.
CLAIM_REFRESH_TOKEN = f"""
    WITH claimed AS (
        UPDATE {RefreshToken._meta.db_table} SET revoked = %(now)s, updated = %(now)s, access_token_id = NULL
         WHERE tenant_id = %(tenant)s AND id = %(id)s AND revoked IS NULL
     RETURNING id
    ), dropped AS (
        DELETE FROM {AccessToken._meta.db_table}
         WHERE tenant_id = %(tenant)s AND id = %(access_token)s AND EXISTS (SELECT 1 FROM claimed)
    )
    SELECT count(*) FROM claimed
"""
