"""A throwaway Redis server in a temporary directory, for tests and benchmarks.

Configured the way Tessera's audit spool needs Redis in production: append-only file on,
fsync before every reply (``appendfsync always``), so a spooled event survives a crash.
Listens on a Unix socket only.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class RedisServer:
    root: Path
    process: subprocess.Popen

    @property
    def socket(self) -> Path:
        return self.root / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def start_redis(*, appendfsync: str = "always", cpus: str | None = None) -> RedisServer:
    """Start redis-server; raises RuntimeError when it is not installed or does not come up."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found (apt-get install redis-server).")
    root = Path(tempfile.mkdtemp(prefix="tessera-redis-"))
    args = [binary, "--port", "0", "--unixsocket", str(root / "redis.sock"), "--unixsocketperm", "700",
            "--dir", str(root), "--appendonly", "yes", "--appendfsync", appendfsync,
            "--save", "", "--daemonize", "no", "--logfile", str(root / "log")]
    pin = ["taskset", "-c", cpus] if cpus else []
    process = subprocess.Popen(pin + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RedisServer(root=root, process=process)
    for _ in range(100):
        if server.socket.exists():
            return server
        if process.poll() is not None:
            break
        time.sleep(0.05)
    log = (root / "log").read_text() if (root / "log").exists() else ""
    server.stop()
    raise RuntimeError(f"redis-server did not start: {log[-500:]}")
