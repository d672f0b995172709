"""Item 6: decompression bombs under the pixel limit. Decoding memory is bounded by pixels times
bytes per pixel, and a JPEG whose data cannot fill its frame is refused. Memory is read from the
server process itself (/proc/<pid>/status), on upload, thumbnail and job."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.api.factories import image_part, jpeg_bytes, multipart, upload
from tests.security.conftest import EMBEDDED, ServerProcess
from tests.support.stack import Stack

SIDE = 7999  # 63,984,001 pixels: under the default limit of 64,000,000
MB_KB = 1024


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def blank_png(width: int, height: int, *, colour: int, depth: int) -> bytes:
    """A complete, valid PNG of zeros (colour type 2 = RGB, 6 = RGBA), compressed row by row so
    making it needs no more memory than one row."""
    samples = {2: 3, 6: 4}[colour]
    row = b"\x00" * (1 + width * samples * depth // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A 192x152 JPEG whose frame header says `width` x `height`: the decoder fills the rest."""
    data = bytearray(jpeg_bytes(192, 152))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@EMBEDDED
def test_item6_jpeg_that_does_not_fill_its_frame_is_refused(stack: Stack) -> None:
    owner = stack.quick_user("owner@example.com")
    project = stack.project(owner)["id"]
    bomb = jpeg_claiming(SIDE, SIDE)
    assert len(bomb) < 16 * 1024
    with Image.open(io.BytesIO(bomb)) as img:
        assert img.size == (SIDE, SIDE)
    answer = upload(stack, project, owner, image_part(bomb, "claims.jpg"))
    assert answer.status_code == 422, answer.text
    assert "too short" in answer.json()["rejected"][0]["reason"]
    fine = upload(stack, project, owner, image_part(jpeg_bytes(640, 480), "fine.jpg"))
    assert fine.status_code == 201, fine.text


class Phase:
    """Peak resident memory of the server over one phase, above where it started (MB)."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server

    def __enter__(self) -> Phase:
        self.server.reset_peak()
        self.start_kb = self.server.status("VmRSS")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.peak_mb = (self.server.status("VmHWM") - self.start_kb) / MB_KB


def _sign_in(client: httpx.Client, server: ServerProcess) -> dict[str, str]:
    """An administrator created with the CLI's own database, then signed in over HTTP."""
    command = [
        str(Path(sys.executable).parent / "labelbay"),
        "user",
        "create",
        "--email",
        "bombs@example.com",
        "--password",
        "correct-horse-battery",
        "--admin",
    ]
    subprocess.run(command, env=server.env, cwd=server.cwd, check=True, capture_output=True)
    answer = client.post(
        "/api/v1/auth/token",
        data={"username": "bombs@example.com", "password": "correct-horse-battery"},
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _wait_for_job(client: httpx.Client, headers: dict[str, str], job_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.mark.timeout(900)
def test_item6_bombs_stay_under_300mb_on_upload_thumbnail_and_job(
    server_process: ServerProcess,
) -> None:
    server = server_process
    rgba = blank_png(SIDE, SIDE, colour=6, depth=8)  # 256 MB of pixels in ~190 KB
    rgba16 = blank_png(SIDE, SIDE, colour=6, depth=16)  # 512 MB in ~500 KB
    rgb = blank_png(SIDE, SIDE, colour=2, depth=8)  # 192 MB: the largest that is accepted
    peaks: dict[str, float] = {}
    with httpx.Client(base_url=server.base_url, timeout=300) as client:
        headers = _sign_in(client, server)
        project = client.post("/api/v1/projects", json={"name": "bombs"}, headers=headers).json()
        images = f"/api/v1/projects/{project['id']}/images"
        for name, data in [("rgba.png", rgba), ("rgba16.png", rgba16)]:
            body, content_type = multipart(image_part(data, name))
            with Phase(server) as phase:
                answer = client.post(
                    images, content=body, headers={**headers, "Content-Type": content_type}
                )
            peaks[f"upload {name}"] = phase.peak_mb
            assert answer.status_code == 422, answer.text
            assert "decoding limit" in answer.json()["rejected"][0]["reason"]
        body, content_type = multipart(image_part(rgb, "rgb.png"))
        with Phase(server) as phase:
            answer = client.post(
                images, content=body, headers={**headers, "Content-Type": content_type}
            )
        peaks["upload rgb.png"] = phase.peak_mb
        assert answer.status_code == 201, answer.text
        image_id = answer.json()["images"][0]["id"]
        with Phase(server) as phase:
            thumb = client.get(f"/api/v1/images/{image_id}/thumbnail?size=512", headers=headers)
        peaks["thumbnail rgb.png"] = phase.peak_mb
        assert thumb.status_code == 200
        with Phase(server) as phase:
            job = client.post(
                f"/api/v1/projects/{project['id']}/jobs",
                json={"model": "circles"},
                headers=headers,
            )
            assert job.status_code == 201, job.text
            finished = _wait_for_job(client, headers, job.json()["id"])
        peaks["job rgb.png"] = phase.peak_mb
        assert finished["status"] == "completed", finished
    print("peak MB above the phase's start:", {k: round(v) for k, v in peaks.items()})
    assert all(peak < 300 for peak in peaks.values()), peaks
