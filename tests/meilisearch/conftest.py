"""Fixtures: a running ``FakeMeilisearch`` and an HTTP client holding its master key, used as a client would."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.meilisearch.fake_server import FakeMeilisearch

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

FINISHED = {"succeeded", "failed", "canceled"}


@pytest.fixture
def meili() -> Iterator[FakeMeilisearch]:
    with FakeMeilisearch() as fake:
        yield fake


@pytest.fixture
def http(meili: FakeMeilisearch) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {meili.master_key}"}
    with httpx.Client(base_url=meili.url, headers=headers, timeout=5.0) as client:
        yield client


def wait_for_task(http: httpx.Client, response: httpx.Response, timeout: float = 5.0) -> dict[str, Any]:
    """Check a write was accepted, then poll ``GET /tasks/{uid}`` until the task is finished, as a client does."""
    assert response.status_code == 202, response.text
    uid = response.json()["taskUid"]
    deadline = time.monotonic() + timeout
    while True:
        task: dict[str, Any] = http.get(f"/tasks/{uid}").json()
        if task["status"] in FINISHED:
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"task {uid} still {task['status']} after {timeout} s")
        time.sleep(0.01)


@pytest.fixture
def settle(http: httpx.Client) -> Callable[[httpx.Response], dict[str, Any]]:
    """``settle(response)``: the finished task a write enqueued (asserting the ``202``)."""
    return lambda response: wait_for_task(http, response)
