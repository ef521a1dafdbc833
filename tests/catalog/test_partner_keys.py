"""A mall's engineer gets a key from the operator's CLI and calls the partner API with it."""

from __future__ import annotations

import asyncio
import datetime
import re
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from litestar import get
from litestar.di import NamedDependency  # noqa: TC002 - read by Litestar when the route is registered

from catalog import keys
from catalog.errors import MallNotFoundError, MissingScopeError
from catalog.keys import PartnerIdentity  # noqa: TC001
from catalog.models import ApiKeyScope, MallApiKey
from shoa_api.auth import require_partner_key
from shoa_api.settings import child_environment
from tests.factories import create_mall

if TYPE_CHECKING:
    from pathlib import Path

    from litestar import Litestar
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.client import ShoaClient
    from tests.conftest import Services


async def _shoa(services: Services, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "shoa_api", *args],
        env=child_environment(services.environ()),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _key_in(output: str) -> str:
    found = re.search(r"shoa_pk_[A-Za-z0-9_-]{43}", output)
    assert found, output
    return found.group(0)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_the_cli_registers_a_mall_and_issues_a_key_shown_once(
    services: Services, tmp_path: Path, client: ShoaClient, session: AsyncSession
) -> None:
    created = await _shoa(services, tmp_path, "malls", "create", "--slug", "haru-ilsang", "--name", "하루일상")
    assert created.returncode == 0, created.stderr
    issued = await _shoa(
        services, tmp_path, "malls", "keys", "create", "--mall", "haru-ilsang", "--name", "production sync",
        "--scope", "catalog:write", "--scope", "orders:read",
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    key = _key_in(issued.stdout)

    response = await client.get("/partner/v1/me", headers=_bearer(key))

    assert response.status_code == 200, response.text
    assert response.json()["mall_slug"] == "haru-ilsang"
    assert response.json()["scopes"] == ["catalog:write", "orders:read"]
    listed = await _shoa(services, tmp_path, "malls", "keys", "list", "--mall", "haru-ilsang")
    assert key not in listed.stdout
    assert key[:14] in listed.stdout
    assert "last_used=20" in listed.stdout
    stored = await session.scalar(sa.select(MallApiKey.key_hash))
    assert stored is not None
    assert key not in stored


async def test_the_cli_refuses_bad_input_in_one_line(services: Services, tmp_path: Path) -> None:
    bad_slug = await _shoa(services, tmp_path, "malls", "create", "--slug", "Haru Ilsang", "--name", "하루일상")
    no_mall = await _shoa(
        services, tmp_path, "malls", "keys", "create", "--mall", "nowhere", "--name", "x", "--scope", "orders:read"
    )
    await _shoa(services, tmp_path, "malls", "create", "--slug", "blanche", "--name", "블랑쉬")
    bad_scope = await _shoa(
        services, tmp_path, "malls", "keys", "create", "--mall", "blanche", "--name", "x", "--scope", "admin"
    )

    flipped_name = await _shoa(services, tmp_path, "malls", "create", "--slug", "flip", "--name", "하루\u202e일상")
    blank_name = await _shoa(services, tmp_path, "malls", "create", "--slug", "blank", "--name", " \u200b ")

    for result in (bad_slug, no_mall, bad_scope, flipped_name, blank_name):
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1
    assert "admin" in bad_scope.stderr
    assert "direction" in flipped_name.stderr


async def test_a_revoked_key_stops_at_once(client: ShoaClient, session: AsyncSession) -> None:
    mall = await create_mall(session)
    issued = await keys.issue_key(session, mall_id=mall.id, name="sync", scopes=["catalog:write"])
    await session.commit()
    assert (await client.get("/partner/v1/me", headers=_bearer(issued.key))).status_code == 200

    await keys.revoke_key(session, mall_id=mall.id, key_id=issued.id, now=datetime.datetime.now(datetime.UTC))
    await session.commit()

    response = await client.get("/partner/v1/me", headers=_bearer(issued.key))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_rotation_keeps_the_old_key_working_for_the_overlap(client: ShoaClient, session: AsyncSession) -> None:
    mall = await create_mall(session)
    old = await keys.issue_key(session, mall_id=mall.id, name="sync", scopes=["catalog:write"])
    now = datetime.datetime.now(datetime.UTC)
    new = await keys.rotate_key(session, mall_id=mall.id, key_id=old.id, overlap=datetime.timedelta(hours=1), now=now)
    await session.commit()

    assert (await client.get("/partner/v1/me", headers=_bearer(old.key))).status_code == 200
    assert (await client.get("/partner/v1/me", headers=_bearer(new.key))).json()["scopes"] == ["catalog:write"]

    await session.execute(sa.update(MallApiKey).where(MallApiKey.id == old.id).values(expires_at=now))
    await session.commit()
    assert (await client.get("/partner/v1/me", headers=_bearer(old.key))).status_code == 401
    assert (await client.get("/partner/v1/me", headers=_bearer(new.key))).status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer ", "Basic c2hvYTpzaG9h", "Bearer shoa_pk_" + "x" * 43, "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"],
)
async def test_partner_routes_need_a_real_key(client: ShoaClient, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = await client.get("/partner/v1/me", headers=headers)

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith('Bearer realm="shoa"')


async def test_a_key_without_the_route_s_scope_is_forbidden(
    app: Litestar, client: ShoaClient, session: AsyncSession
) -> None:
    app.register(get("/partner/v1/scoped", opt={"scope": "orders:write"}, guards=[require_partner_key])(_scoped))
    mall = await create_mall(session)
    reader = await keys.issue_key(session, mall_id=mall.id, name="reader", scopes=["orders:read"])
    writer = await keys.issue_key(session, mall_id=mall.id, name="writer", scopes=["orders:write"])
    await session.commit()

    assert (await client.get("/partner/v1/scoped", headers=_bearer(reader.key))).status_code == 403
    assert (await client.get("/partner/v1/scoped", headers=_bearer(writer.key))).status_code == 200


async def _scoped(partner: NamedDependency[PartnerIdentity]) -> dict[str, str]:
    return {"mall": partner.mall_slug}


async def test_an_identity_is_confined_to_its_own_mall(session: AsyncSession) -> None:
    mine, theirs = await create_mall(session, name="하루일상"), await create_mall(session, name="블랑쉬")
    issued = await keys.issue_key(session, mall_id=mine.id, name="sync", scopes=["orders:read"])
    identity = await keys.authenticate(session, issued.key, now=datetime.datetime.now(datetime.UTC))

    identity.require_mall(mine.id)
    with pytest.raises(MallNotFoundError):
        identity.require_mall(theirs.id)
    with pytest.raises(MissingScopeError):
        identity.require(ApiKeyScope.CATALOG_WRITE)
