"""labelbay's own commands as real processes: `labelbay worker` and `labelbay serve`, started with
the settings of a test's stack (passed as LABELBAY_* environment variables, as a deployment would),
killed at the end, their logs kept for failure messages; and the per-test broker queues they use.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from kombu import Connection
from pydantic import AliasChoices, SecretStr

from labelbay.config import Settings
from tests.support.moto_server import DUMMY_CREDENTIALS
from tests.support.stack import free_port

LABELBAY = str(Path(sys.executable).with_name("labelbay"))
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


REPO_ROOT = Path(__file__).resolve().parents[2]


def new_queue() -> str:
    return f"labelbay-test-{uuid.uuid4().hex[:12]}"


def settings_env(settings: Settings) -> dict[str, str]:
    """This process's environment without its LABELBAY_* variables, plus the given settings'
    explicitly set fields as LABELBAY_* variables (lists and mappings as JSON) and S3 credentials
    for the moto server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABELBAY_", "ML_"))}
    env.update(DUMMY_CREDENTIALS)
    # The tests' model plugin (tests/support/fixed_model.py) is imported from the repository root.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    for name in sorted(settings.model_fields_set):
        value: Any = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is None:
            continue
        alias = Settings.model_fields[name].validation_alias
        key = str(alias.choices[0]) if isinstance(alias, AliasChoices) else f"LABELBAY_{name}"
        text = json.dumps(value) if isinstance(value, list | dict | bool) else str(value)
        env[key.upper()] = text
    return env


@dataclass
class Processes:
    """labelbay commands started by one test, each in its own process group (so a pool child
    dies with its parent), logging into `workdir`."""

    workdir: Path
    env: dict[str, str]
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *args: str, name: str = "worker") -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}-{len(self.started)}.log").open("wb")
        with log:
            proc = subprocess.Popen(
                [LABELBAY, *args],
                env=self.env,
                cwd=self.workdir,  # no stray .env is read
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(proc)
        return proc

    def worker(self) -> subprocess.Popen[bytes]:
        return self.start("worker", "--concurrency", "1")

    def run(self, *args: str) -> str:
        """Run a labelbay command to its end (e.g. `models add`); its output, or fail with it."""
        done = subprocess.run(
            [LABELBAY, *args], env=self.env, cwd=self.workdir, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"labelbay {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def serve(self, *, timeout: float = 60.0) -> str:
        """`labelbay serve` on a free port of 127.0.0.1; its base URL once /health answers."""
        port = free_port()
        proc = self.start("serve", "--host", "127.0.0.1", "--port", str(port), name="serve")
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"labelbay serve exited with {proc.returncode}\n{self.logs()}")
            try:
                if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                    return base_url
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"labelbay serve did not answer\n{self.logs()}")
            time.sleep(0.1)

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the process and its children at once, as an OOM kill or a lost node would."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        """The test is over: no need for a graceful shutdown (it takes seconds)."""
        for proc in self.started:
            if proc.poll() is None:
                self.kill(proc)

    def logs(self, tail: int = 4000) -> str:
        parts = []
        for path in sorted(self.workdir.glob("*.log")):
            parts.append(f"--- {path.name} ---\n{path.read_text(errors='replace')[-tail:]}")
        return "\n".join(parts)


def wait_until(
    what: str, check: Callable[[], bool], logs: Callable[[], str], timeout: float
) -> None:
    """Poll `check` until it holds; on timeout fail with the processes' logs."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{logs()}")
        time.sleep(0.05)


def delete_queue(broker_url: str, queue: str, workers: list[subprocess.Popen[bytes]]) -> None:
    """Delete the test queue and the direct exchange Celery declared for it."""
    with Connection(broker_url, connect_timeout=5) as conn:
        channel = conn.default_channel
        channel.queue_delete(queue)
        if broker_url.startswith("amqp"):
            channel.exchange_delete(queue)
    if broker_url.startswith("redis"):
        _delete_redis_leftovers(broker_url, queue, [f"labelbay-{proc.pid}@" for proc in workers])


def _delete_redis_leftovers(broker_url: str, queue: str, nodes: list[str]) -> None:
    """kombu's Redis transport keeps, besides the queue's list, the exchange's bindings, the
    workers' remote-control bindings and the messages a killed worker had not acked yet (it gets
    them back after the visibility timeout) in keys shared by every queue of the database."""
    with redis.Redis.from_url(broker_url) as client:
        client.delete(f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        for member in client.smembers("_kombu.binding.celery.pidbox"):
            if any(node.encode() in member for node in nodes):
                client.srem("_kombu.binding.celery.pidbox", member)
        for tag, raw in client.hgetall("unacked").items():
            _message, exchange, routing_key = json.loads(raw)
            if queue in (exchange, routing_key):
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Callable[[Settings], Processes]]:
    """A factory: `processes(settings)` → Processes for commands run with those settings; every
    one is killed at the end of the test."""
    made: list[Processes] = []

    def factory(settings: Settings) -> Processes:
        workdir = tmp_path / f"processes-{len(made)}"
        workdir.mkdir()
        made.append(Processes(workdir, settings_env(settings)))
        return made[-1]

    yield factory
    for group in made:
        group.stop_all()
