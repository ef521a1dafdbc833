"""OWASP API Security Top 10 (2023), API1 — broken object level authorization: an id names an object to its owner
alone. Another shopper's order, cart line, like or alert, another mall's order, return, product or SKU, a hidden
product, a paused mall and a guessed id (a fresh UUIDv7, a real id's neighbour, a message link's token) are not
found; acting on them changes nothing of their owner's; ids inside bodies (a part, a line, an option) are checked
against the object the path names.

Every id-taking route is listed in ``PATH_IDS`` and every id inside a request body in ``BODY_IDS``, each with the test
that proves it; both lists are checked against the app's route table and its OpenAPI description, so a new route or
body field that takes an id fails here until it has a case. Each caller kind meeting each route (anonymous, a
shopper, another shopper, a mall, another mall, a revoked or unscoped key), with exactly the status it gets, is
``tests/shoa_api/test_authorization_matrix.py``; another mall's inquiries are
``tests/support/test_inquiries.py::test_a_mall_sees_and_touches_only_its_own_inquiries``.
"""

from __future__ import annotations

import importlib
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from uuid_utils.compat import uuid7

from accounts.models import MarketingConsent
from catalog.models import MallStatus
from tests.factories import create_mall
from tests.orders.conftest import pay_by_card, place_order
from tests.security.conftest import route_table

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx
    from litestar import Litestar
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.client import ShoaClient
    from tests.orders.conftest import Catalog, PartnerMall, Shopper

SELECTORS = {"provider", "gateway", "channel", "path", "file_path"}
"""Path parameters that name a kind of thing (a login provider, a gateway, a marketing channel, a docs file), not
an object someone owns."""
MATRIX = "tests/shoa_api/test_authorization_matrix.py::test_each_caller_gets_exactly_the_expected_status_on_orders"
INQUIRIES = "tests/support/test_inquiries.py::test_a_mall_sees_and_touches_only_its_own_inquiries"
PATH_IDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("GET", "/v1/malls/{mall_id}"): ("test_hidden_products_and_paused_malls_are_not_found_by_anyone",),
    ("GET", "/v1/products/{product_id}"): ("test_hidden_products_and_paused_malls_are_not_found_by_anyone",),
    ("PUT", "/v1/likes/{product_id}"): ("test_a_shopper_s_cart_likes_and_alerts_are_hers_alone",),
    ("DELETE", "/v1/likes/{product_id}"): ("test_a_shopper_s_cart_likes_and_alerts_are_hers_alone",),
    ("PUT", "/v1/cart/items/{variant_id}"): ("test_a_shopper_s_cart_likes_and_alerts_are_hers_alone",),
    ("DELETE", "/v1/cart/items/{variant_id}"): ("test_a_shopper_s_cart_likes_and_alerts_are_hers_alone",),
    ("PUT", "/v1/alerts/restock/{variant_id}"): ("test_a_shopper_s_cart_likes_and_alerts_are_hers_alone",),
    ("DELETE", "/v1/alerts/restock/{variant_id}"): ("test_a_shopper_s_cart_likes_and_alerts_are_hers_alone",),
    **{
        (method, f"/v1/orders/{{order_id}}{action}"): ("test_ids_of_other_orders_and_parts_reach_nothing", MATRIX)
        for method, action in (
            ("GET", ""), ("POST", "/payment/confirm"), ("POST", "/cancel"), ("POST", "/returns"),
            ("POST", "/exchanges"), ("POST", "/confirm"),
        )
    },
    **{
        ("POST", f"/partner/v1/orders/{{mall_order_id}}/{action}"): (
            "test_another_mall_s_orders_returns_and_inquiries_are_not_found", MATRIX,
        )
        for action in ("accept", "ship", "deliver", "cancel", "returns/{return_id}/receive")
    },
    ("PATCH", "/partner/v1/products/{external_id}"): ("test_another_mall_s_products_and_skus_are_not_found",),
    ("DELETE", "/partner/v1/products/{external_id}"): ("test_another_mall_s_products_and_skus_are_not_found",),
    **{
        (method, f"/partner/v1/inquiries/{{inquiry_id}}{action}"): (
            "test_another_mall_s_orders_returns_and_inquiries_are_not_found", INQUIRIES,
        )
        for method, action in (("GET", ""), ("POST", "/replies"), ("POST", "/close"))
    },
    ("GET", "/w/{token}"): ("test_a_guessed_message_link_opens_nothing",),
    ("GET", "/w/{token}/opt-out"): ("test_a_guessed_message_link_opens_nothing",),
    ("POST", "/w/{token}/opt-out"): ("test_a_guessed_message_link_opens_nothing",),
}  # fmt: skip
"""Each route that takes an object's id in its path, and the tests that prove only its owner reaches the object."""
PUBLIC = "a listed product's options and products are everyone's to name; hidden ones are not found"
BODY_IDS: dict[tuple[str, str], str] = {
    ("checkout", "lines[].variant_id"): PUBLIC,
    ("record_events", "events[].product_id"): PUBLIC,
    ("record_events", "events[].id"): "the app's own id for its event, deduplicated per shopper or device",
    ("cancel_order", "mall_order_id"): "test_ids_of_other_orders_and_parts_reach_nothing",
    ("confirm_purchase", "mall_order_id"): "test_ids_of_other_orders_and_parts_reach_nothing",
    ("request_return", "mall_order_id"): "test_ids_of_other_orders_and_parts_reach_nothing",
    ("request_return", "lines[].line_id"): "test_ids_of_other_orders_and_parts_reach_nothing",
    ("request_return", "lines[].variant_id"): "test_ids_of_other_orders_and_parts_reach_nothing",
    ("request_exchange", "mall_order_id"): "test_ids_of_other_orders_and_parts_reach_nothing",
    ("request_exchange", "lines[].line_id"): "test_ids_of_other_orders_and_parts_reach_nothing",
    ("request_exchange", "lines[].variant_id"): "test_ids_of_other_orders_and_parts_reach_nothing",
}
"""Each id a request body of the API's own carries (a webhook's body is its provider's, verified as it documents)."""


