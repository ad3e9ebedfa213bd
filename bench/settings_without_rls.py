"""Benchmark only: production settings without the per-transaction tenant setting.

`bench/run.py --without-rls` also disables the policies, so the same benchmark prices
row-level security. Never a way to run Tessera: with the policies on, nothing would be visible.
"""

import tenants.db
from settings.production import *  # noqa: F401,F403

tenants.db.connect = lambda: None  # the execute wrapper is not installed
