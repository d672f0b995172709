"""Following a job from the command line: Ctrl-C stops the following, not the job. The jobs go to
a RabbitMQ queue of this test's own that no worker serves, so they stay queued for as long as the
test needs."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.factories import image_part, jpeg_bytes, upload_ok
from tests.client.helpers import make_remote
from tests.support.processes import AMQP_URL, LABELBAY, delete_queue, new_queue
from tests.support.stack import LiveServer, Stack

pytestmark = [pytest.mark.parametrize("stack_urls", ["embedded"], indirect=True), pytest.mark.slow]


@pytest.fixture
def stack_settings_overrides() -> dict[str, Any]:
    return {"executor": "celery", "broker_url": AMQP_URL, "job_queue": new_queue()}


@pytest.fixture
def unserved_queue(stack: Stack) -> Iterator[None]:
    yield
    delete_queue(stack.settings.broker_url, stack.settings.job_queue, [])


@pytest.mark.usefixtures("unserved_queue")
def test_ctrl_c_leaves_the_job_running_and_says_how_to_follow_or_cancel(
    live_server: LiveServer, tmp_path: Path
) -> None:
    remote = make_remote(live_server)
    stack = live_server.stack
    project = stack.project(remote.headers, name="queued")
    upload_ok(stack, project["id"], remote.headers, image_part(jpeg_bytes(64, 48), "a.jpg"))

    follow = subprocess.Popen(
        [LABELBAY, "remote", "jobs", "run", "-p", "queued", "--model", "circles", "--follow"],
        env=remote.env(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert follow.stdout is not None
        started = follow.stdout.readline()  # "job N: circles v1 on 1 images"
        assert started.startswith("job "), started
        job_id = int(started.split()[1].rstrip(":"))
        time.sleep(1.0)  # following: polling the job
        follow.send_signal(signal.SIGINT)
        _out, err = follow.communicate(timeout=30)
    finally:
        if follow.poll() is None:
            follow.kill()
    assert follow.returncode == 130, err
    assert f"job {job_id} keeps running on the server" in err
    assert f"labelbay remote jobs follow {job_id}" in err
    assert f"labelbay remote jobs cancel {job_id}" in err
    assert "Traceback" not in err
    assert remote.get(f"/api/v1/jobs/{job_id}")["status"] == "queued"

    run = remote.run("jobs", "cancel", str(job_id), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert f"job {job_id} cancelled: 0 of 1 images were done" in run.stdout
    run = remote.run("jobs", "follow", str(job_id), cwd=tmp_path)
    assert run.returncode == 1  # it ended without labelling its image
    assert f"job {job_id} cancelled: 0 done, 0 failed of 1" in run.stdout
    run = remote.run("jobs", "cancel", str(job_id), cwd=tmp_path)
    assert run.returncode == 1
    assert f"error: POST /api/v1/jobs/{job_id}/cancel: 409 job {job_id} is already cancelled" in (
        run.stderr
    )
