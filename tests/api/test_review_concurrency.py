"""Ten reviewers drawing from one queue of 200 images through a real uvicorn server: every
image is handed out exactly once. And a lease that runs out returns its image to the queue."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx

from tests.api.test_review_queue import make_queue
from tests.support.stack import LiveServer

LEASE_SECONDS = 5  # the expiry test's lease; the others keep the default (10 minutes), so a
# reviewer slowed down by a busy machine never loses an image mid-review
REVIEWERS = 10
IMAGES = 200


def test_ten_reviewers_get_every_image_once(live_server: LiveServer) -> None:
    q = make_queue(live_server.stack, IMAGES)
    reviewers = [q.member(f"r{i}@example.com") for i in range(REVIEWERS)]
    taken: list[list[str]] = [[] for _ in reviewers]
    errors: list[str] = []
    start = threading.Barrier(REVIEWERS)

    def work(index: int) -> None:
        with httpx.Client(base_url=live_server.base_url, headers=reviewers[index], timeout=60) as c:
            start.wait()
            while True:
                answer = c.get(f"/api/v1/projects/{q.project_id}/review/next")
                if answer.status_code != 200:
                    errors.append(answer.text)
                    return
                image = answer.json()["image"]
                if image is None:
                    return
                taken[index].append(image["id"])
                done = c.post(f"/api/v1/images/{image['id']}/review", json={"status": "reviewed"})
                if done.status_code != 200:
                    errors.append(done.text)
                    return

    threads = [threading.Thread(target=work, args=(i,)) for i in range(REVIEWERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    handed_out = Counter(image for mine in taken for image in mine)
    assert sorted(handed_out) == sorted(q.image_ids)  # all 200
    assert max(handed_out.values()) == 1  # none twice
    assert sum(1 for mine in taken if mine) > 1  # they really worked side by side


def test_an_expired_lease_returns_the_image(live_server: LiveServer) -> None:
    live_server.stack.settings.review_lease_seconds = LEASE_SECONDS
    q = make_queue(live_server.stack, 2)
    a, b = q.member("a@example.com"), q.member("b@example.com")
    url = f"{live_server.base_url}/api/v1/projects/{q.project_id}/review/next"
    first = httpx.get(url, headers=a).json()
    assert first["image"]["id"] == q.image_ids[0]
    assert httpx.get(url, headers=b).json()["image"]["id"] == q.image_ids[1]
    time.sleep(LEASE_SECONDS + 0.5)
    again = httpx.get(url, headers=b).json()  # B's own lease ran out too: upload order again
    assert again["image"]["id"] == q.image_ids[0]
    renew = httpx.post(f"{live_server.base_url}/api/v1/images/{q.image_ids[0]}/lease", headers=a)
    assert renew.status_code == 409
