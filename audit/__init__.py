"""audit: append-only, hash-chained security events (arrives with its own issue)."""
