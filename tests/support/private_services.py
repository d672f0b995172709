"""pytest plugin: a PostgreSQL server and a RabbitMQ node of the test session's own, on free ports
of 127.0.0.1, in temporary folders, for the fault tests (`tests/chaos/`) that stop, start and pause
them for real. The shared services on 5432 and 5672 are never touched, so other test runs on the
machine go on undisturbed.

Each is started once per session (measured on the 2-core CI machine: PostgreSQL's initdb + start
~1 s, RabbitMQ's start ~4 s and stop ~3 s) and stopped at the end. A test that leaves one down gets
it started again before the next test (`ensure_running`), so each test finds them as the one before
found them: running.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from glob import glob
from pathlib import Path

import psycopg
import pytest

from labelbay.db.migrate import upgrade
from tests.support.stack import free_port

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")


def _postgres_bin() -> Path:
    found = sorted(glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        pytest.fail("PostgreSQL's server binaries (/usr/lib/postgresql/*/bin) are needed")
    return Path(found[-1]).parent


def _as_postgres_user() -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the `postgres` user then."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class PrivatePostgres:
    """One PostgreSQL server in `folder`, listening on 127.0.0.1:`port`, trust authentication."""

    folder: Path
    port: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str) -> None:
        command = [*_as_postgres_user(), str(_postgres_bin() / "pg_ctl"), "-D", str(self.data)]
        done = subprocess.run(
            [*command, *args], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, f"pg_ctl {args}: {done.stdout}{done.stderr}"

    def init(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(self.folder, pwd.getpwnam("postgres").pw_uid, -1)
        done = subprocess.run(
            [*_as_postgres_user(), str(_postgres_bin() / "initdb"), "-D", str(self.data),
             "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"initdb: {done.stdout}{done.stderr}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-l", str(self.folder / "server.log"), "-w", "-o", options, "start")

    def stop(self) -> None:
        """A fast shutdown: open connections are cut, as when a database host restarts."""
        self._pg_ctl("-m", "fast", "-w", "stop")

    def running(self) -> bool:
        try:
            with psycopg.connect(self.admin_dsn, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def ensure_running(self) -> None:
        if not self.running():
            self.start()

    def admin(self, sql: str) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def log(self, tail: int = 3000) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""


@dataclass
class PrivateRabbitMQ:
    """One RabbitMQ node named `node`, AMQP on 127.0.0.1:`port`, its files (and the Erlang cookie
    its CLI tools read from $HOME) under `folder`; no plugins."""

    folder: Path
    node: str
    port: int
    dist_port: int

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    @property
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            HOME=str(self.folder / "home"),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.folder / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.folder / "log"),
            RABBITMQ_PID_FILE=str(self.folder / "pid"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.folder / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(self.folder / "rabbitmq"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.folder / "advanced.config"),
            RABBITMQ_CONF_ENV_FILE=str(self.folder / "rabbitmq-env.conf"),
        )
        return env

    def init(self) -> None:
        home = self.folder / "home"
        home.mkdir(parents=True, exist_ok=True)
        cookie = home / ".erlang.cookie"
        cookie.write_text(uuid.uuid4().hex)
        cookie.chmod(0o400)
        (self.folder / "enabled_plugins").write_text("[].\n")

    def ctl(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.node, *args],
            env=self._env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"rabbitmqctl {args}: {done.stdout}{done.stderr}"
        return done.stdout

    def start(self) -> None:
        with (self.folder / "server.out").open("ab") as out:
            subprocess.Popen(
                [str(RABBITMQ_BIN / "rabbitmq-server")],
                env=self._env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.ctl("wait", "--timeout", "60", str(self.folder / "pid"), timeout=90)

    def stop(self) -> None:
        """The whole node stops (its process exits), as on a broker restart."""
        self.ctl("stop", str(self.folder / "pid"), timeout=90)

    def pid(self) -> int:
        return int((self.folder / "pid").read_text().strip())

    def pause(self) -> None:
        """Freeze the node (SIGSTOP): connections open, nothing answered, as a hung broker."""
        os.kill(self.pid(), signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid(), signal.SIGCONT)

    def running(self) -> bool:
        pid_file = self.folder / "pid"
        if not pid_file.exists():
            return False
        try:
            os.kill(self.pid(), signal.SIGCONT)  # a paused node counts as down until resumed
        except ProcessLookupError:
            return False
        try:
            self.ctl("await_startup", "--timeout", "5", timeout=30)
        except AssertionError:
            return False
        return True

    def ensure_running(self) -> None:
        if not self.running():
            self.start()

    def queue_depth(self, queue: str) -> int:
        """Messages of `queue` waiting or delivered and not yet acked, by RabbitMQ's own count."""
        listing = self.ctl("list_queues", "-q", "name", "messages_ready", "messages_unacknowledged")
        for line in listing.splitlines():
            name, *counts = line.split()
            if name == queue:
                return sum(int(n) for n in counts)
        return 0

    def log(self, tail: int = 3000) -> str:
        parts = [path.read_text(errors="replace")[-tail:] for path in self.folder.glob("log/*.log")]
        return "\n".join(parts)


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    # Not under pytest's temporary folder: that one is private to root, and the server runs as
    # the `postgres` user.
    folder = Path(tempfile.mkdtemp(prefix="labelbay-test-postgres-"))
    server = PrivatePostgres(folder=folder, port=free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.running():
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def private_rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRabbitMQ]:
    folder = tmp_path_factory.mktemp("private-rabbitmq")
    node = PrivateRabbitMQ(
        folder=folder,
        node=f"labelbay-test-{uuid.uuid4().hex[:8]}@localhost",
        port=free_port(),
        dist_port=free_port(),
    )
    if shutil.which("erl") is None or not (RABBITMQ_BIN / "rabbitmq-server").exists():
        pytest.fail("RabbitMQ's server (/usr/lib/rabbitmq/bin) is needed for the fault tests")
    node.init()
    node.start()
    try:
        yield node
    finally:
        if node.running():
            node.stop()


@pytest.fixture(scope="session")
def private_postgres_template(private_postgres: PrivatePostgres) -> str:
    name = "labelbay_template"
    private_postgres.admin(f'CREATE DATABASE "{name}"')
    upgrade(private_postgres.url(name))
    return name


@pytest.fixture
def private_database(
    private_postgres: PrivatePostgres, private_postgres_template: str
) -> Iterator[str]:
    """A fresh migrated database on the private server (which is running at the start and at the
    end of the test, whatever the test did to it)."""
    private_postgres.ensure_running()
    name = f"labelbay_c_{uuid.uuid4().hex[:12]}"
    private_postgres.admin(f'CREATE DATABASE "{name}" TEMPLATE "{private_postgres_template}"')
    try:
        yield private_postgres.url(name)
    finally:
        private_postgres.ensure_running()
        private_postgres.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def private_broker(private_rabbitmq: PrivateRabbitMQ) -> Iterator[PrivateRabbitMQ]:
    """The private RabbitMQ node, running at the start and at the end of the test."""
    private_rabbitmq.ensure_running()
    yield private_rabbitmq
    private_rabbitmq.ensure_running()
