"""German is complete: every text the code marks for translation has a German entry, and
the committed catalogue (.mo, what Django reads) is the committed .po compiled.

makemessages runs on a copy of the sources (it writes its catalogue next to them), so the
working tree is never touched. It needs GNU gettext (Debian's ``gettext``); CI installs it,
and elsewhere the test says what is missing instead of passing.
"""

from __future__ import annotations

import gettext
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What holds texts for people: the apps, the project, the templates and the pages' script.
SOURCES = ("accounts", "audit", "core", "idp", "tenants", "settings", "templates", "static", "locale")
CATALOGUE = ROOT / "locale" / "de" / "LC_MESSAGES"


def _need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        message = f"{tool} (GNU gettext: apt-get install gettext) is needed to check the translations"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def _untranslated(po: Path) -> str:
    """'' when every entry of ``po`` is translated and none is fuzzy, else those entries."""
    stats = subprocess.run([_need("msgfmt"), "--statistics", "-o", os.devnull, str(po)],  # noqa: S603
                           capture_output=True, text=True, check=True).stderr
    if "fuzzy" not in stats and "untranslated" not in stats:
        return ""
    listed = subprocess.run([_need("msgattrib"), "--untranslated", "--no-obsolete", str(po)],  # noqa: S603
                            capture_output=True, text=True, check=True).stdout
    return f"{stats}{listed}"


def test_every_text_marked_for_translation_has_german(tmp_path):
    _need("xgettext")
    for name in SOURCES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / "manage.py", tmp_path / "manage.py")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.dev", "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "manage.py", "makemessages", "-l", "de", "--no-obsolete"],  # noqa: S603
                          cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    missing = _untranslated(tmp_path / "locale" / "de" / "LC_MESSAGES" / "django.po")
    assert not missing, f"texts without German (translate them in locale/de/LC_MESSAGES/django.po):\n{missing}"


def test_the_committed_catalogue_is_the_po_compiled(tmp_path):
    msgfmt = _need("msgfmt")
    compiled = tmp_path / "django.mo"
    subprocess.run([msgfmt, "--check", "-o", str(compiled), str(CATALOGUE / "django.po")], check=True)  # noqa: S603
    with (CATALOGUE / "django.mo").open("rb") as committed, compiled.open("rb") as fresh:
        assert gettext.GNUTranslations(committed)._catalog == gettext.GNUTranslations(fresh)._catalog, (
            "locale/de/LC_MESSAGES/django.mo is stale: run manage.py compilemessages --ignore=.venv")
