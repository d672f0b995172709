"""A live server with an API key, and `labelbay remote` run as a real process against it."""

from __future__ import annotations

import io
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from skimage import data as samples

from tests.support.processes import LABELBAY
from tests.support.stack import LiveServer


@dataclass
class Remote:
    """A user of `live` (bearer `headers` for checks through the app) and an API key of theirs."""

    live: LiveServer
    headers: dict[str, str]
    key: str

    @property
    def url(self) -> str:
        return self.live.base_url

    def env(self, *, url: str | None = None, key: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LABELBAY_", "ML_"))}
        env["LABELBAY_URL"] = url or self.url
        env["LABELBAY_API_KEY"] = key or self.key
        return env

    def run(
        self, *args: str, cwd: Path, url: str | None = None, key: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`labelbay remote ARGS` to its end, as a user types it."""
        return subprocess.run(
            [LABELBAY, "remote", *args], env=self.env(url=url, key=key), cwd=cwd,
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip

    def get(self, path: str, **params: Any) -> Any:
        answer = self.live.stack.client.get(path, params=params, headers=self.headers)
        assert answer.status_code == 200, answer.text
        return answer.json()


def make_remote(live: LiveServer, email: str = "owner@example.com") -> Remote:
    stack = live.stack
    headers = stack.quick_user(email)
    answer = stack.client.post("/api/v1/users/me/api-keys", json={"name": "cli"}, headers=headers)
    assert answer.status_code == 201, answer.text
    return Remote(live=live, headers=headers, key=answer.json()["key"])


def photo(name: str) -> bytes:
    """A real photo from scikit-image: coins (PNG, what the circles model finds), chelsea and
    coffee (JPEG)."""
    pixels = {"coins": samples.coins, "chelsea": samples.chelsea, "coffee": samples.coffee}[name]()
    buffer = io.BytesIO()
    fmt = "PNG" if pixels.ndim == 2 else "JPEG"
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, fmt)
    return buffer.getvalue()


PHOTOS = {"coins.png": "coins", "chelsea.jpg": "chelsea", "coffee.jpg": "coffee"}


def photo_folder(root: Path) -> Path:
    """Three photos (one in a subfolder) and a text file."""
    folder = root / "photos"
    (folder / "more").mkdir(parents=True)
    for i, (name, sample) in enumerate(PHOTOS.items()):
        (folder / ("more" if i == 2 else ".") / name).write_bytes(photo(sample))
    (folder / "notes.txt").write_text("not an image")
    return folder
