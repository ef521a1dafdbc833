"""What the API shows of messaging: a shopper's messages, providers' delivery reports, the sandbox's list in
development, and the counts in /metrics; every answer as the API's description says."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from notify.providers.sandbox import sign_receipts
from shoa_api.app import create_app
from shoa_api.settings import load_settings
from tests.client import ShoaClient
from tests.notify.builders import (
    PHONE,
    attempts,
    dispatcher,
    every_channel,
    korean_phone,
    outbox,
    outgoing,
    sandbox,
    sandbox_messages,
    sessions,
    stored,
)
from tests.shoa_api.test_auth import bearer, signup
from tests.shoa_api.test_openapi import Exchanges

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from notify.models import Message
    from tests.conftest import Services

RECEIPT_KEY = "sandbox-receipts-0123456789"
METRICS_TOKEN = "scraper-token-0123456789abcdef"


@pytest.fixture
async def app_client(services: Services) -> AsyncIterator[ShoaClient]:
    """The API with signed sandbox receipts and a metrics token."""
    environ = services.environ(SHOA_NOTIFY_SANDBOX_RECEIPT_KEY=RECEIPT_KEY, SHOA_METRICS_TOKEN=METRICS_TOKEN)
    async with ShoaClient(app=create_app(load_settings(environ, env_file=None))) as client:
        yield client


async def _shopper(client: ShoaClient, session: AsyncSession, email: str) -> tuple[dict[str, str], uuid.UUID]:
    tokens = await signup(client, email=email, phone=None)
    user_id = uuid.UUID(tokens["profile"]["id"])
    await session.execute(
        sa.text("UPDATE users SET phone = :phone, consent_alimtalk = true, consent_sms = true WHERE id = :id"),
        {"phone": f"+8210{user_id.int % 10**8:08d}", "id": user_id},
    )
    await session.commit()
    return bearer(tokens), user_id


async def test_a_shopper_sees_her_messages_newest_first_a_page_at_a_time(
    app_client: ShoaClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    jiyoung, jiyoung_id = await _shopper(app_client, session, "jiyoung@example.kr")
    other, other_id = await _shopper(app_client, session, "minji@example.kr")
    box = outbox()
    for event in ("order_received", "shipping_started", "deposit_requested"):
        await box.enqueue(session, outgoing(event, user_id=jiyoung_id))
    await box.enqueue(session, outgoing("order_received", user_id=other_id))
    await session.commit()
    await dispatcher(every_channel(sandbox(engine))).run(sessions(engine))

    first = (await app_client.get("/v1/me/messages", headers=jiyoung, params={"limit": 2})).json()
    rest = (
        await app_client.get("/v1/me/messages", headers=jiyoung, params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()

    events = [item["event"] for item in first["items"] + rest["items"]]
    assert events == ["deposit_requested", "shipping_started", "order_received"]
    assert rest["next_cursor"] is None
    shipped = first["items"][1]
    assert (shipped["channel"], shipped["status"]) == ("alimtalk", "accepted")
    assert "상품 배송이 시작됐습니다" in shipped["text"]
    assert shipped["accepted_at"] is not None
    mine = (await app_client.get("/v1/me/messages", headers=other)).json()["items"]
    assert [item["event"] for item in mine] == ["order_received"]


async def test_a_cursor_the_api_did_not_give_is_refused(app_client: ShoaClient, session: AsyncSession) -> None:
    jiyoung, _ = await _shopper(app_client, session, "jiyoung@example.kr")

    response = await app_client.get("/v1/me/messages", headers=jiyoung, params={"cursor": "not-ours"})

    assert response.status_code == 404
    assert response.json()["type"].endswith("/invalid-cursor")


async def _send_one(session: AsyncSession, engine: AsyncEngine) -> Message:
    enqueued = await outbox().enqueue(session, outgoing(recipient=korean_phone()))
    await session.commit()
    await dispatcher(every_channel(sandbox(engine))).run(sessions(engine))
    return await stored(session, enqueued.message_id)


async def _report(client: ShoaClient, receipts: list[dict[str, Any]], *, key: str = RECEIPT_KEY) -> Any:
    body = json.dumps({"receipts": receipts}).encode()
    return await client.post(
        "/webhooks/messaging/sandbox",
        content=body,
        headers={"Content-Type": "application/json", "X-Sandbox-Signature": sign_receipts(key, body)},
    )


async def test_a_delivered_receipt_marks_the_message_delivered_once(
    app_client: ShoaClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    message = await _send_one(session, engine)
    receipt = {"message_id": message.provider_message_id, "delivered": True, "result_code": "1000"}

    first = await _report(app_client, [receipt])
    again = await _report(app_client, [receipt])  # providers repeat their reports

    assert first.json() == {"received": 1, "applied": 1}
    assert again.json() == {"received": 1, "applied": 0}
    delivered = await stored(session, message.id)
    assert delivered.status == "delivered"
    assert delivered.delivered_at is not None
    assert [a.outcome for a in await attempts(session, message.id)] == ["accepted", "delivered"]


async def test_a_failed_alimtalk_receipt_falls_back_to_sms(
    app_client: ShoaClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    message = await _send_one(session, engine)
    assert message.channel == "alimtalk"

    answer = await _report(app_client, [{"message_id": message.provider_message_id, "delivered": False,
                                         "result_code": "3018"}])  # fmt: skip
    await dispatcher(every_channel(sandbox(engine))).run(sessions(engine))

    assert answer.json() == {"received": 1, "applied": 1}
    after = await stored(session, message.id)
    assert (after.status, after.channel) == ("accepted", "sms")
    assert [(m.channel, m.address) for m in await sandbox_messages(session)] == [("alimtalk", PHONE), ("sms", PHONE)]
    assert [a.outcome for a in await attempts(session, message.id)] == ["accepted", "undelivered", "accepted"]


async def test_a_report_whose_signature_does_not_verify_is_refused(
    app_client: ShoaClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    message = await _send_one(session, engine)

    forged = await _report(app_client, [{"message_id": message.provider_message_id, "delivered": True}], key="guess")

    assert forged.status_code == 401
    assert forged.headers["content-type"].startswith("application/problem+json")
    assert forged.json()["type"].endswith("/receipt-rejected")
    assert (await stored(session, message.id)).status == "accepted"


async def test_an_unknown_provider_is_not_found(app_client: ShoaClient) -> None:
    for name in ("kakao", "nhn"):  # nhn exists, but is not configured here
        response = await app_client.post("/webhooks/messaging/" + name, content=b"{}")
        assert response.status_code == 404
        assert response.json()["type"].endswith("/messaging-provider-not-found")


async def test_the_sandbox_list_is_served_in_development_only(
    services: Services, session: AsyncSession, engine: AsyncEngine, app_client: ShoaClient
) -> None:
    message = await _send_one(session, engine)
    development = create_app(load_settings(services.environ(SHOA_ENV="development"), env_file=None))

    async with ShoaClient(app=development) as dev_client:
        listed = (await dev_client.get("/dev/messages")).json()

    assert [item["message_id"] for item in listed["items"]] == [str(message.id)]
    assert listed["items"][0]["template_code"] == "SHOA_SHIPPING_KO"
    assert (await app_client.get("/dev/messages")).status_code == 404


async def test_metrics_count_attempts_per_provider_and_outcome(
    app_client: ShoaClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    await _send_one(session, engine)

    response = await app_client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})

    assert 'shoa_notify_attempts_total{channel="alimtalk",outcome="accepted",provider="sandbox"} 1.0' in response.text
    assert 'shoa_notify_messages{status="accepted"} 1.0' in response.text


async def test_the_messaging_answers_match_the_description(
    app_client: ShoaClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    sent = Exchanges(app_client)
    message = await _send_one(session, engine)
    jiyoung, _ = await _shopper(app_client, session, "jiyoung@example.kr")
    body = json.dumps({"receipts": [{"message_id": message.provider_message_id, "delivered": True}]}).encode()

    await sent.send("GET", "/v1/me/messages", headers=jiyoung)
    await sent.send("GET", "/v1/me/messages", headers=jiyoung, params={"cursor": "x"})
    await sent.send("GET", "/v1/me/messages")
    await sent.send("POST", "/webhooks/messaging/sandbox", content=body,
                    headers={"X-Sandbox-Signature": sign_receipts(RECEIPT_KEY, body)})  # fmt: skip
    await sent.send("POST", "/webhooks/messaging/sandbox", content=body, headers={"X-Sandbox-Signature": "sha256=0"})
    await sent.send("POST", "/webhooks/messaging/kakao", content=body)

    statuses = sent.check((await app_client.get("/schema/openapi.json")).json())

    assert statuses == {200, 401, 404}
