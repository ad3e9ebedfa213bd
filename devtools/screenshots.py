"""Screenshots of Tessera's pages, for people to look at: ``devtools/screenshots.py [PATH ...]``.

Starts a server of its own (``manage.py runserver`` on a free port, settings.dev, a fresh
SQLite file under the output directory), seeds the demo tenant (``manage.py demo``), brands
it (display name, logo, colour), adds a user with an authenticator app, and photographs the
pages in headless Chromium (Debian's /usr/bin/chromium; never ``playwright install``) at
desktop 1280x800 and phone 375x667, in every language asked for (Accept-Language):

- the scenes below: sign-in, a refused sign-in, the second step, consent, an error page,
  the sign-out confirmation and the signed-out page;
- every PATH given on the command line (``/t/demo/account/``), signed in as the demo user
  unless ``--anonymous``.

Files: ``<out>/<scene or path>-<lang>-<desktop|phone>.png`` (default out: var/screenshots/,
which git ignores). Each shot prints the URL it ended on, so a page that redirected
somewhere unexpected is seen at once. Nothing outside the output directory is written.

    .venv/bin/python devtools/screenshots.py
    .venv/bin/python devtools/screenshots.py /t/demo/account/ /t/demo/account/password --only-paths
    .venv/bin/python devtools/screenshots.py --anonymous /t/demo/register --lang de
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Playwright's ViewportSize is a TypedDict of these two keys.
VIEWPORTS: dict[str, Any] = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 667}}
SLUG = "demo"
PASSWORD = "correct-horse-battery-staple"  # noqa: S105 (manage.py demo's documented password)
MFA_USER = "mfa-demo"
LOGO_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="150" height="40" viewBox="0 0 150 40">'
            '<rect width="40" height="40" rx="9" fill="#0f7b6c"/><circle cx="20" cy="20" r="9" fill="#fff"/>'
            '<text x="48" y="27" font-family="sans-serif" font-size="18" font-weight="700" fill="#0f7b6c">'
            'Nordlicht</text></svg>')

# Run by `manage.py shell -c` after `manage.py demo`: the branding, a user with an
# authenticator app (confirmed with a real code), and no risk step-up for these sign-ins.
SEED = f"""
from django_otp.oath import TOTP
from accounts.factors import confirm_totp, start_totp_enrolment, totp_secret
from accounts.services import create_user
from tenants.context import tenant_context
from tenants.models import SecurityPolicy, Tenant
from tenants.services import update_policy

tenant = Tenant.objects.get(slug={SLUG!r})
tenant.display_name = "Nordlicht Hörgeräte"
tenant.logo = {"data:image/svg+xml;base64," + base64.b64encode(LOGO_SVG.encode()).decode()!r}
tenant.primary_color = "#0f7b6c"
tenant.full_clean()
tenant.save()
with tenant_context(tenant):
    user = create_user(username={MFA_USER!r}, email="mfa-demo@example.com", password={PASSWORD!r},
                       email_verified=True, first_name="Mia", last_name="Faktor")
    device = start_totp_enrolment(user)
    assert confirm_totp(device, "%06d" % TOTP(totp_secret(device)).token())
    if hasattr(SecurityPolicy, "risk_step_up_threshold"):
        update_policy(tenant, risk_step_up_threshold=100)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,  # noqa: S603
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"manage.py {args[0]} failed:\n{done.stdout}{done.stderr}")


# -- what a person does before each shot ----------------------------------------------------

def sign_in(page, base: str, username: str = "demo", password: str = PASSWORD) -> None:
    page.goto(f"{base}/t/{SLUG}/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    with page.expect_navigation():
        page.click('form button[type="submit"]')


def authorization_url(base: str) -> str:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return f"{base}/t/{SLUG}/authorize?" + urlencode({
        "response_type": "code", "client_id": "demo-web", "redirect_uri": "http://127.0.0.1:8080/callback",
        "scope": "openid profile email", "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge, "code_challenge_method": "S256",
    })


def consent(page, base: str) -> None:
    page.goto(authorization_url(base))
    page.fill('input[name="username"]', "demo")
    page.fill('input[name="password"]', PASSWORD)
    with page.expect_navigation():
        page.click('form button[type="submit"]')


def sign_out_confirmation(page, base: str) -> None:
    sign_in(page, base)
    page.goto(f"{base}/t/{SLUG}/logout")


def signed_out(page, base: str) -> None:
    sign_out_confirmation(page, base)
    with page.expect_navigation():
        page.click('button[name="confirm"]')


SCENES: dict[str, Callable] = {
    "sign-in": lambda page, base: page.goto(f"{base}/t/{SLUG}/login"),
    # An unknown name: the demo user's lockout count stays untouched however often this runs.
    "sign-in-refused": lambda page, base: sign_in(page, base, "nobody-by-this-name", "wrong-password"),
    "second-step": lambda page, base: sign_in(page, base, MFA_USER),
    "consent": consent,
    "error": lambda page, base: page.goto(f"{base}/t/{SLUG}/authorize?client_id=no-such-app&response_type=code"),
    "sign-out": sign_out_confirmation,
    "signed-out": signed_out,
}


def path_scene(path: str, anonymous: bool) -> Callable:
    def scene(page, base: str) -> None:
        if not anonymous:
            sign_in(page, base)
        page.goto(base + path)
    return scene


def shoot(scenes: dict[str, Callable], base: str, languages: list[str], out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name, scene in scenes.items():
                for language in languages:
                    for size, viewport in VIEWPORTS.items():
                        context = browser.new_context(viewport=viewport, locale=language,
                                                      extra_http_headers={"Accept-Language": language})
                        page = context.new_page()
                        try:
                            scene(page, base)
                            target = out / f"{name}-{language}-{size}.png"
                            page.screenshot(path=str(target), full_page=True)
                            print(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}"
                                  f"  <- {page.url}")
                        finally:
                            context.close()
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="URL paths to photograph too, e.g. /t/demo/account/")
    parser.add_argument("--anonymous", action="store_true", help="visit the PATHs without signing in")
    parser.add_argument("--only-paths", action="store_true", help="skip the built-in scenes")
    parser.add_argument("--lang", action="append", dest="languages", help="Accept-Language (repeatable; en de)")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "screenshots")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium")
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    database = out / "screenshots.sqlite3"
    database.unlink(missing_ok=True)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.dev", "DATABASE_URL": f"sqlite:///{database}",
           "TESSERA_PUBLIC_URL": base}
    manage(env, "migrate", "--noinput")
    manage(env, "demo")
    manage(env, "shell", "-c", SEED)

    scenes = {} if args.only_paths else dict(SCENES)
    for path in args.paths:
        if not path.startswith("/"):
            raise SystemExit(f"{path!r}: give URL paths, starting with /")
        scenes[re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-") or "root"] = path_scene(path, args.anonymous)

    log = (out / "server.log").open("w")
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],  # noqa: S603
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(150):
            try:
                if requests.get(f"{base}/t/{SLUG}/.well-known/openid-configuration", timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            raise SystemExit(f"the server did not come up; see {out / 'server.log'}")
        shoot(scenes, base, args.languages or ["en", "de"], out)
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


if __name__ == "__main__":
    main()
