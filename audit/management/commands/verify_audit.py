"""manage.py verify_audit: check a tenant's audit chain in the database, or an export offline.

    verify_audit (--tenant SLUG | --all) [--checkpoints FILE] [--jwks FILE_OR_URL] [--json]
    verify_audit --export FILE [--jwks FILE_OR_URL] [--json]
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from audit.verification import Verification, read_export, verify_chain, verify_export
from core.commands import OperatorCommand
from tenants.models import Tenant
from tenants.platform import platform_access


class Command(OperatorCommand):
    help = ("Verify audit hash chains: every event's content, public and keyed links, the chain head, and "
            "the signed checkpoints. Exit 1 and name the first broken link when an event was altered, "
            "removed, inserted or reordered, or the chain was cut short behind a checkpoint.")

    def add_arguments(self, parser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--tenant", help="Slug of the tenant to verify (in the database).")
        which.add_argument("--all", action="store_true", help="Verify every tenant (in the database).")
        which.add_argument("--export", metavar="FILE",
                           help="Verify an export (manage.py export_audit) or collected audit log lines "
                                "offline: no database, no key-encryption key; '-' reads stdin.")
        parser.add_argument("--checkpoints", metavar="FILE",
                            help="Checkpoints obtained earlier (audit log lines, an export, or one JWS per "
                                 "line): a chain cut short since then is reported.")
        parser.add_argument("--jwks", metavar="FILE_OR_URL",
                            help="The tenant's published JWKS, kept outside the database (a file, or its "
                                 "jwks.json URL): checkpoints are checked against it. Without it, --export "
                                 "uses the keys the export carries and --tenant those in the database, and "
                                 "says so.")
        parser.add_argument("--json", action="store_true", dest="as_json", help="One JSON object per tenant.")

    def handle(self, *args, **opts) -> None:
        if opts["export"]:
            if opts["checkpoints"]:
                raise self.fail("--checkpoints goes with --tenant/--all; add them to the export file instead")
            results = self._offline(opts["export"], opts["jwks"])
        else:
            if opts["jwks"] and opts["all"]:
                raise self.fail("--jwks names one tenant's keys: use it with --tenant")
            external = _checkpoint_file(opts["checkpoints"]) if opts["checkpoints"] else []
            results = self._online(opts, external, _load_jwks(opts["jwks"]) if opts["jwks"] else None)
        broken = []
        for label, result in results:
            self._report(label, result, opts["as_json"])
            if not result.ok:
                broken.append(label)
        if broken:
            raise CommandError(f"audit chain broken for: {', '.join(broken)}", returncode=1)

    def _online(self, opts, external: list[str], keys: list[dict[str, Any]] | None) -> list[tuple[str, Verification]]:
        if opts["all"]:
            tenants = list(Tenant.objects.order_by("slug"))
        else:
            tenants = list(Tenant.objects.filter(slug=opts["tenant"]))
            if not tenants:
                raise self.fail(f"unknown tenant {opts['tenant']!r}")
        results = []
        for tenant in tenants:
            with platform_access(tenant, reason="verify_audit", actor=self.actor):
                results.append((tenant.slug, verify_chain(external, keys=keys)))
        return results

    def _offline(self, path: str, jwks: str | None) -> list[tuple[str, Verification]]:
        contents = read_export(_lines(path))
        if jwks:
            keys = _load_jwks(jwks)
        else:
            keys = contents.keys
            self.stderr.write("note: checking signatures with the keys carried by the export itself; pass "
                              "--jwks with the tenant's published JWKS to make the check independent")
        if not contents.events:
            raise self.fail(f"{path}: no audit events in it")
        return [(f"tenant {tenant_id}", verify_export(events, contents.checkpoints, keys, tenant_id))
                for tenant_id, events in sorted(contents.events.items())]

    def _report(self, label: str, result: Verification, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps({"tenant": label, **asdict(result)}))
            return
        if result.ok:
            covered = (f"; signed checkpoint at #{result.checkpoint_seq}" if result.checkpoint_seq else "")
            self.stdout.write(f"{label}: ok, {result.checked} events verified "
                              f"(#{result.first_seq or 0}..#{result.last_seq or 0}){covered}")
        else:
            where = f" at event #{result.broken_seq}" if result.broken_seq else ""
            self.stdout.write(f"{label}: BROKEN{where}: {result.reason}")
        for note in result.notes:
            self.stdout.write(f"  note: {note}")
        if result.ok and result.last_seq and (result.checkpoint_seq or 0) < result.last_seq:
            self.stdout.write(f"  warning: events after #{result.checkpoint_seq or 0} are not vouched for by "
                              "a signed checkpoint yet")


def _lines(path: str) -> list[str]:
    if path == "-":
        return sys.stdin.read().splitlines()
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}", returncode=2) from exc


def _checkpoint_file(path: str) -> list[str]:
    """Compact JWS values from a file of audit log lines, an export, or one JWS per line."""
    lines = _lines(path)
    found = read_export(lines).checkpoints
    found += [line.strip() for line in lines if line.strip().count(".") == 2 and not line.startswith("{")]
    return found


def _load_jwks(source: str) -> list[dict[str, Any]]:
    try:
        if source.startswith(("https://", "http://")):
            import requests

            data = requests.get(source, timeout=10).json()
        else:
            data = json.loads(Path(source).read_text(encoding="utf-8"))
        keys = data["keys"]
        if not isinstance(keys, list):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CommandError(f"{source}: not a JWKS ({type(exc).__name__})", returncode=2) from exc
    return [k for k in keys if isinstance(k, dict)]
