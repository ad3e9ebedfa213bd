"""The audit trail: append-only, hash-chained, checkpointed security events, one chain per tenant.

Record through an app's events module (``idp/events.py``, ``accounts/events.py``), which
calls ``audit.recording.record``. Layout: ``recording`` (record, deferral to the commit),
``chain`` (links, appending, log lines), ``checkpoints`` (signed chain heads),
``verification`` (online and offline), ``export``, ``retention``, ``spool`` and ``shipper``
(the durable batched path of stateless grants), ``risk``, ``sanitise``, ``sql``.
"""
