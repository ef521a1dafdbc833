"""OWASP API Security Top 10 (2023), API9 — improper inventory management: the API Shoa serves is the API it
describes, one version of it, the same in test and production, with development's routes in development alone.

Here: only version 1 answers (``/v1``, ``/partner/v1``), no other version, prefix or docs UI does, and every
described path lives under a known prefix; the description of test and production is the same and holds no
development route, while development's describes its own; every route answered by every kind of caller, with no
credentials, another audience's or junk, answers only statuses its operation declares.

Elsewhere: every route in the description and nothing else, with its security scheme, its body, its problems and
429/500/503, ``tests/shoa_api/test_openapi.py::test_every_route_is_described_and_nothing_else`` and
``::test_each_operation_declares_its_body_its_callers_and_its_problems``; real answers and examples matching the
description, the same module; every operation fuzzed with every check as each audience (statuses, content types
and bodies as documented), ``tests/contract/``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from shoa_api.app import API_VERSION, create_app
from shoa_api.settings import load_settings
from tests.client import ShoaClient
from tests.security.conftest import route_table

if TYPE_CHECKING:
    from litestar import Litestar

    from tests.conftest import Services
    from tests.orders.conftest import Catalog, Shopper

PREFIXES = ("/v1/", "/partner/v1/", "/webhooks/", "/health/")


async def _description(services: Services, env: str) -> dict[str, Any]:
    async with ShoaClient(app=create_app(load_settings(services.environ(SHOA_ENV=env), env_file=None))) as client:
        return dict((await client.get("/schema/openapi.json")).json())


async def test_only_version_1_is_served(client: ShoaClient, shopper: Shopper, catalog: Catalog) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    elsewhere = [
        "/v2/malls", "/v0/malls", "/v1.1/malls", "/api/v1/malls", "/V1/malls", "/v1/../v2/malls", "/partner/v2/me",
        "/partner/v0/orders", "/partner/me", "/internal/v1/malls", "/admin", "/v1/admin", "/partner/v1/admin",
        "/openapi.json", "/swagger.json", "/docs", "/redoc", "/schema/redoc", "/schema/elements", "/schema/rapidoc",
        "/schema/stoplight", "/schema/openapi.yaml", "/schema/openapi.yml", "/graphql", "/.env", "/debug",
    ]  # fmt: skip

    answers = {
        path: (await client.get(path, headers=headers)).status_code
        for path in elsewhere
        for headers in ({}, shopper.headers, catalog.malls.haru.headers)
    }

    assert document["info"]["version"] == API_VERSION == "1.0.0"
    assert [path for path in document["paths"] if not path.startswith(PREFIXES)] == []
    assert answers == dict.fromkeys(elsewhere, 404)


async def test_test_and_production_describe_the_same_api_and_development_adds_its_own(services: Services) -> None:
    described = {env: await _description(services, env) for env in ("test", "production", "development")}
    development_only = set(described["development"]["paths"]) - set(described["test"]["paths"])

    assert described["test"]["paths"] == described["production"]["paths"]
    assert [path for path in described["production"]["paths"] if path.startswith("/dev")] == []
    assert "development" not in {tag for item in described["production"]["paths"].values()
                                 for operation in item.values() for tag in operation.get("tags", [])}  # fmt: skip
    assert development_only == {"/dev/messages", "/dev/payments/{order_id}/card", "/dev/payments/{order_id}/deposit"}


async def test_every_answer_is_one_its_operation_declares(
    app: Litestar, client: ShoaClient, shopper: Shopper, catalog: Catalog
) -> None:
    """No credentials, another audience's, and a body of junk: each answer's status is in the description."""
    document = (await client.get("/schema/openapi.json")).json()
    callers = {"anonymous": {}, "shopper": shopper.headers, "mall": catalog.malls.haru.headers}
    undeclared = []
    answered = 0
    for (method, path), (route, _) in sorted(route_table(app).items()):
        operation = document["paths"].get(path, {}).get(method.lower())
        if operation is None:  # served outside the description: tests/shoa_api/test_openapi.py lists them
            continue
        ids = {name: uuid.uuid4() if part.type is uuid.UUID else "x" for name, part in route.path_parameters.items()}
        for caller, headers in callers.items():
            for body in [None] if method in {"GET", "DELETE"} else [{}, {"junk": [1, {"deeper": None}]}]:
                answer = await client.request(method, path.format(**ids), headers=headers, json=body)
                answered += 1
                if str(answer.status_code) not in operation["responses"]:
                    undeclared.append((f"{method} {path}", caller, body, answer.status_code))

    assert answered > 250
    assert undeclared == []
