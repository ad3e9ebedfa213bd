"""Argon2id with Tessera's parameters (accounts.hashers), for the peer's password login.

Only the three parameters are taken from Tessera's hasher class; the hashing itself is
Django's stock Argon2PasswordHasher (Tessera's class adds nothing else either).
"""

from django.contrib.auth.hashers import Argon2PasswordHasher

from accounts.hashers import TesseraArgon2PasswordHasher


class Argon2idHasher(Argon2PasswordHasher):
    time_cost = TesseraArgon2PasswordHasher.time_cost
    memory_cost = TesseraArgon2PasswordHasher.memory_cost
    parallelism = TesseraArgon2PasswordHasher.parallelism
