"""Services that can be taken away and given back, for the fault tests (tests/faults, issue 15).

devtools.redisserver's server deletes its directory when it stops, and devtools.pgcluster's
cluster is stopped for good; a fault test needs the same service back on the same address
with the same data, so that the application (which is never restarted) finds it again:

- ``RestartableRedis``: redis-server on a Unix socket with its append-only file
  (``appendfsync always``, as the audit spool needs) in a directory that outlives a stop;
  ``stop()`` ends it (SIGTERM: Redis finishes its fsyncs), ``start()`` brings it back with
  its data, ``pause()``/``resume()`` make it hang without closing connections (SIGSTOP).
- ``stop_postgres``/``start_postgres``: pg_ctl on a running devtools.pgcluster.Cluster, with
  the data directory kept (``-m fast``: clients are disconnected, as in a restart).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from devtools.pgcluster import Cluster


@dataclass
class RestartableRedis:
    """A redis-server that can be stopped and started again on the same socket and data."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tessera-redis-")))
    process: subprocess.Popen | None = None

    @property
    def socket(self) -> Path:
        return self.root / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> RestartableRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found (apt-get install redis-server).")
        if self.running:
            return self
        args = [binary, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
                "--dir", str(self.root), "--appendonly", "yes", "--appendfsync", "always",
                "--save", "", "--daemonize", "no", "--logfile", str(self.root / "log")]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.socket.exists() and self._answers():
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
        raise RuntimeError(f"redis-server did not start: {log[-500:]}")

    def _answers(self) -> bool:
        import redis

        try:
            client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except redis.RedisError:  # still loading its append-only file
            return False

    def stop(self) -> None:
        """End the server; its socket goes away, its data stays for ``start``."""
        if self.process is None:
            return
        self.resume()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
        self.socket.unlink(missing_ok=True)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open and nothing answers."""
        if self.process is not None and self.running:
            os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None and self.running:
            os.kill(self.process.pid, signal.SIGCONT)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def stop_postgres(cluster: Cluster) -> None:
    """Stop the cluster's server, keeping its data: every client connection is cut."""
    subprocess.run(cluster._cmd(str(cluster.bin_dir / "pg_ctl"), "-D", str(cluster.datadir), "-m", "fast",
                                "-w", "-t", "60", "stop"),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def start_postgres(cluster: Cluster) -> None:
    """Start a stopped cluster's server again on the same socket and data."""
    subprocess.run(cluster._cmd(str(cluster.bin_dir / "pg_ctl"), "-D", str(cluster.datadir),
                                "-l", str(cluster.root / "log"), "-w", "-t", "60", "start"),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
