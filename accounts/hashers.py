"""Argon2id with explicit parameters (Keycloak's defaults: t=5, m=7 MiB, p=1).

Django's Argon2PasswordHasher already uses the Argon2id variant; its default 100 MiB per
hash would put a login's memory far above a worker's budget. Stored hashes carry their
own parameters, so raising these later rehashes each password at its next login.
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class TesseraArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 5
    memory_cost = 7168  # KiB
    parallelism = 1
