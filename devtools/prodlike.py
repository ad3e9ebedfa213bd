#!/usr/bin/env python3
"""Tessera's production topology on loopback, from Debian packages: `make prod-like`.

    python devtools/prodlike.py            # start everything, run the checks, serve until Ctrl-C
    python devtools/prodlike.py --check    # start, run the checks, stop; exit 1 on a failure

What runs (docker/compose.yaml is the same topology in containers):

- PostgreSQL (devtools/pgcluster.py), its roles made by docker/initdb/10-tessera-roles.sh: the
  owner migrates (the release step), the application role serves (README, Database roles);
- pgbouncer in transaction pooling mode in front of it: every process of the application reaches
  PostgreSQL through it (row-level security's tenant is a transaction-local setting, tenants/db.py,
  which is what makes that safe);
- Redis with ``appendonly yes`` and ``appendfsync always`` (the audit spool needs it), a password,
  no eviction: cache (db 0), audit spool (db 1), Celery broker (db 2);
- N gunicorn web nodes on settings.production, each on its own port; a Celery worker, beat and
  the audit shipper (``manage.py ship_audit``);
- nginx in front, running docker/nginx.conf, serving HTTPS with a certificate made here under a
  throwaway CA, forwarding X-Forwarded-For and X-Forwarded-Proto, round robin over the nodes.

Tests use it as a context manager (tests/prodlike, tests/faults)::

    with ProdLike(web_nodes=2) as pl:
        demo = pl.provision("acme")
        requests.get(pl.issuer("acme") + "/.well-known/openid-configuration", verify=pl.ca_file)
        pl.restart("redis"); pl.kill("web0", signal.SIGKILL); pl.start("web0")

Runs as root (CI) or not: as root PostgreSQL and pgbouncer run as the ``postgres`` user (neither
will run as root) and nginx's workers as ``www-data``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import ipaddress
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devtools.pgcluster import Cluster, start_cluster  # noqa: E402

NGINX_CONF = ROOT / "docker" / "nginx.conf"
INITDB_SCRIPT = ROOT / "docker" / "initdb" / "10-tessera-roles.sh"
HOST = "localhost"  # the public host name; the certificate names it and 127.0.0.1
OWNER_ROLE, APP_ROLE = "tessera_owner", "tessera_app"
DATABASE = "tessera"
# A second pgbouncer database on the same PostgreSQL database with two server connections only,
# for showing that many clients sharing them never see each other's tenant (tests/prodlike).
NARROW_DATABASE, NARROW_POOL_SIZE = "tessera_narrow", 2
WEB_REDIRECT = "https://rp.example.test/callback"
NATIVE_REDIRECT = "http://127.0.0.1/callback"
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _python() -> str:
    return sys.executable


def _gunicorn_hooks() -> list[str]:
    """gunicorn's config module with the Prometheus multiprocess hooks (core/gunicorn_hooks.py),
    when this checkout has it."""
    return ["--config", "python:core.gunicorn_hooks"] if (ROOT / "core" / "gunicorn_hooks.py").exists() else []


# -- the certificate ---------------------------------------------------------------------------

def make_certificates(directory: Path, host: str = HOST) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate it signs for ``host`` and 127.0.0.1.

    Returns (ca.crt, tls.crt, tls.key). The CA's private key is never written: nothing else
    can ever be signed with it.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tessera prod-like throwaway CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName(host), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = directory / "ca.crt", directory / "tls.crt", directory / "tls.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.touch(mode=0o600)
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_file, cert_file, key_file


# -- nginx: docker/nginx.conf, rendered for loopback ----------------------------------------------

def render_nginx_conf(*, https_port: int, http_port: int, upstreams: list[str], cert_dir: Path,
                      prefix: Path, worker_user: str | None, pinned: dict[int, str] | None = None) -> str:
    """docker/nginx.conf with what differs on loopback replaced; the rest is served as written.

    Each replaced line must occur in docker/nginx.conf exactly as expected, so the two can never
    drift apart silently. ``pinned`` maps extra https ports to one upstream each (tests pin a
    request to one web node through nginx and TLS); docker/nginx.conf has no such servers.
    """
    text = NGINX_CONF.read_text()
    servers = "\n".join(f"        server {address};" for address in upstreams)
    replacements: list[tuple[str, str, int]] = [
        ("user nginx;\n", f"user {worker_user};\n" if worker_user else "", 1),
        ("pid /tmp/nginx.pid;", f"pid {prefix}/nginx.pid;", 1),
        ("        server web:8000;", servers, 1),
        ("        listen 80;", f"        listen 127.0.0.1:{http_port};", 1),
        ("return 301 https://$host$request_uri;", f"return 301 https://$host:{https_port}$request_uri;", 1),
        ("        listen 443 ssl;", f"        listen 127.0.0.1:{https_port} ssl;", 1),
        ("/etc/nginx/certs/", f"{cert_dir}/", 2),
        # Scratch space the Debian paths would need root for.
        ("http {\n", "http {\n" + "".join(
            f"    {kind}_temp_path {prefix}/scratch/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")), 1),
    ]
    for old, new, count in replacements:
        found = text.count(old)
        if found != count:
            raise RuntimeError(f"docker/nginx.conf: expected {old.strip()!r} {count} time(s), found {found}")
        text = text.replace(old, new)
    if pinned:
        extra = "".join(
            f"\n    # prodlike only: port {port} reaches {address} alone (tests pin a node).\n"
            f"    server {{\n        listen 127.0.0.1:{port} ssl;\n"
            f"        ssl_certificate {cert_dir}/tls.crt;\n        ssl_certificate_key {cert_dir}/tls.key;\n"
            f"        location / {{\n            proxy_pass http://{address};\n        }}\n    }}\n"
            for port, address in pinned.items())
        closing = text.rstrip().rfind("}")
        text = text[:closing] + extra.lstrip("\n") + "}\n"
    return text


# -- services --------------------------------------------------------------------------------------

@dataclass
class Service:
    """One process of the topology (PostgreSQL aside: pg_ctl runs it)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    ready: Callable[[], bool]
    ready_timeout: float = 60.0
    stop_signal: int = signal.SIGTERM
    process: subprocess.Popen | None = None

    def spawn(self) -> None:
        with open(self.log, "ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} start: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Demo:
    """What ``ProdLike.provision`` made: a tenant, its user and three clients (secrets shown once)."""

    slug: str
    issuer: str
    username: str
    password: str
    web_client_id: str  # confidential: code + refresh + client credentials, first party (no consent)
    web_client_secret: str
    web_redirect_uri: str
    native_client_id: str  # public, PKCE only, native app with a loopback redirect
    native_redirect_uri: str
    admin_client_id: str  # confidential, client credentials with admin:read and admin:write
    admin_client_secret: str
    jwt_client_id: str  # confidential, client credentials, RFC 9068 JWT access tokens signed ES256
    jwt_client_secret: str

    def basic(self, client: str = "web") -> str:
        """The Authorization header value of the confidential ``web``, ``admin`` or ``jwt`` client."""
        client_id, secret = {"web": (self.web_client_id, self.web_client_secret),
                             "admin": (self.admin_client_id, self.admin_client_secret),
                             "jwt": (self.jwt_client_id, self.jwt_client_secret)}[client]
        return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@dataclass
class ProdLike:
    """The topology on loopback; a context manager (``with ProdLike() as pl``) or start()/close()."""

    web_nodes: int = 2
    gunicorn_workers: int = 2
    lookup_cache_seconds: int = 5
    extra_env: dict[str, str] = field(default_factory=dict)
    quiet: bool = True
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tessera-prodlike-")))

    def __post_init__(self) -> None:
        self.as_root = os.geteuid() == 0
        os.chmod(self.root, 0o755)  # noqa: S103 (postgres and nginx's workers reach their directories inside)
        self.logs_dir = self.root / "logs"
        self.logs_dir.mkdir()
        self.https_port = _free_port()
        self.http_port = _free_port()
        self.web_ports = [_free_port() for _ in range(self.web_nodes)]
        self.pinned_ports = [_free_port() for _ in range(self.web_nodes)]
        self.redis_port = _free_port()
        self.pgbouncer_port = _free_port()
        self.owner_password = secrets.token_urlsafe(24)
        self.app_password = secrets.token_urlsafe(24)
        self.redis_password = secrets.token_urlsafe(24)
        self.metrics_token = secrets.token_urlsafe(32)  # Prometheus's bearer token for /metrics
        self.cluster: Cluster | None = None
        self.services: dict[str, Service] = {}
        self.env: dict[str, str] = {}
        self.timings: dict[str, float] = {}

    # -- addresses -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The public base URL: nginx, https."""
        return f"https://{HOST}:{self.https_port}"

    def issuer(self, slug: str) -> str:
        return f"{self.url}/t/{slug}"

    def node_url(self, i: int) -> str:
        """Node i's gunicorn, plain http, as nginx reaches it. Send ``X-Forwarded-Proto: https``
        (``FORWARDED_HTTPS``) as nginx does, or production answers with a redirect to https."""
        return f"http://127.0.0.1:{self.web_ports[i]}"

    def pinned_url(self, i: int) -> str:
        """https through nginx to node i alone (same certificate, same headers, another port).

        Cookies are per host, not per port, so one requests.Session signed in through ``url``
        is signed in here too."""
        return f"https://{HOST}:{self.pinned_ports[i]}"

    @property
    def ca_file(self) -> str:
        return str(self.root / "tls" / "ca.crt")

    @property
    def redis_url(self) -> str:
        """Redis, database 0 (the cache); the audit spool is /1, the Celery broker /2."""
        return self._redis_url(0)

    def _redis_url(self, db: int) -> str:
        return f"redis://:{self.redis_password}@127.0.0.1:{self.redis_port}/{db}"

    @property
    def database_url(self) -> str:
        """The application role through pgbouncer, as every process of the application connects."""
        return self._pgbouncer_url(DATABASE)

    @property
    def narrow_database_url(self) -> str:
        """The application role through pgbouncer's pool of two server connections."""
        return self._pgbouncer_url(NARROW_DATABASE)

    def _pgbouncer_url(self, database: str) -> str:
        return (f"postgres://{APP_ROLE}:{self.app_password}@127.0.0.1:{self.pgbouncer_port}/{database}"
                "?disable_server_side_cursors=true")

    @property
    def owner_database_url(self) -> str:
        """The owner role, straight to PostgreSQL's socket (migrations, the audit purge)."""
        return self._cluster.url(DATABASE, user=OWNER_ROLE, password=self.owner_password)

    @property
    def names(self) -> list[str]:
        return ["postgres", "pgbouncer", "redis", *self.services_of_the_app(), "nginx"]

    def services_of_the_app(self) -> list[str]:
        return [*(f"web{i}" for i in range(self.web_nodes)), "worker", "beat", "shipper"]

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> ProdLike:
        try:
            return self.start_all()
        except BaseException:
            self.close()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _timed(self, label: str, started: float) -> None:
        self.timings[label] = round(time.monotonic() - started, 2)
        if not self.quiet:
            print(f"  {label}: {self.timings[label]:.1f} s", flush=True)

    def start_all(self) -> ProdLike:
        """Bring the whole topology up, in dependency order; raise with the log of what failed."""
        for tool in ("nginx", "pgbouncer", "redis-server", "psql"):
            if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
                raise RuntimeError(f"{tool} not found (apt-get install nginx pgbouncer redis-server postgresql)")
        begun = time.monotonic()
        secrets_run = subprocess.Popen([_python(), "manage.py", "generate_secrets"], cwd=ROOT,
                                       env={**self._base_env(), "DJANGO_SETTINGS_MODULE": "settings.dev"},
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        make_certificates(self.root / "tls")
        self._define_redis()
        self.start("redis")
        started = time.monotonic()
        self.cluster = start_cluster(extra_conf={"timezone": "'UTC'", "max_connections": "100"})
        self._create_roles()
        self._timed("postgres", started)
        self._define_pgbouncer()
        self.start("pgbouncer")
        out, err = secrets_run.communicate(timeout=60)
        if secrets_run.returncode != 0:
            raise RuntimeError(f"generate_secrets failed: {err}")
        generated = dict(line.split("=", 1) for line in out.split() if "=" in line)
        self.env = self._app_env(generated)
        started = time.monotonic()
        migrate = subprocess.Popen([_python(), "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT,
                                   env={**self.env, "DATABASE_URL": self.owner_database_url},
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        static = subprocess.Popen([_python(), "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT,
                                  env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for step, proc in (("migrate", migrate), ("collectstatic", static)):
            output = proc.communicate(timeout=300)[0]
            if proc.returncode != 0:
                raise RuntimeError(f"{step} failed:\n{output[-3000:]}")
        self._timed("migrate+collectstatic", started)
        started = time.monotonic()
        self._define_app_services()
        self._define_nginx()
        self._start_many([*self.services_of_the_app(), "nginx"])
        self._timed("application up", started)
        self.timings["total"] = round(time.monotonic() - begun, 2)
        return self

    def close(self) -> None:
        """Stop everything and remove the directory (logs included). The application's
        processes stop together, then what they used."""
        for group in (["nginx"], self.services_of_the_app(), ["pgbouncer", "redis"]):
            stoppers = [threading.Thread(target=self._stop_quietly, args=(name,))
                        for name in group if name in self.services]
            for stopper in stoppers:
                stopper.start()
            for stopper in stoppers:
                stopper.join()
        if self.cluster is not None:
            self.cluster.stop()  # also removes its directory
        shutil.rmtree(self.root, ignore_errors=True)

    def _stop_quietly(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self.stop(name)

    # -- one service ---------------------------------------------------------------------------
    def _service(self, name: str) -> Service:
        if name not in self.services:
            raise KeyError(f"no service {name!r}; there are {', '.join(self.names)}")
        return self.services[name]

    def start(self, name: str) -> None:
        """Start a stopped (or killed) service and wait until it is ready."""
        self._start_many([name])

    def _start_many(self, names: list[str]) -> None:
        for name in names:
            if name == "postgres":
                self._pg_ctl("start", "-w", "-t", "60", "-l", str(self._cluster.root / "log"))
                continue
            service = self._service(name)
            if service.running():
                continue
            if service.process is not None:  # stopped or killed: reap it, and what it left behind
                service.process.wait()
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(service.process.pid, signal.SIGKILL)
            service.spawn()
        for name in names:
            if name != "postgres":
                self._wait_ready(self._service(name))

    def _wait_ready(self, service: Service) -> None:
        deadline = time.monotonic() + service.ready_timeout
        while time.monotonic() < deadline:
            if not service.running():
                raise RuntimeError(f"{service.name} exited while starting:\n{self.logs(service.name)[-3000:]}")
            with contextlib.suppress(Exception):
                if service.ready():
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{service.name} not ready after {service.ready_timeout:.0f} s:\n"
                           f"{self.logs(service.name)[-3000:]}")

    def stop(self, name: str, timeout: float = 20.0) -> None:
        """Stop a service the way its operator would (SIGTERM: gunicorn and Celery finish what
        they are doing; PostgreSQL: fast shutdown, data kept)."""
        if name == "postgres":
            if self.cluster is not None:
                self._pg_ctl("stop", "-m", "fast", "-w", "-t", "60", check=False)
            return
        service = self._service(name)
        if service.process is None or not service.running():
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(service.process.pid, service.stop_signal)
        try:
            service.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait(timeout=10)
        # What the service started (gunicorn's workers, Celery's pool) goes with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.process.pid, signal.SIGKILL)

    def restart(self, name: str) -> None:
        self.stop(name)
        self.start(name)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the service's main process (PostgreSQL: the postmaster) without waiting.

        SIGKILL of a web node kills its master only; its workers notice within a second or so
        and exit. ``start(name)`` brings a killed service back."""
        os.kill(self.pid(name), sig)

    def pid(self, name: str) -> int:
        """The main process id: gunicorn's master, Celery's parent, the postmaster, ..."""
        if name == "postgres":
            return int((self._cluster.datadir / "postmaster.pid").read_text().split()[0])
        service = self._service(name)
        if service.process is None:
            raise RuntimeError(f"{name} was never started")
        return service.process.pid

    def running(self, name: str) -> bool:
        if name == "postgres":
            result = subprocess.run(self._cluster._cmd(str(self._cluster.bin_dir / "pg_ctl"), "-D",
                                                       str(self._cluster.datadir), "status"),
                                    capture_output=True)
            return result.returncode == 0
        return self._service(name).running()

    def logs(self, name: str) -> str:
        """What the service wrote (stdout and stderr), from every start."""
        path = self._cluster.root / "log" if name == "postgres" else self._service(name).log
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def _cluster(self) -> Cluster:
        if self.cluster is None:
            raise RuntimeError("PostgreSQL is not started")
        return self.cluster

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        cluster = self._cluster
        subprocess.run(cluster._cmd(str(cluster.bin_dir / "pg_ctl"), "-D", str(cluster.datadir), *args),
                       check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # -- the application's commands ------------------------------------------------------------
    def manage(self, *args: str, env: dict[str, str] | None = None, check: bool = True,
               timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``manage.py ARGS`` with the production environment (the application role through
        pgbouncer); raises with its output when it fails and ``check`` is on."""
        result = subprocess.run([_python(), "manage.py", *args], cwd=ROOT, env={**self.env, **(env or {})},
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} exited {result.returncode}:\n"
                               f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
        return result

    def provision(self, slug: str, *, policy: dict[str, Any] | None = None) -> Demo:
        """A tenant with a user, a confidential web client, a PKCE public (native) client, an
        admin API client and a JWT-access-token service client, made through the services the
        operators' commands use.

        ``policy``: security-policy fields to set (risk step-up is off by default here, as in the
        test suite: a fresh scripted browser would otherwise be asked for an emailed code)."""
        result = subprocess.run(
            [_python(), str(Path(__file__)), "--provision-inside", slug, json.dumps(policy or {})],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"provisioning {slug} failed:\n{result.stderr[-3000:]}")
        made = json.loads(result.stdout.strip().splitlines()[-1])
        return Demo(issuer=self.issuer(slug), **made)

    def check_deploy(self) -> subprocess.CompletedProcess[str]:
        """``check --deploy --fail-level WARNING`` as the application role, database checks included."""
        return self.manage("check", "--deploy", "--fail-level", "WARNING", "--database", "default", check=False)

    def session(self) -> requests.Session:
        """A requests session trusting the throwaway CA (only: REQUESTS_CA_BUNDLE and proxy
        variables of the environment are ignored, since they would override it)."""
        http = requests.Session()
        http.trust_env = False
        http.verify = self.ca_file
        return http

    # -- definitions ---------------------------------------------------------------------------
    def _base_env(self) -> dict[str, str]:
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "VIRTUAL_ENV")
        return {**{k: v for k, v in os.environ.items() if k in keep}, "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(ROOT)}

    def _app_env(self, generated: dict[str, str]) -> dict[str, str]:
        return {
            **self._base_env(),
            "DJANGO_SETTINGS_MODULE": "settings.production",
            "SECRET_KEY": generated["SECRET_KEY"],
            "TESSERA_KEY_ENCRYPTION_KEY": generated["TESSERA_KEY_ENCRYPTION_KEY"],
            "TESSERA_PUBLIC_URL": self.url,
            "ALLOWED_HOSTS": f"{HOST},127.0.0.1",
            "DATABASE_URL": self.database_url,
            "DB_CONN_MAX_AGE": "60",
            "TESSERA_DATABASE_APP_ROLE": APP_ROLE,
            "REDIS_URL": self._redis_url(0),
            "TESSERA_AUDIT_SPOOL_URL": self._redis_url(1),
            "CELERY_BROKER_URL": self._redis_url(2),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "TESSERA_TRUSTED_PROXY_COUNT": "1",  # nginx
            "TESSERA_METRICS_TOKEN": self.metrics_token,
            "TESSERA_LOOKUP_CACHE_SECONDS": str(self.lookup_cache_seconds),
            "STATIC_ROOT": str(self.root / "static"),
            "LOG_LEVEL": "INFO",
            **self.extra_env,
        }

    def _log(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def _define_redis(self) -> None:
        """Redis as docker/compose.yaml runs it (the spool's durability: appendfsync always).

        Not devtools/redisserver.py's server: that one removes its directory when stopped, and a
        restart here must find its append-only file again ("nothing lost when Redis returns")."""
        data = self.root / "redis"
        data.mkdir()
        binary = shutil.which("redis-server") or "redis-server"
        argv = [binary, "--bind", "127.0.0.1", "--port", str(self.redis_port), "--protected-mode", "yes",
                "--requirepass", self.redis_password, "--dir", str(data), "--appendonly", "yes",
                "--appendfsync", "always", "--save", "", "--maxmemory-policy", "noeviction",
                "--daemonize", "no", "--logfile", ""]

        def ready() -> bool:
            import redis

            client = redis.Redis.from_url(self._redis_url(0), socket_timeout=1)
            try:
                return bool(client.ping())
            finally:
                client.close()

        self.services["redis"] = Service("redis", argv, self._base_env(), self._log("redis"), ready)

    def _create_roles(self) -> None:
        """The roles and database, by the very script the PostgreSQL container runs once."""
        cluster = self._cluster
        env = {**self._base_env(), "POSTGRES_USER": cluster.superuser, "PGHOST": str(cluster.socket_dir),
               "PGPORT": str(cluster.port), "TESSERA_OWNER_PASSWORD": self.owner_password,
               "TESSERA_APP_PASSWORD": self.app_password,
               "PATH": f"{cluster.bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
        subprocess.run(["sh", str(INITDB_SCRIPT)], env=env, check=True, capture_output=True)

    def _define_pgbouncer(self) -> None:
        cluster = self._cluster
        directory = self.root / "pgbouncer"
        directory.mkdir()
        backend = f"host={cluster.socket_dir} port={cluster.port} dbname={DATABASE}"
        # Plain passwords in the auth file let pgbouncer answer SCRAM itself (its docs,
        # "Authentication file format"); the file is readable by its user only.
        userlist = directory / "userlist.txt"
        userlist.touch(mode=0o600)
        userlist.write_text(f'"{APP_ROLE}" "{self.app_password}"\n"{OWNER_ROLE}" "{self.owner_password}"\n')
        (directory / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"{DATABASE} = {backend}\n"
            f"{NARROW_DATABASE} = {backend} pool_size={NARROW_POOL_SIZE}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.pgbouncer_port}\nunix_socket_dir =\n"
            f"auth_type = scram-sha-256\nauth_file = {userlist}\n"
            # Transaction pooling: a server connection serves a client for one transaction.
            "pool_mode = transaction\ndefault_pool_size = 20\nmax_client_conn = 1000\n"
            "ignore_startup_parameters = extra_float_digits\n"
            # After a failed server login (PostgreSQL restarting), try again after 1 s, not the
            # default 15 s: meanwhile every client is answered "server login has been failing",
            # and one already waiting for a server is held until the next try.
            "server_login_retry = 1\n"
            f"logfile =\npidfile =\n")
        argv = ["pgbouncer"]
        if self.as_root:  # pgbouncer refuses to run as root; -u switches user after reading its files
            shutil.chown(directory, user="postgres")
            shutil.chown(userlist, user="postgres")
            argv += ["-u", "postgres"]
        argv.append(str(directory / "pgbouncer.ini"))

        def ready() -> bool:
            import psycopg

            with psycopg.connect(host="127.0.0.1", port=self.pgbouncer_port, dbname=DATABASE, user=APP_ROLE,
                                 password=self.app_password, connect_timeout=2) as conn:
                return conn.execute("SELECT 1").fetchone() == (1,)

        self.services["pgbouncer"] = Service("pgbouncer", argv, self._base_env(), self._log("pgbouncer"), ready)

    def _define_app_services(self) -> None:
        py = _python()
        for i, port in enumerate(self.web_ports):
            name = f"web{i}"
            env = dict(self.env)
            if _gunicorn_hooks():
                metrics_dir = self.root / f"metrics-{name}"
                metrics_dir.mkdir(exist_ok=True)
                env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
            argv = [py, "-m", "gunicorn", "settings.wsgi", "--bind", f"127.0.0.1:{port}",
                    "--workers", str(self.gunicorn_workers), "--worker-class", "sync", "--timeout", "30",
                    "--graceful-timeout", "10", "--access-logfile", "-", *_gunicorn_hooks()]
            self.services[name] = Service(name, argv, env, self._log(name), self._http_ready(port))
        self.services["worker"] = Service(
            "worker", [py, "-m", "celery", "-A", "settings.celery", "worker", "--loglevel", "INFO",
                       "--concurrency", "2", "--hostname", "worker@prodlike"],
            {**self.env, "DATABASE_PURGE_URL": self.owner_database_url}, self._log("worker"),
            self._log_says("worker", "ready."))
        self.services["beat"] = Service(
            "beat", [py, "-m", "celery", "-A", "settings.celery", "beat", "--loglevel", "INFO",
                     "--schedule", str(self.root / "celerybeat-schedule")],
            self.env, self._log("beat"), self._log_says("beat", "beat: Starting"))
        self.services["shipper"] = Service(
            "shipper", [py, "manage.py", "ship_audit"], self.env, self._log("shipper"),
            self._log_says("shipper", "shipping audit events as"))

    def _http_ready(self, port: int) -> Callable[[], bool]:
        def ready() -> bool:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        return ready

    def _log_says(self, name: str, text: str) -> Callable[[], bool]:
        """Ready once this start's part of the log says ``text``."""
        def ready() -> bool:
            tail = self.logs(name).rsplit("\n--- ", 1)[-1]
            return text in tail
        return ready

    def _define_nginx(self) -> None:
        prefix = self.root / "nginx"
        worker_user = None
        if self.as_root:
            worker_user = "www-data" if _user_exists("www-data") else "nobody"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (prefix / "scratch" / kind).mkdir(parents=True, exist_ok=True)
            if worker_user:
                shutil.chown(prefix / "scratch" / kind, user=worker_user)
        conf = prefix / "nginx.conf"
        conf.write_text(render_nginx_conf(
            https_port=self.https_port, http_port=self.http_port,
            upstreams=[f"127.0.0.1:{port}" for port in self.web_ports], cert_dir=self.root / "tls",
            prefix=prefix, worker_user=worker_user,
            pinned=dict(zip(self.pinned_ports, (f"127.0.0.1:{port}" for port in self.web_ports), strict=True))))
        argv = [_nginx_binary(), "-p", str(prefix), "-c", str(conf), "-e", "stderr", "-g", "daemon off;"]

        def ready() -> bool:
            return requests.get(f"{self.url}/healthz", verify=self.ca_file, timeout=2).status_code == 200

        # SIGQUIT: nginx's graceful shutdown (requests in flight finish).
        self.services["nginx"] = Service("nginx", argv, self._base_env(), self._log("nginx"), ready,
                                         stop_signal=signal.SIGQUIT)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _nginx_binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


FORWARDED_HTTPS = {"X-Forwarded-Proto": "https"}


# -- provisioning, inside Django ---------------------------------------------------------------

def _provision_inside(slug: str, policy: dict[str, Any]) -> None:
    """Run with the production environment by ProdLike.provision: print one JSON line."""
    import django

    django.setup()
    from accounts.services import create_user
    from idp.models import AccessTokenFormat, GrantType
    from idp.services.clients import create_client
    from tenants.context import tenant_context
    from tenants.services import create_tenant, update_policy

    tenant = create_tenant(slug, f"{slug.title()} (prod-like)")
    update_policy(tenant, **{"risk_step_up_threshold": 100, **policy})
    password = secrets.token_urlsafe(18)
    with tenant_context(tenant):
        create_user(username="alice", email=f"alice@{slug}.example", password=password, email_verified=True,
                    first_name="Alice", last_name="Liddell")
        web = create_client(
            name="Web app", confidential=True, first_party=True, redirect_uris=[WEB_REDIRECT],
            grant_types=[GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN, GrantType.CLIENT_CREDENTIALS])
        native = create_client(
            name="Native app", confidential=False, redirect_uris=[NATIVE_REDIRECT], application_type="native",
            grant_types=[GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN])
        admin = create_client(name="Automation", confidential=True, redirect_uris=[],
                              grant_types=[GrantType.CLIENT_CREDENTIALS],
                              admin_scopes=["admin:read", "admin:write"])
        machine = create_client(name="Service (JWT)", confidential=True, redirect_uris=[],
                                grant_types=[GrantType.CLIENT_CREDENTIALS], algorithm="ES256",
                                access_token_format=AccessTokenFormat.JWT)
    print(json.dumps({
        "slug": slug, "username": "alice", "password": password,
        "web_client_id": web.application.client_id, "web_client_secret": web.client_secret,
        "web_redirect_uri": WEB_REDIRECT,
        "native_client_id": native.application.client_id, "native_redirect_uri": NATIVE_REDIRECT,
        "admin_client_id": admin.application.client_id, "admin_client_secret": admin.client_secret,
        "jwt_client_id": machine.application.client_id, "jwt_client_secret": machine.client_secret,
    }))


# -- the OpenID flows, as a relying party would run them (the CLI's checks) ----------------------

def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _post_form(http: requests.Session, page: requests.Response, fields: dict[str, str]) -> requests.Response:
    """Submit the page's form the way a browser does: its CSRF token, and an Origin header (on
    https Django's CSRF check wants the Origin, or else the Referer, to name this host)."""
    token = CSRF_RE.search(page.text)
    if not token:
        raise AssertionError(f"no form on {page.url} ({page.status_code}): {page.text[:300]}")
    action = re.search(r'<form method="post" action="([^"]*)"', page.text)
    target = urljoin(page.url, action.group(1).replace("&amp;", "&")) if action and action.group(1) else page.url
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
    return http.post(target, data={"csrfmiddlewaretoken": token.group(1), **fields}, allow_redirects=False,
                     headers={"Origin": origin, "Referer": page.url})


def _follow(http: requests.Session, response: requests.Response, idp: str) -> requests.Response:
    """Follow redirects while they stay on the IdP; stop at the one leaving it (the callback)."""
    while response.is_redirect:
        target = urljoin(response.url, response.headers["Location"])
        if not target.startswith(idp):
            break
        response = http.get(target, allow_redirects=False)
    return response


def authorize(http: requests.Session, authorization_url: str, *, username: str, password: str) -> str:
    """Run an authorization request as a person at a browser would: sign in if asked, allow if
    the consent page comes, and return the URL the IdP finally redirects to (the client's)."""
    idp = "{0.scheme}://{0.netloc}".format(urlsplit(authorization_url))
    page = _follow(http, http.get(authorization_url, allow_redirects=False), idp)
    if 'name="username"' in page.text:
        page = _follow(http, _post_form(http, page, {"username": username, "password": password,
                                                     "next": _hidden(page.text, "next")}), idp)
    if 'name="allow"' in page.text:  # the consent page of a third-party client
        page = _follow(http, _post_form(http, page, {"allow": "1"}), idp)
    if not page.is_redirect:
        raise AssertionError(f"no redirect back to the client ({page.status_code} {page.url}): {page.text[:300]}")
    return urljoin(page.url, page.headers["Location"])


def sign_in_and_authorize(http: requests.Session, issuer: str, *, client_id: str, redirect_uri: str,
                          username: str, password: str, scope: str = "openid profile email",
                          authorization_endpoint: str | None = None) -> dict[str, str]:
    """The browser half of the code flow with PKCE: returns code, state, verifier, nonce, iss.

    ``authorization_endpoint`` overrides discovery's (a pinned node's address, for instance)."""
    verifier, challenge = _pkce()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    if authorization_endpoint is None:
        authorization_endpoint = http.get(f"{issuer}/.well-known/openid-configuration",
                                          timeout=10).json()["authorization_endpoint"]
    query = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
                       "scope": scope, "state": state, "nonce": nonce, "code_challenge": challenge,
                       "code_challenge_method": "S256"})
    callback = authorize(http, f"{authorization_endpoint}?{query}", username=username, password=password)
    params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    if params.get("state") != state or "code" not in params:
        raise AssertionError(f"unexpected authorization response: {sorted(params)}")
    return {"code": params["code"], "state": state, "verifier": verifier, "nonce": nonce,
            "iss": params.get("iss", "")}


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    return match.group(1).replace("&amp;", "&") if match else ""


def run_flows(pl: ProdLike, demo: Demo) -> list[str]:
    """The code flow with PKCE (public native client) and a client-credentials grant, through
    nginx over https verified against the throwaway CA. Returns what each step showed."""
    from jwcrypto import jwk, jwt

    shown: list[str] = []
    http = pl.session()
    metadata = http.get(f"{demo.issuer}/.well-known/openid-configuration", timeout=10).json()
    if metadata["issuer"] != demo.issuer or not metadata["issuer"].startswith("https://"):
        raise AssertionError(f"discovery names issuer {metadata['issuer']!r}, not {demo.issuer!r}")
    shown.append(f"discovery: issuer {metadata['issuer']}")
    grant = sign_in_and_authorize(http, demo.issuer, client_id=demo.native_client_id,
                                  redirect_uri=demo.native_redirect_uri, username=demo.username,
                                  password=demo.password)
    if grant["iss"] != demo.issuer:
        raise AssertionError(f"authorization response iss {grant['iss']!r}")
    tokens = http.post(metadata["token_endpoint"], data={
        "grant_type": "authorization_code", "code": grant["code"], "redirect_uri": demo.native_redirect_uri,
        "client_id": demo.native_client_id, "code_verifier": grant["verifier"]}, timeout=10)
    if tokens.status_code != 200:
        raise AssertionError(f"code exchange: {tokens.status_code} {tokens.text[:300]}")
    body = tokens.json()
    keys = jwk.JWKSet.from_json(http.get(metadata["jwks_uri"], timeout=10).text)
    claims = json.loads(jwt.JWT(jwt=body["id_token"], key=keys, algs=["RS256", "ES256"]).claims)
    if (claims["iss"], claims["aud"], claims["nonce"]) != (demo.issuer, demo.native_client_id, grant["nonce"]):
        raise AssertionError(f"ID token claims: iss {claims['iss']}, aud {claims['aud']}")
    userinfo = http.get(metadata["userinfo_endpoint"], timeout=10,
                        headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    if userinfo.get("sub") != claims["sub"]:
        raise AssertionError(f"userinfo: {userinfo}")
    shown.append(f"code flow with PKCE: signed in as {demo.username}, ID token verified against the JWKS, "
                 "userinfo answered")
    cc = http.post(metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                   headers={"Authorization": demo.basic("web")}, timeout=10)
    if cc.status_code != 200:
        raise AssertionError(f"client credentials: {cc.status_code} {cc.text[:300]}")
    introspected = http.post(metadata["introspection_endpoint"], data={"token": cc.json()["access_token"]},
                             headers={"Authorization": demo.basic("web")}, timeout=10).json()
    if introspected.get("active") is not True:
        raise AssertionError(f"introspection: {introspected}")
    shown.append("client credentials: token issued and introspected active")
    return shown


def run_checks(pl: ProdLike, demo: Demo) -> list[str]:
    """Everything `make prod-like` promises; returns the failures (empty: all good)."""
    failures: list[str] = []
    deploy = pl.check_deploy()
    if deploy.returncode != 0:
        failures.append(f"check --deploy:\n{deploy.stdout}{deploy.stderr}")
    else:
        print("  check --deploy --fail-level WARNING: clean", flush=True)
    http = pl.session()
    page = http.get(f"{demo.issuer}/login", timeout=10)
    hsts = page.headers.get("Strict-Transport-Security", "")
    insecure = [c.name for c in page.cookies if not c.secure]
    if "max-age=" not in hsts or insecure or not page.cookies:
        failures.append(f"login page: HSTS {hsts!r}, cookies not Secure: {insecure}")
    else:
        print(f"  HSTS: {hsts}; cookies Secure: {', '.join(c.name for c in page.cookies)}", flush=True)
    try:
        for line in run_flows(pl, demo):
            print(f"  {line}", flush=True)
    except (AssertionError, requests.RequestException, KeyError, ValueError) as exc:
        failures.append(f"OpenID flows: {exc}")
    return failures


@contextlib.contextmanager
def _interrupts_as_exit() -> Iterator[None]:
    """SIGTERM and SIGINT (Ctrl-C) stop the run: the services are stopped, the directory removed.
    SIGINT is handled explicitly too: a shell starting this in the background ignores it."""
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="run the checks, stop, exit 1 on a failure")
    parser.add_argument("--web-nodes", type=int, default=2)
    parser.add_argument("--tenant", default="demo", help="slug of the demo tenant (default demo)")
    parser.add_argument("--provision-inside", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.provision_inside:
        _provision_inside(args.provision_inside[0], json.loads(args.provision_inside[1]))
        return 0
    print(f"Starting Tessera's production topology on loopback ({args.web_nodes} web nodes) ...", flush=True)
    with _interrupts_as_exit():
        try:
            with ProdLike(web_nodes=args.web_nodes, quiet=False) as pl:
                print(f"  up in {pl.timings['total']:.1f} s", flush=True)
                demo = pl.provision(args.tenant)
                failures = run_checks(pl, demo)
                if failures:
                    for failure in failures:
                        print(f"FAILED: {failure}", file=sys.stderr)
                    return 1
                if args.check:
                    print("All checks passed.")
                    return 0
                _print_welcome(pl, demo)
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            print("\nStopped; everything it started is gone.")
            return 0


def _print_welcome(pl: ProdLike, demo: Demo) -> None:
    nodes = ", ".join(f"web{i} {pl.node_url(i)}" for i in range(pl.web_nodes))
    print(f"""
Tessera is serving, as deployed: nginx (TLS) -> {pl.web_nodes} gunicorn nodes -> pgbouncer -> PostgreSQL; Redis;
a Celery worker, beat and the audit shipper.

  Issuer           {demo.issuer}
  Discovery        {demo.issuer}/.well-known/openid-configuration
  CA certificate   {pl.ca_file}   (curl --cacert ..., or import it to trust the site)
  Sign in          {demo.username} / {demo.password}
  Web client       {demo.web_client_id} / {demo.web_client_secret}  (redirect {demo.web_redirect_uri})
  Native client    {demo.native_client_id}  (public, PKCE; redirect {demo.native_redirect_uri})
  Admin client     {demo.admin_client_id} / {demo.admin_client_secret}  (admin:read admin:write)
  Service client   {demo.jwt_client_id} / {demo.jwt_client_secret}  (client credentials, JWT access tokens)
  Nodes            {nodes}
  Logs             {pl.logs_dir}

  curl --cacert {pl.ca_file} -u {demo.web_client_id}:{demo.web_client_secret} \\
       -d grant_type=client_credentials {demo.issuer}/token

Ctrl-C stops every process and removes {pl.root}.""", flush=True)


if __name__ == "__main__":
    sys.exit(main())
