"""Attacker-side tests against the live server: redirects, PKCE, codes, clients, tenants, input."""
