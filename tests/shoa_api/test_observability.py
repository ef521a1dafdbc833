"""Every answer carries a request id; every log line is one JSON object that carries it too."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
from typing import TYPE_CHECKING, Any

import pytest

from shoa_api.observability import JsonFormatter

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.client import ShoaClient


@contextlib.contextmanager
def shoa_log(formatter: logging.Formatter) -> Iterator[io.StringIO]:
    """What Shoa's loggers write at INFO and above, as ``formatter`` writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("shoa")
    logger.addHandler(handler)
    previous, logger.level = logger.level, logging.INFO
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.level = previous


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    with shoa_log(JsonFormatter()) as stream:
        yield stream


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_each_response_gets_a_fresh_request_id(client: ShoaClient) -> None:
    first = await client.get("/v1/malls")
    second = await client.get("/v1/malls")

    assert first.headers["x-request-id"]
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_a_callers_request_id_is_kept(client: ShoaClient) -> None:
    response = await client.get("/v1/malls", headers={"X-Request-ID": "app-7f3a9c21-retry-1"})

    assert response.headers["x-request-id"] == "app-7f3a9c21-retry-1"


async def test_a_request_id_that_could_forge_log_lines_is_replaced(client: ShoaClient) -> None:
    response = await client.get("/v1/malls", headers={"X-Request-ID": 'x"} {"level": "fake'})

    assert response.headers["x-request-id"] != 'x"} {"level": "fake'
    assert len(response.headers["x-request-id"]) == 32


async def test_access_log_is_json_with_the_request_id_and_no_query_string(
    client: ShoaClient, json_log: io.StringIO
) -> None:
    response = await client.get("/v1/malls", params={"limit": 5, "cursor": "secret-ish"})

    entries = [e for e in _lines(json_log) if e["logger"] == "shoa.access"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["request_id"] == response.headers["x-request-id"]
    assert entry["level"] == "info"
    assert entry["status"] == 404  # a cursor the API did not give out
    assert entry["route"] == "/v1/malls"
    assert entry["message"] == "GET /v1/malls 404"
    assert "secret-ish" not in json_log.getvalue()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])


async def test_probes_stay_out_of_the_access_log(client: ShoaClient, json_log: io.StringIO) -> None:
    await client.get("/health/live")
    await client.get("/metrics")

    assert _lines(json_log) == []


async def test_an_unknown_path_is_a_problem_with_a_request_id(client: ShoaClient) -> None:
    response = await client.get("/v1/nothing-here")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_a_wrong_method_is_a_problem(client: ShoaClient) -> None:
    response = await client.delete("/v1/malls")

    assert response.status_code == 405
    problem = response.json()
    assert problem["title"] == "Method Not Allowed"
    assert problem["type"].endswith("/method-not-allowed")
