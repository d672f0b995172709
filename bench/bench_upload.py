"""Upload ingest: images/s for 1,000 small JPEGs, and the server's peak RSS during a 1 GiB batch.

The server is a real `labelbay serve` process on 127.0.0.1 (embedded defaults in a temp folder);
peak memory is the kernel's high-water mark of its resident set (VmHWM).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from bench.report import Row
from bench.serving import free_port, wait_until_healthy

EMAIL = "bench@example.com"
PASSWORD = "bench-password-1"


def _jpeg(width: int, height: int, seed: int, quality: int = 85) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    img = Image.fromarray(pixels).resize((width, height), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _noisy_jpeg(width: int, height: int) -> bytes:
    """Noise compresses badly: a few MB per file, so 1 GiB is a few hundred files."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=92)
    return buf.getvalue()


@contextmanager
def running_server(workdir: Path) -> Iterator[tuple[str, int]]:
    env = {
        **os.environ,
        "LABELBAY_RATE_LIMIT_ENABLED": "false",
        "LABELBAY_LOG_LEVEL": "WARNING",
        "LABELBAY_MAX_UPLOAD_BYTES": str(64 * 1024 * 1024),
    }
    cli = [sys.executable, "-m", "labelbay.cli"]
    subprocess.run(
        [*cli, "user", "create", "--email", EMAIL, "--password", PASSWORD, "--admin"],
        cwd=workdir,
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    proc = subprocess.Popen(
        [*cli, "serve", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def _decode_reference(jpegs: list[bytes]) -> float:
    """Images/s of the validation's own core (PIL full decode), alone, on the same files."""
    started = time.perf_counter()
    for data in jpegs:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    return len(jpegs) / (time.perf_counter() - started)


def run(small_images: int = 1000, big_batch_mib: int = 1024) -> list[Row]:
    small = [_jpeg(320, 240, seed) for seed in range(small_images)]
    big = _noisy_jpeg(1600, 1600)
    big_count = max(1, (big_batch_mib * 1024 * 1024) // len(big))
    with tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp)) as (base, pid):
        client = httpx.Client(base_url=base, timeout=600)
        token = client.post(
            "/api/v1/auth/token", data={"username": EMAIL, "password": PASSWORD}
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        project = client.post("/api/v1/projects", json={"name": "bench"}).json()["id"]
        url = f"/api/v1/projects/{project}/images"
        started = time.perf_counter()
        for start in range(0, small_images, 100):
            files = [
                ("files", (f"s{i}.jpg", small[i], "image/jpeg"))
                for i in range(start, min(start + 100, small_images))
            ]
            answer = client.post(url, files=files)
            assert answer.status_code == 201, answer.text[:300]
        ingest_rate = small_images / (time.perf_counter() - started)
        rss_before = _peak_rss_mib(pid)
        big_path = Path(tmp) / "big.jpg"
        big_path.write_bytes(big)
        with ExitStack() as stack:
            files = [
                ("files", (f"b{i}.jpg", stack.enter_context(big_path.open("rb")), "image/jpeg"))
                for i in range(big_count)
            ]
            started = time.perf_counter()
            answer = client.post(url, files=files)
            big_seconds = time.perf_counter() - started
        assert answer.status_code == 201, answer.text[:300]
        assert len(answer.json()["images"]) == big_count
        peak = _peak_rss_mib(pid)
    batch_mib = big_count * len(big) / 1024 / 1024
    return [
        Row(
            "upload ingest, 1,000 JPEGs 320x240",
            ingest_rate,
            "i/s",
            "PIL full decode alone, same files",
            _decode_reference(small),
        ),
        Row(
            f"upload {batch_mib:,.0f} MiB batch, throughput",
            batch_mib / big_seconds,
            "M/s",
        ),
        Row(
            "server peak RSS during the 1 GiB batch",
            peak,
            "MiB",
            "peak RSS before the batch",
            rss_before,
            goal="< 300 MiB",
        ),
    ]
