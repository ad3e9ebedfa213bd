"""Which way imports run (shared/style.md): core imports no app of ours, tenants only core,
audit only core and tenants, accounts those and audit; idp stands on everything; no app
imports settings. Read from the source, so a lazy import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"core", "tenants", "audit", "accounts", "idp", "settings"}
ALLOWED = {
    "core": set(),
    "tenants": {"core"},
    "audit": {"core", "tenants"},
    "accounts": {"core", "tenants", "audit"},
    "idp": {"core", "tenants", "audit", "accounts"},
}


def _imports(app: str) -> dict[str, set[str]]:
    """Our apps each module of ``app`` imports (migrations included)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / app).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = (names & OURS) - {app}
    return found


@pytest.mark.parametrize("app", sorted(ALLOWED))
def test_imports_run_downwards(app):
    wrong = {module: sorted(names - ALLOWED[app]) for module, names in _imports(app).items()
             if names - ALLOWED[app]}
    assert not wrong, f"{app} may import only {sorted(ALLOWED[app]) or 'no app of ours'}: {wrong}"


def test_the_check_sees_imports():
    # The control: idp does import the lower apps, so the walk finds imports at all.
    assert set().union(*_imports("idp").values()) >= {"core", "tenants", "audit", "accounts"}
