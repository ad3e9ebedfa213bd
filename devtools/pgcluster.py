"""A throwaway PostgreSQL cluster in a temporary directory (initdb + pg_ctl), for tests and benchmarks.

No root needed. When run as root (CI), the server runs as the `postgres` system user that
Debian's postgresql package creates, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


def find_pg_bin() -> Path | None:
    """Directory holding initdb/pg_ctl: $PG_BIN, PATH, or Debian's /usr/lib/postgresql/*/bin."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    """A running throwaway cluster; ``url(dbname)`` gives a DATABASE_URL over its Unix socket."""

    bin_dir: Path
    root: Path
    port: int
    superuser: str = "postgres"
    run_as: str | None = None
    extra_conf: dict[str, str] = field(default_factory=dict)
    cpus: str | None = None  # taskset CPU list for the server (benchmarks)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    def _cmd(self, *args: str) -> list[str]:
        return (["runuser", "-u", self.run_as, "--"] if self.run_as else []) + list(args)

    def start(self) -> Cluster:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self.run_as:
            shutil.chown(self.root, user=self.run_as)
            shutil.chown(self.socket_dir, user=self.run_as)
        subprocess.run(
            self._cmd(str(self.bin_dir / "initdb"), "-D", str(self.datadir), "-U", self.superuser,
                      "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        conf = {
            "listen_addresses": "''", "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": "200", "shared_buffers": "128MB", **self.extra_conf,
        }
        with open(self.datadir / "postgresql.conf", "a") as fh:
            fh.writelines(f"{k} = {v}\n" for k, v in conf.items())
        pin = ["taskset", "-c", self.cpus] if self.cpus else []
        subprocess.run(
            pin + self._cmd(str(self.bin_dir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.root / "log"),
                            "-w", "-t", "60", "start"),
            check=True, stdout=subprocess.DEVNULL,
        )
        return self

    def stop(self) -> None:
        subprocess.run(
            self._cmd(str(self.bin_dir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(self.root, ignore_errors=True)

    def psql(self, sql: str, dbname: str = "postgres", user: str | None = None) -> str:
        result = subprocess.run(
            [str(self.bin_dir / "psql"), "-h", str(self.socket_dir), "-p", str(self.port),
             "-U", user or self.superuser, "-d", dbname, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
            check=True, capture_output=True, text=True,
        )
        return result.stdout

    def url(self, dbname: str, user: str | None = None, password: str | None = None) -> str:
        auth = user or self.superuser
        if password:
            auth += f":{password}"
        return f"postgres://{auth}@/{dbname}?host={self.socket_dir}&port={self.port}"


def start_cluster(extra_conf: dict[str, str] | None = None, cpus: str | None = None) -> Cluster:
    """Start a new cluster; raises RuntimeError when PostgreSQL's binaries are not installed."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql).")
    run_as = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="tessera-pg-"))
    os.chmod(root, 0o755)  # noqa: S103 (the postgres user must reach its data directory inside)
    return Cluster(bin_dir=bin_dir, root=root, port=_free_port(), run_as=run_as,
                   extra_conf=extra_conf or {}, cpus=cpus).start()
