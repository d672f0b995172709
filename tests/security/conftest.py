"""Fixtures of the hostile-input tests: a listener that records who connects to it, and a real
`labelbay serve` process whose own memory counters can be read."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.serving import free_port, wait_until_healthy
from tests.api.conftest import spool_dir  # noqa: F401 - the same fixture for upload tests here

# Most of these tests are about the HTTP layer, which is the same on both stacks.
EMBEDDED = pytest.mark.parametrize("stack_urls", ["embedded"], indirect=True)


@dataclass
class Listener:
    """A TCP socket on loopback that accepts connections and keeps what each one sent first."""

    host: str
    port: int
    received: list[bytes] = field(default_factory=list)

    @property
    def url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host


def _listen(family: socket.AddressFamily, host: str) -> Iterator[Listener]:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen(16)
    sock.settimeout(0.2)
    listener = Listener(host, sock.getsockname()[1])
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    listener.received.append(conn.recv(65536))
                except OSError:
                    listener.received.append(b"")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()


@pytest.fixture
def listener_v4() -> Iterator[Listener]:
    yield from _listen(socket.AF_INET, "127.0.0.1")


@pytest.fixture
def listener_v6() -> Iterator[Listener]:
    yield from _listen(socket.AF_INET6, "::1")


@dataclass
class ServerProcess:
    """`labelbay serve` in its own process, on loopback."""

    process: subprocess.Popen[bytes]
    base_url: str
    env: dict[str, str]
    cwd: Path

    def status(self, key: str) -> int:
        """A memory figure of the server process from /proc (kB), e.g. VmHWM (peak) or VmRSS."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
        raise KeyError(key)

    def reset_peak(self) -> None:
        """Start VmHWM again from the current RSS (Linux: write 5 to clear_refs)."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")


def start_server(tmp_path: Path, **env: str) -> ServerProcess:
    tmp_path.mkdir(parents=True, exist_ok=True)
    port = free_port()
    values = {
        **os.environ,
        "LABELBAY_ENVIRONMENT": "test",
        "LABELBAY_DATABASE_URL": f"sqlite:///{tmp_path}/labelbay.db",
        "LABELBAY_STORAGE_URL": f"file://{tmp_path}/objects",
        "LABELBAY_MODEL_CACHE_DIR": str(tmp_path / "model-cache"),
        "LABELBAY_LOG_LEVEL": "WARNING",
        "LABELBAY_PORT": str(port),
        **env,
    }
    command = [str(Path(sys.executable).parent / "labelbay"), "serve"]
    process = subprocess.Popen(command, env=values, cwd=tmp_path)
    server = ServerProcess(process, f"http://127.0.0.1:{port}", values, tmp_path)
    try:
        wait_until_healthy(server.base_url)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return server


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    server = start_server(tmp_path)
    try:
        yield server
    finally:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
