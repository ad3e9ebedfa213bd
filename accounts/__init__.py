"""Accounts: the tenant-bound user model, password hashing, login and logout pages."""
