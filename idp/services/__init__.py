"""idp services, by topic: ``clients`` (registration), ``consent``, ``tokens`` (the token
lifecycle: codes claimed once, refresh tokens rotated, families revoked)."""