def _test_exists(reference: str) -> bool:
    """Whether ``reference`` (a test of this module, or ``path::name`` of another) names a test function."""
    if "::" not in reference:
        return callable(globals().get(reference))
    path, name = reference.split("::")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return callable(getattr(module, name, None))


def _uuid_fields(schema: dict[str, Any], components: dict[str, Any], prefix: str = "") -> set[str]:
    """Where a request schema holds a UUID: ``mall_order_id``, ``lines[].line_id``."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    found = {prefix.rstrip(".")} if schema.get("format") == "uuid" and prefix else set()
    for option in schema.get("anyOf", []) + schema.get("oneOf", []):
        found |= _uuid_fields(option, components, prefix)
    for name, field in schema.get("properties", {}).items():
        found |= _uuid_fields(field, components, f"{prefix}{name}.")
    if "items" in schema:
        found |= _uuid_fields(schema["items"], components, f"{prefix.rstrip('.')}[].")
    return found


async def test_every_id_a_route_takes_has_a_case(app: Litestar, client: ShoaClient) -> None:
    taking_ids = {key for key, (route, _) in route_table(app).items() if set(route.path_parameters) - SELECTORS}
    document = (await client.get("/schema/openapi.json")).json()
    components = document["components"]["schemas"]
    in_bodies = {
        (operation["operationId"], field)
        for path, item in document["paths"].items()
        if not path.startswith("/webhooks/")
        for operation in item.values()
        if isinstance(operation, dict) and "requestBody" in operation
        for field in _uuid_fields(operation["requestBody"]["content"]["application/json"]["schema"], components)
    }

    assert taking_ids == set(PATH_IDS), "a route that takes an id needs a case in PATH_IDS"
    assert in_bodies == set(BODY_IDS), "a body that carries an id needs a case in BODY_IDS"
    named = {test for tests in PATH_IDS.values() for test in tests} | set(BODY_IDS.values()) - {PUBLIC}
    assert {reference for reference in named if " " not in reference and not _test_exists(reference)} == set()


def guessed_ids(real: str) -> list[str]:
    """What someone guessing would try: a fresh UUIDv7 (its time part is now, like the real ones) and the real id
    with its last digit changed."""
    neighbour = real[:-1] + ("0" if real[-1] != "0" else "1")
    return [str(uuid7()), neighbour]


async def statuses(calls: list[Awaitable[httpx.Response]]) -> list[int]:
    return [(await call).status_code for call in calls]


async def test_a_shopper_s_cart_likes_and_alerts_are_hers_alone(
    catalog: Catalog, shopper: Shopper, sign_up: Callable[[], Awaitable[Shopper]], client: ShoaClient
) -> None:
    other = await sign_up()
    dress, sold_out = catalog.variant("H1-BK-M"), catalog.variant("H1-BK-L")
    product = catalog.products["H1"]
    await shopper.put_item(dress, 2)
    assert (await shopper.call("PUT", f"/v1/likes/{product}")).status_code == 201
    assert (await shopper.call("PUT", f"/v1/alerts/restock/{sold_out}")).status_code == 201
    mine = (await shopper.cart(), (await shopper.call("GET", "/v1/likes")).json(),
            (await shopper.call("GET", "/v1/alerts")).json()["restock"])  # fmt: skip

    # The other shopper names the same objects: she acts on her own cart, likes and alerts, which hold none of them.
    taken_by_other = await statuses([
        other.call("DELETE", f"/v1/cart/items/{dress}"),
        other.call("DELETE", f"/v1/likes/{product}"),
        other.call("DELETE", f"/v1/alerts/restock/{sold_out}"),
    ])  # fmt: skip
    strangers = [{}, catalog.malls.haru.headers, catalog.malls.mono.headers]
    by_strangers = [
        (await client.request(method, path, headers=headers, json=body)).status_code
        for headers in strangers
        for method, path, body in (
            ("DELETE", f"/v1/cart/items/{dress}", None), ("PUT", f"/v1/cart/items/{dress}", {"quantity": 1}),
            ("DELETE", f"/v1/likes/{product}", None), ("DELETE", f"/v1/alerts/restock/{sold_out}", None),
        )
    ]  # fmt: skip
    guessed = [
        (await shopper.call(method, path, body)).status_code
        for guess in guessed_ids(str(dress))
        for method, path, body in (
            ("PUT", f"/v1/cart/items/{guess}", {"quantity": 1}), ("PUT", f"/v1/likes/{guess}", None),
            ("PUT", f"/v1/alerts/restock/{guess}", None),
        )
    ]  # fmt: skip

    assert taken_by_other[0] == 200
    assert (await other.cart())["malls"] == []
    assert taken_by_other[1:] == [204, 204]  # taking back what she never had changes nothing, as for anyone
    assert set(by_strangers) == {401}
    assert set(guessed) == {404}
    after = (await shopper.cart(), (await shopper.call("GET", "/v1/likes")).json(),
             (await shopper.call("GET", "/v1/alerts")).json()["restock"])  # fmt: skip
    assert after == mine
    assert [line["quantity"] for mall in after[0]["malls"] for line in mall["lines"]] == [2]
    assert [item["id"] for item in after[1]["items"]] == [str(product)]
    assert [alert["status"] for alert in after[2]] == ["waiting"]


async def test_hidden_products_and_paused_malls_are_not_found_by_anyone(
    catalog: Catalog, shopper: Shopper, client: ShoaClient, session: AsyncSession
) -> None:
    haru = catalog.malls.haru
    assert (await haru.call("PATCH", "/partner/v1/products/H2", {"status": "hidden"})).status_code == 200
    paused = await create_mall(session, name="쉬는몰", status=MallStatus.PAUSED)
    hidden = catalog.products["H2"]
    callers = [{}, shopper.headers, haru.headers, catalog.malls.mono.headers]

    answers = {
        path: [(await client.get(path, headers=headers)).status_code for headers in callers]
        for path in (
            f"/v1/products/{hidden}", f"/v1/malls/{paused.id}",
            *(f"/v1/products/{guess}" for guess in guessed_ids(str(catalog.products["H1"]))),
            *(f"/v1/malls/{guess}" for guess in guessed_ids(str(haru.id))),
        )
    }  # fmt: skip
    hidden_variant = catalog.variant("H2-BE-M")
    put_hidden = await statuses([
        shopper.call("PUT", f"/v1/cart/items/{hidden_variant}", {"quantity": 1}),
        shopper.call("PUT", f"/v1/likes/{hidden}"),
    ])  # fmt: skip

    assert answers == {path: [404] * 4 for path in answers}
    assert put_hidden[0] == 409  # an option not for sale cannot go in a cart, however it is named
    assert put_hidden[1] == 404
    # The mall still sees its hidden product; shoppers see the listed ones.
    listed = (await haru.call("GET", "/partner/v1/products")).json()["items"]
    assert {item["external_id"]: item["status"] for item in listed} == {"H1": "on_sale", "H2": "hidden"}
    assert (await client.get(f"/v1/products/{catalog.products['H1']}")).status_code == 200


async def test_ids_of_other_orders_and_parts_reach_nothing(
    catalog: Catalog, shopper: Shopper, sign_up: Callable[[], Awaitable[Shopper]]
) -> None:
    haru = catalog.malls.haru
    mine = await pay_by_card(shopper, await place_order(shopper, {catalog.variant("H1-BK-M"): 1,
                                                                  catalog.variant("M1-GR-F"): 1}))  # fmt: skip
    other = await sign_up()
    theirs = await pay_by_card(other, await place_order(other, {catalog.variant("H2-BE-M"): 2}))
    my_part = next(part for part in mine["mall_orders"] if part["mall_id"] == str(haru.id))
    their_part = theirs["mall_orders"][0]
    for action in ("accept", "ship", "deliver"):
        body = {"carrier": "cj", "tracking_number": "640123456789"} if action == "ship" else None
        for part in (my_part, their_part):
            assert (await haru.call("POST", f"/partner/v1/orders/{part['id']}/{action}", body)).is_success
    order = f"/v1/orders/{mine['id']}"
    my_line, their_line = my_part["lines"][0]["id"], their_part["lines"][0]["id"]

    def after_sale(part: str, line: str, variant: str | None = None) -> dict[str, Any]:
        item = {"line_id": line, "quantity": 1} | ({"variant_id": variant} if variant else {})
        return {"mall_order_id": part, "reason": "사이즈가 안 맞아요", "lines": [item]}

    # Her own order, naming the other shopper's part, line or option in the body.
    with_their_ids = await statuses([
        shopper.call("POST", f"{order}/cancel", {"mall_order_id": their_part["id"]}),
        shopper.call("POST", f"{order}/confirm", {"mall_order_id": their_part["id"]}),
        shopper.call("POST", f"{order}/returns", after_sale(their_part["id"], their_line)),
        shopper.call("POST", f"{order}/returns", after_sale(my_part["id"], their_line)),
        shopper.call("POST", f"{order}/exchanges",
                     after_sale(my_part["id"], my_line, str(catalog.variant("H2-BE-M")))),  # another product
        shopper.call("POST", f"{order}/exchanges", after_sale(their_part["id"], their_line,
                                                                str(catalog.variant("H2-BE-M")))),
    ])  # fmt: skip
    # Guessed order ids, hers and the other's ids swapped in the path.
    guessed = [
        (await shopper.call(method, f"/v1/orders/{guess}{action}", body)).status_code
        for guess in [*guessed_ids(mine["id"]), theirs["id"]]
        for method, action, body in (
            ("GET", "", None), ("POST", "/cancel", {}), ("POST", "/confirm", {}),
            ("POST", "/payment/confirm", {"payment_key": "guessed", "amount": 39000}),
            ("POST", "/returns", after_sale(my_part["id"], my_line)),
            ("POST", "/exchanges", after_sale(my_part["id"], my_line, str(catalog.variant("H1-IV-M")))),
        )
    ]  # fmt: skip

    assert with_their_ids == [409] * 6
    assert set(guessed) == {404}
    their_order = await other.order(theirs["id"])
    assert [(part["status"], part["after_sales"]) for part in their_order["mall_orders"]] == [("delivered", [])]
    assert their_order["payment"]["refunded_amount"] == 0
    # The same calls with her own ids go through: the refusals were about whose ids they were.
    returned = await shopper.call("POST", f"{order}/returns", after_sale(my_part["id"], my_line))
    assert returned.status_code == 201, returned.text


async def test_another_mall_s_orders_returns_and_inquiries_are_not_found(catalog: Catalog, shopper: Shopper) -> None:
    haru, mono = catalog.malls.haru, catalog.malls.mono
    order = await pay_by_card(shopper, await place_order(shopper, {catalog.variant("H1-BK-M"): 1,
                                                                   catalog.variant("M1-GR-F"): 1}))  # fmt: skip
    parts = {part["mall_id"]: part for part in order["mall_orders"]}
    haru_part, mono_part = parts[str(haru.id)]["id"], parts[str(mono.id)]["id"]
    for action, body in (("accept", None), ("ship", {"carrier": "cj", "tracking_number": "640123456789"}),
                         ("deliver", None)):  # fmt: skip
        assert (await haru.call("POST", f"/partner/v1/orders/{haru_part}/{action}", body)).is_success
    line = parts[str(haru.id)]["lines"][0]["id"]
    asked = await shopper.call("POST", f"/v1/orders/{order['id']}/returns",
                               {"mall_order_id": haru_part, "reason": "색이 달라요",
                                "lines": [{"line_id": line, "quantity": 1}]})  # fmt: skip
    return_id = next(p for p in asked.json()["mall_orders"] if p["id"] == haru_part)["after_sales"][0]["id"]

    def receive(mall: PartnerMall, part: str, returned: str) -> Awaitable[httpx.Response]:
        return mall.call("POST", f"/partner/v1/orders/{part}/returns/{returned}/receive")

    refused = await statuses([
        receive(mono, haru_part, return_id),  # another mall's part and its return
        receive(mono, mono_part, return_id),  # its own part, another part's return
        receive(haru, mono_part, return_id),  # the return's own mall, through another mall's part
        *(receive(haru, haru_part, guess) for guess in guessed_ids(return_id)),
        *(receive(haru, guess, return_id) for guess in guessed_ids(haru_part)),
        *(haru.call("POST", f"/partner/v1/orders/{guess}/{action}", body)
          for guess in guessed_ids(haru_part)
          for action, body in (("accept", None), ("cancel", {"reason": "품절"}), ("deliver", None),
                               ("ship", {"carrier": "cj", "tracking_number": "640123456789"}))),
        *(haru.call(method, f"/partner/v1/inquiries/{guess}{action}", body)
          for guess in guessed_ids(haru_part)
          for method, action, body in (("GET", "", None), ("POST", "/replies", {"text": "확인했습니다"}),
                                       ("POST", "/close", None))),
    ])  # fmt: skip

    assert refused == [404] * len(refused)
    seen = await shopper.order(order["id"])
    assert next(p for p in seen["mall_orders"] if p["id"] == haru_part)["after_sales"][0]["status"] == "requested"
    assert next(p for p in seen["mall_orders"] if p["id"] == mono_part)["status"] == "paid"
    received = await receive(haru, haru_part, return_id)
    assert (received.status_code, received.json()["status"]) == (200, "refunded"), received.text


async def test_another_mall_s_products_and_skus_are_not_found(catalog: Catalog) -> None:
    haru, mono = catalog.malls.haru, catalog.malls.mono
    before = {sku: await catalog.stock(sku) for sku in ("H1-BK-M", "H2-BE-M")}

    by_mono = await statuses([
        mono.call("PATCH", "/partner/v1/products/H1", {"status": "hidden"}),
        mono.call("DELETE", "/partner/v1/products/H2"),
        *(mono.call("PATCH", f"/partner/v1/products/{guess}", {"status": "hidden"}) for guess in ("H3", "h1", "H1 ")),
    ])  # fmt: skip
    # Its own product or its own stock batch, naming haru's SKUs.
    through_own = await mono.call("PATCH", "/partner/v1/products/M1", {"variants": [{"sku": "H1-BK-M", "stock": 0}]})
    batch = await mono.call("PUT", "/partner/v1/stock", {"items": [{"sku": "H2-BE-M", "stock": 0, "price": 1000},
                                                                   {"sku": "M1-GR-F", "stock": 7}]})  # fmt: skip

    assert by_mono == [404] * len(by_mono)
    assert through_own.status_code == 422
    assert through_own.json()["detail"] == "variants[0].sku: H1-BK-M is not a variant of M1"
    assert [(item["sku"], item["result"]) for item in batch.json()["items"]] == [("H2-BE-M", "rejected"),
                                                                                  ("M1-GR-F", "updated")]  # fmt: skip
    assert {sku: await catalog.stock(sku) for sku in before} == before
    listed = (await haru.call("GET", "/partner/v1/products")).json()["items"]
    assert {item["external_id"]: item["status"] for item in listed} == {"H1": "on_sale", "H2": "on_sale"}


async def test_a_guessed_message_link_opens_nothing(
    client: ShoaClient, shopper: Shopper, session: AsyncSession
) -> None:
    granted = await shopper.call("PUT", "/v1/me/marketing/sms")
    assert granted.status_code == 200, granted.text
    guesses = ["AAAAAAAAAAAAAAAA", "k7Qx2k7Qx2k7Qx2k", str(uuid.uuid4()), "' OR '1'='1", "..%2F..%2Fadmin"]

    answers = [
        (await client.request(method, f"/w/{guess}{page}", follow_redirects=False)).status_code
        for guess in guesses
        for method, page in (("GET", ""), ("GET", "/opt-out"), ("POST", "/opt-out"))
    ]

    assert set(answers) == {404}
    consents = await session.scalars(sa.select(MarketingConsent.channel).where(MarketingConsent.user_id ==
                                                                                 shopper.user_id))  # fmt: skip
    assert list(consents) == ["sms"]
