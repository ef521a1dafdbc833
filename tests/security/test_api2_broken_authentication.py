"""OWASP API Security Top 10 (2023), API2 — broken authentication: only a live access token Shoa issued to a shopper,
sent as ``Authorization: Bearer``, opens a shopper's routes, and only a live key opens a mall's.

Here: tokens Shoa signed for another audience (the insights page's link and session, other ``typ`` or ``iss``
claims, a refresh token, a mall's key) are refused as shopper tokens and the other way round; unsigned tokens in
every spelling of ``alg: none``, other algorithms, and headers naming a key to fetch (``jku``, ``x5u``, ``jwk``) are
refused without Shoa fetching anything; credentials anywhere but the Authorization header count for nothing; a
refresh token past its lifetime is refused, and logging out with another shopper's refresh token ends nothing of
hers; a validly signed token naming no account opens nothing.

The rest is ``tests/shoa_api/test_auth.py``: expired tokens (``test_an_expired_token_is_refused``, and cached ones
``test_a_token_verified_before_is_still_refused_once_it_expires``), tampered payloads, ``alg: none``, another
service's key, absurd expiries, reused refresh tokens ending the whole login in every process, logged-out tokens,
key rotation, erased accounts; lock-outs and login limits are ``tests/shoa_api/test_ratelimit.py``; revoked, rotated
and unscoped mall keys ``tests/catalog/test_partner_keys.py``; social logins' forged, replayed and expired states and
ID tokens ``tests/shoa_api/test_oauth.py``.
"""

from __future__ import annotations

import base64
import datetime
import json
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from accounts.models import RefreshToken
from accounts.tokens import key_id
from shoa_api.pages.sign_in import sign_in_from
from shoa_api.wiring import access_tokens_from
from shoa_kernel.clock import utc_now
from tests.security.conftest import Listener

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoa_api.settings import Settings
    from tests.client import ShoaClient
    from tests.orders.conftest import Catalog, Shopper

PASSWORD = "linen-shirt-2026"


