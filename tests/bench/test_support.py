"""The chatbot benchmark's pure parts: the order data it writes, the conversations k6 plays, and k6's summary read
back per request kind."""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

import pytest

from bench.support import BOT_ID, KINDS, USER_KEY, conversations, parse_mix, skill_request
from bench.support_orders import LINKED_EVERY, Item, OrderData, plan_orders
from orders.carriers import carrier_problem
from support import lookup
from support.channels import kakao_message

NOW = datetime.datetime(2026, 12, 7, 6, 0, tzinfo=datetime.UTC)
MALLS = [uuid.UUID(int=1), uuid.UUID(int=2)]
SHIPPING = {MALLS[0]: (3000, 50000), MALLS[1]: (2500, None)}


def _items() -> list[Item]:
    return [
        Item(variant_id=uuid.uuid4(), product_id=uuid.uuid4(), mall_id=MALLS[n % 2], name=f"린넨 셔츠 {n}",
             sku=f"S{n}-BK-M", options="블랙 / M", price=19000 + 1000 * n)
        for n in range(12)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def data() -> OrderData:
    return plan_orders(_items(), SHIPPING, shoppers=60, now=NOW, seed=7)


def _rows(data: OrderData, table: str, **where: object) -> list[dict[str, Any]]:
    return [row for row in data.tables[table] if all(row[key] == value for key, value in where.items())]


def test_a_skill_request_reads_as_kakao_sends_it() -> None:
    body = json.dumps(skill_request("bot-user-1", "택배 언제와요", app_user_id="4100000003")).encode()

    message = kakao_message({"X-Shoa-Skill-Secret": "s"}, body, secret="s", bot_id=BOT_ID)

    assert (message.channel, message.chat_user, message.text) == ("kakao", "bot-user-1", "택배 언제와요")
    assert message.app_user_id == "4100000003"


def test_every_linked_shopper_has_exactly_one_parcel_on_its_way_with_a_tracking_number(data: OrderData) -> None:
    identities = data.tables["oauth_identities"]
    assert len(identities) == len(data.linked) == 60 // LINKED_EVERY
    for identity, (app_user_id, tracking) in zip(identities, data.linked, strict=True):
        assert identity["subject"] == app_user_id
        orders = {row["id"] for row in _rows(data, "orders", user_id=identity["user_id"])}
        parts = [row for row in data.tables["mall_orders"] if row["order_id"] in orders]
        on_its_way = [part for part in parts if part["status"] in {"paid", "preparing", "shipped"}]
        assert len(on_its_way) == 1
        assert on_its_way[0]["status"] == "shipped"
        assert on_its_way[0]["tracking_number"] == tracking
        assert carrier_problem(str(on_its_way[0]["carrier"]), tracking) is None


def test_an_unlinked_shoppers_order_is_proven_by_its_number_and_the_last_digits_of_its_phone(data: OrderData) -> None:
    assert data.proofs
    for number, digits in data.proofs:
        (order,) = _rows(data, "orders", number=number)
        assert lookup.order_number_in(f"주문번호 {number} 입니다") == number
        assert str(order["address"]["phone"]).endswith(digits)


def test_the_order_rows_add_up_as_the_schema_requires(data: OrderData) -> None:
    numbers = [row["number"] for row in data.tables["orders"]]
    assert len(set(numbers)) == len(numbers)
    for order in data.tables["orders"]:
        parts = _rows(data, "mall_orders", order_id=order["id"])
        assert order["total_amount"] == order["items_amount"] + order["shipping_amount"]
        assert order["items_amount"] == sum(part["items_amount"] for part in parts)
        for part in parts:
            assert 0 <= part["refunded_amount"] <= part["items_amount"] + part["shipping_fee"]
            transitions = _rows(data, "order_transitions", mall_order_id=part["id"])
            assert transitions[-1]["to_status"] == part["status"]
            assert (part["delivered_at"] is not None) == any(t["to_status"] == "delivered" for t in transitions)


def test_each_conversation_is_the_kinds_in_order_with_bodies_the_webhook_reads(data: OrderData) -> None:
    played = conversations(data, count=5)

    assert len(played) == 5
    for conversation, (number, digits) in zip(played, data.proofs, strict=False):
        assert [step["kind"] for step in conversation] == list(KINDS)
        messages = [
            kakao_message({"x-shoa-skill-secret": "s"}, step["body"].replace(USER_KEY, "someone").encode(),
                          secret="s", bot_id=BOT_ID)
            for step in conversation
        ]  # fmt: skip
        assert {message.chat_user for message in messages[:-1]} == {"someone"}
        assert lookup.order_number_in(messages[2].text) == number
        assert lookup.digits_in(messages[3].text) == digits
        assert messages[-1].app_user_id is not None
        assert messages[-1].chat_user != "someone"  # a linked shopper writes from their own botUserKey
        assert all(step["expect"] for step in conversation)


def test_the_k6_summary_is_read_back_per_kind() -> None:
    summary = {
        "metrics": {
            "http_reqs": {"count": 600, "rate": 100.0},
            "http_req_duration": {"avg": 90.0, "p(50)": 80.0, "p(99)": 240.0},
            "kind_greeting": {"avg": 50.0, "p(50)": 45.0, "p(99)": 120.0, "count": 100},
            "failed_greeting": {"count": 3, "rate": 0.5},
            "non_2xx_greeting": {"count": 1, "rate": 0.1667},
            "kind_proof": {"avg": 120.0, "p(50)": 110.0, "p(99)": 300.0, "count": 100},
        }
    }

    mix = parse_mix(summary, ["greeting", "proof"])

    assert mix.overall.requests_per_second == 100.0
    assert (mix.overall.p99_ms, mix.overall.failed, mix.overall.non_2xx) == (240.0, 3, 1)
    greeting, proof = mix.kinds["greeting"], mix.kinds["proof"]
    assert greeting.requests_per_second == pytest.approx(100 / 6)  # 100 of 600 requests over the run's 6 s
    assert (greeting.p50_ms, greeting.p99_ms, greeting.failed, greeting.non_2xx) == (45.0, 120.0, 3, 1)
    assert (proof.p99_ms, proof.failed) == (300.0, 0)
