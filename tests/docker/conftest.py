"""The container image, built as an operator would: Debian's `dockerd` (started here when none
answers, and stopped again), stand-in base images made from Debian packages (Docker Hub is not
needed), and `docker build` with the classic builder. The image is built once per session.

Skipped, with the reason, only where no Docker daemon answers and none can be started (no `dockerd`,
or not root). `.ci/run` installs Debian's `docker.io` and `debootstrap` when they are missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TAG = "labelbay-smoke:latest"
STAGE_LABEL = "org.labelbay.build-stage"  # on the images of the Dockerfile's build stages
DOCKERD_FLAGS = ["--storage-driver", "vfs", "--iptables=false", "--bridge=none"]
BUILD_TIMEOUT_S = 1800
# Lines for the terminal summary: the image's size, its biggest layers, the build time.
REPORT: list[str] = []


def docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    """Run the docker CLI; return its stdout (raise with its stderr when `check` and it fails)."""
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])} …: {done.stdout[-2000:]}{done.stderr}")
    return done.stdout


def _daemon_answers() -> bool:
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return False
    return info.returncode == 0


@pytest.fixture(scope="session")
def docker_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A Docker daemon that answers: the running one, or Debian's dockerd started for the session."""
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI: install Debian's docker.io (.ci/run does) to test the image")
    if _daemon_answers():
        yield
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None or os.geteuid() != 0:
        pytest.skip(
            "no Docker daemon answers and none can be started here (it needs root and dockerd "
            "from Debian's docker.io, which .ci/run installs)"
        )
    log_path = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [dockerd, *DOCKERD_FLAGS], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while not _daemon_answers():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"dockerd did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _network_build_args() -> list[str]:
    """The package indexes and proxies configured here, for pip and npm inside the build (which
    runs on the host's network). Nothing is passed when the public defaults are in use."""
    args = []
    for name in ("PIP_INDEX_URL", "NPM_CONFIG_REGISTRY"):
        value = os.environ.get(name, "")
        if value.startswith(("http://", "https://")):
            args += ["--build-arg", f"{name}={value}"]
    # Debian's place for locally trusted CAs (a TLS-inspecting proxy's, say): npm and pip in
    # the build must trust them too.
    local_cas = sorted(Path("/usr/local/share/ca-certificates").glob("**/*.crt"))
    if local_cas:
        pem = "\n".join(path.read_text().strip() for path in local_cas)
        args += ["--build-arg", f"EXTRA_CA_CERTS={pem}"]
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        if os.environ.get(name):
            args += ["--build-arg", name]  # the value comes from this environment
    return args


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    size_bytes: int


@pytest.fixture(scope="session")
def image(docker_daemon: None) -> BuiltImage:
    """The image of this checkout, built with the classic builder on stand-in base images."""
    bases = subprocess.run(
        ["bash", str(ROOT / "scripts" / "docker-stand-in-bases.sh")],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert bases.returncode == 0, f"stand-in base images: {bases.stderr[-3000:]}"
    base_args = bases.stdout.split()
    previous = docker("image", "ls", "--quiet", "--no-trunc", TAG).strip()
    started = time.monotonic()
    build = subprocess.run(
        ["docker", "build", "--force-rm", "--network", "host", *base_args, *_network_build_args(), "-t", TAG,
         str(ROOT)],
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert build.returncode == 0, f"docker build failed:\n{build.stdout[-6000:]}{build.stderr}"
    current = docker("image", "inspect", "--format", "{{.Id}}", TAG).strip()
    # What earlier builds left behind: the last image, and the build stages' last steps that this
    # build did not use (with their own parents). Under the vfs storage driver each is a full copy.
    if previous and previous != current:
        docker("image", "rm", previous, check=False)
    used = set(re.findall(r"^ ---> ([0-9a-f]{12})$", build.stdout, re.MULTILINE))
    stage_ends = docker(
        "images", "--quiet", "--filter", "dangling=true", "--filter", f"label={STAGE_LABEL}"
    )
    for stale in set(stage_ends.split()) - used:
        docker("image", "rm", stale, check=False)
    size = int(docker("image", "inspect", "--format", "{{.Size}}", TAG))
    steps = len(re.findall(r"^Step \d+/\d+ :", build.stdout, re.MULTILINE))
    cached = build.stdout.count(" ---> Using cache")
    REPORT.append(
        f"{TAG}: {size / 1e6:.0f} MB, built in {seconds:.0f} s with the classic builder "
        f"({cached} of {steps} steps from the cache)"
    )
    # Its biggest layers, as `docker history` shows them.
    history = docker(
        "history", "--no-trunc", "--human=false", "--format", "{{.Size}}\t{{.CreatedBy}}", TAG
    )
    layers = [line.split("\t", 1) for line in history.splitlines()]
    for layer_size, created_by in sorted(layers, key=lambda layer: -int(layer[0]))[:3]:
        what = " ".join(created_by.split())[:90] or "(the base image)"
        REPORT.append(f"  {int(layer_size) / 1e6:6.0f} MB  {what}")
    return BuiltImage(tag=TAG, size_bytes=size)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.write_sep("-", "container image")
        for line in REPORT:
            terminalreporter.write_line(line)