def _b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def signed_up(client: ShoaClient, email: str) -> dict[str, Any]:
    answer = await client.post("/v1/auth/signup", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def signed_with_shoa_s_key(settings: Settings, claims: dict[str, Any], *, algorithm: str = "HS256") -> str:
    secret = settings.security.secret_key.reveal()
    header = {"alg": algorithm, "kid": key_id(secret), "typ": "JWT"}
    return jwt.encode(header, claims, OctKey.import_key(secret), algorithms=[algorithm])


async def test_a_token_minted_for_another_audience_is_refused(
    client: ShoaClient, settings: Settings, catalog: Catalog, shopper: Shopper
) -> None:
    tokens = await signed_up(client, "seoyeon@example.kr")
    user_id, mall_id = tokens["profile"]["id"], str(catalog.malls.haru.id)
    now = utc_now()
    pages = sign_in_from(settings.security)
    access = _claims(tokens["access_token"])
    other_audiences = {
        "insights link": pages.issue_link(catalog.malls.haru.id, now=now)[0],
        "insights session": pages.issue_session(catalog.malls.haru.id, now=now)[0],
        "insights session for her id": signed_with_shoa_s_key(settings, access | {"typ": "insights-session"}),
        "typ refresh": signed_with_shoa_s_key(settings, access | {"typ": "refresh"}),
        "no typ": signed_with_shoa_s_key(settings, {k: v for k, v in access.items() if k != "typ"}),
        "another issuer": signed_with_shoa_s_key(settings, access | {"iss": "shoa-partner"}),
        "a mall as subject": signed_with_shoa_s_key(settings, access | {"sub": mall_id}),
        "her refresh token": tokens["refresh_token"],
        "a mall's key": catalog.malls.haru.key,
    }

    as_shopper = {name: (await client.get("/v1/me", headers=bearer(token))).status_code
                  for name, token in other_audiences.items()}  # fmt: skip
    shopper_token_as_key = await client.get("/partner/v1/me", headers=bearer(tokens["access_token"]))
    access_as_refresh = await client.post("/v1/auth/refresh", json={"refresh_token": tokens["access_token"]})
    key_as_refresh = await client.post("/v1/auth/refresh", json={"refresh_token": catalog.malls.haru.key})

    assert as_shopper == dict.fromkeys(other_audiences, 401)
    assert shopper_token_as_key.status_code == 401
    assert access_as_refresh.status_code in (401, 422)  # not even the shape of a refresh token
    assert key_as_refresh.status_code == 401
    me = await client.get("/v1/me", headers=bearer(tokens["access_token"]))
    assert (me.status_code, me.json()["id"]) == (200, user_id)
    assert (await shopper.call("GET", "/v1/me")).status_code == 200


async def test_unsigned_and_algorithm_swapped_tokens_are_refused_and_no_key_is_fetched(
    client: ShoaClient, settings: Settings
) -> None:
    tokens = await signed_up(client, "seoyeon@example.kr")
    header_b64, payload_b64, signature = tokens["access_token"].split(".")
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    claims = _claims(tokens["access_token"])
    attacker = RSAKey.generate_key(2048, parameters={"kid": "attacker"})
    forged: dict[str, str] = {}
    for alg in ("none", "None", "NONE", "nOnE"):
        forged[f"alg {alg}, no signature"] = f"{_b64(header | {'alg': alg})}.{payload_b64}."
        forged[f"alg {alg}, the real signature"] = f"{_b64(header | {'alg': alg})}.{payload_b64}.{signature}"
    forged["no alg"] = f"{_b64({k: v for k, v in header.items() if k != 'alg'})}.{payload_b64}.{signature}"
    for alg in ("HS384", "HS512"):
        forged[f"{alg} with Shoa's key"] = signed_with_shoa_s_key(settings, claims, algorithm=alg)
    forged["a kid naming a file"] = f"{_b64(header | {'kid': '../../../../dev/null'})}.{payload_b64}.{signature}"
    forged["no signature"] = f"{header_b64}.{payload_b64}."
    forged["two signatures"] = f"{header_b64}.{payload_b64}.{signature}.{signature}"
    with Listener() as listener:
        for where in ("jku", "x5u"):
            forged[f"{where} at a server of ours"] = jwt.encode(
                {"alg": "RS256", "kid": "attacker", where: f"{listener.url}/keys.json"}, claims, attacker,
                algorithms=["RS256"],
            )  # fmt: skip
        forged["its own key in jwk"] = jwt.encode(
            {"alg": "RS256", "jwk": attacker.as_dict(private=False)}, claims, attacker, algorithms=["RS256"]
        )
        forged["a huge token"] = "a." * 8000 + "b"

        answers = {name: await client.get("/v1/me", headers=bearer(token)) for name, token in forged.items()}

        fetched = listener.connections

    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(forged, 401)
    assert {answer.headers["content-type"] for answer in answers.values()} == {"application/problem+json"}
    assert fetched == 0
    assert (await client.get("/v1/me", headers=bearer(tokens["access_token"]))).status_code == 200


async def test_credentials_count_only_in_the_authorization_header(client: ShoaClient, catalog: Catalog) -> None:
    token = (await signed_up(client, "seoyeon@example.kr"))["access_token"]
    key = catalog.malls.haru.key
    elsewhere = [
        ("/v1/me", {"params": {"access_token": token}}),
        ("/v1/me", {"headers": {"Cookie": f"access_token={token}"}}),
        ("/v1/me", {"headers": {"X-Access-Token": token}}),
        ("/v1/me", {"headers": {"Authorization": f"Basic {token}"}}),
        ("/v1/me", {"headers": {"Authorization": f"Token {token}"}}),
        ("/v1/me", {"headers": {"Authorization": token}}),
        ("/partner/v1/me", {"params": {"api_key": key}}),
        ("/partner/v1/me", {"headers": {"X-Api-Key": key}}),
        ("/partner/v1/me", {"headers": {"Authorization": f"Basic {key}"}}),
    ]

    statuses = [(await client.get(path, **where)).status_code for path, where in elsewhere]  # type: ignore[arg-type]

    assert statuses == [401] * len(elsewhere)
    assert (await client.get("/v1/me", headers=bearer(token))).status_code == 200
    assert (await client.get("/partner/v1/me", headers=bearer(key))).status_code == 200


async def test_an_expired_refresh_token_or_another_shopper_s_logs_nobody_in_or_out(
    client: ShoaClient, session: AsyncSession
) -> None:
    hers = await signed_up(client, "seoyeon@example.kr")
    other = await signed_up(client, "minji@example.kr")
    stale = (await client.post("/v1/auth/login", json={"login": "seoyeon@example.kr", "password": PASSWORD})).json()
    await session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.user_id == uuid.UUID(stale["profile"]["id"]))
        .where(RefreshToken.created_at == sa.select(sa.func.max(RefreshToken.created_at)).scalar_subquery())
        .values(expires_at=utc_now() - datetime.timedelta(seconds=1))
    )
    await session.commit()

    expired = await client.post("/v1/auth/refresh", json={"refresh_token": stale["refresh_token"]})
    # She logs out presenting the other shopper's refresh token: her own access token ends, the other's login lives.
    logged_out = await client.post("/v1/auth/logout", headers=bearer(hers["access_token"]),
                                   json={"refresh_token": other["refresh_token"]})  # fmt: skip

    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]
    assert logged_out.status_code == 204
    assert (await client.get("/v1/me", headers=bearer(hers["access_token"]))).status_code == 401
    assert (await client.get("/v1/me", headers=bearer(other["access_token"]))).status_code == 200
    refreshed = await client.post("/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert refreshed.status_code == 200


async def test_a_validly_signed_token_naming_no_account_opens_nothing(
    client: ShoaClient, settings: Settings, catalog: Catalog
) -> None:
    """Only Shoa's key signs tokens, but a token outliving its account (or a leaked key's forgery) must not act."""
    nobody = bearer(access_tokens_from(settings.security).issue(uuid.uuid4(), now=utc_now())[0])
    dress = catalog.variant("H1-BK-M")
    address = {"postcode": "04044", "road_address": "서울특별시 마포구 양화로 45", "recipient": "김지영",
               "phone": "010-1234-5678"}  # fmt: skip
    writes = [
        ("PATCH", "/v1/me", {"display_name": "누구"}), ("PUT", f"/v1/cart/items/{dress}", {"quantity": 1}),
        ("POST", "/v1/orders", {"address": address, "payment_method": "card",
                                "lines": [{"variant_id": str(dress), "quantity": 1}]}),
        ("PUT", f"/v1/likes/{catalog.products['H1']}", None), ("PUT", "/v1/me/marketing/sms", None),
        ("PUT", f"/v1/alerts/restock/{catalog.variant('H1-BK-L')}", None),
        ("PATCH", "/v1/alerts/settings", {"cart_reminders": False}),
    ]  # fmt: skip

    written = {
        f"{method} {path}": (
            await client.request(method, path, json=body, headers=nobody | {"Idempotency-Key": "k-1"})
        ).status_code
        for method, path, body in writes
    }
    me = await client.get("/v1/me", headers=nobody)
    read = [(await client.get(path, headers=nobody)).json() for path in ("/v1/cart", "/v1/orders", "/v1/likes")]

    assert written == dict.fromkeys(written, 401)
    assert me.status_code == 401
    assert read == [
        {"malls": [], "items_amount": 0, "shipping_amount": 0, "total_amount": 0, "orderable": False},
        {"items": [], "next_cursor": None},
        {"items": [], "next_cursor": None},
    ]
    assert await catalog.stock("H1-BK-M") == 10
