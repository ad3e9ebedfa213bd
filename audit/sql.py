"""The SQL the audit app writes by hand (tests/unit/test_sql.py pins its names to the models)."""

from __future__ import annotations

# The risk signals of a sign-in attempt, in one pass over the tenant's sign-in events
# (the partial indexes audit_signin_subject and audit_signin_ip serve it; audit.risk).
RISK_SIGNALS = """
SELECT
  COALESCE(SUM(CASE WHEN action = 'auth.login.failed' AND subject = %(subject)s
                     AND occurred > %(since)s THEN 1 ELSE 0 END), 0),
  COALESCE(SUM(CASE WHEN action = 'auth.login.failed' AND ip = %(ip)s AND %(ip)s <> ''
                     AND occurred > %(since)s THEN 1 ELSE 0 END), 0),
  COALESCE(SUM(CASE WHEN action = 'auth.login.succeeded' AND subject = %(subject)s THEN 1 ELSE 0 END), 0),
  COALESCE(SUM(CASE WHEN action = 'auth.login.succeeded' AND subject = %(subject)s
                     AND device = %(device)s AND %(device)s <> '' THEN 1 ELSE 0 END), 0),
  COALESCE(SUM(CASE WHEN action = 'auth.login.succeeded' AND subject = %(subject)s
                     AND ip = %(ip)s THEN 1 ELSE 0 END), 0)
FROM audit_auditevent
WHERE tenant_id = %(tenant_id)s AND action IN ('auth.login.failed', 'auth.login.succeeded')
  AND (subject = %(subject)s OR (ip = %(ip)s AND occurred > %(since)s))
"""

# audit.chain: the tenant's chain head, row-locked until the transaction ends.
LOCK_HEAD = "SELECT seq, last_hash FROM audit_chainhead WHERE tenant_id = %s FOR UPDATE"
START_HEAD = ("INSERT INTO audit_chainhead (tenant_id, seq, prev_hash, last_hash) VALUES (%s, 0, %s, %s) "
              "ON CONFLICT (tenant_id) DO NOTHING")
INSERT_EVENTS = "INSERT INTO audit_auditevent ({columns}) VALUES {rows} RETURNING id"
UPDATE_HEAD = "UPDATE audit_chainhead SET seq = %s, prev_hash = %s, last_hash = %s WHERE tenant_id = %s"
INSERT_CHECKPOINT = "INSERT INTO audit_checkpoint (tenant_id, seq, hash, jws, created) VALUES (%s, %s, %s, %s, %s)"

# audit.outbox: the webhook deliveries of the events being chained, in the same statement
# batch (so before its COMMIT). The ids are UUIDs made in Python: nothing is read back.
DELIVERY_COLUMNS = ("id", "tenant_id", "subscription_id", "seq", "action", "payload", "status", "attempts",
                    "next_attempt_at", "last_status_code", "last_error", "created", "delivered_at")
INSERT_DELIVERIES = "INSERT INTO audit_webhookdelivery ({columns}) VALUES {rows}"
