"""``GET /partner/v1/insights/winback`` as a mall's engineer reads it: its own messages by kind, the taps, the
purchases within 7 days, and the same for the hold-out, so the mall sees the uplift and not only the count."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from catalog import keys
from shoa_kernel.clock import utc_now
from tests.orders.conftest import PartnerMall, pay_by_card, place_order
from tests.winback.conftest import KOREA, agree_to_advertising, held_out
from tests.winback.test_advertising import like

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.orders.conftest import Catalog, Shopper
    from tests.winback.conftest import Jobs


async def test_a_mall_sees_its_messages_purchases_and_the_hold_outs_rate(
    catalog: Catalog,
    many_shoppers: Callable[[int], Awaitable[list[Shopper]]],
    jobs: Jobs,
    session: AsyncSession,
) -> None:
    jobs = jobs.with_rules(holdout_percent=50)
    shoppers = await many_shoppers(12)
    for someone in shoppers:
        await agree_to_advertising(someone, "sms")
        await like(someone, catalog, "M1")
    decided = utc_now() - datetime.timedelta(minutes=1)
    await jobs.price_drops(decided)
    await catalog.malls.mono.change_variant("M1", "M1-GR-F", price=30_000)
    await jobs.price_drops(decided)
    messaged = [s for s in shoppers if not held_out(jobs, s.user_id, 50)]
    holdout = [s for s in shoppers if held_out(jobs, s.user_id, 50)]
    assert messaged
    assert holdout

    # One messaged shopper taps and buys; one held-out shopper buys anyway.
    [send] = await jobs.sends(messaged[0].user_id)
    await messaged[0].client.get(f"/w/{send.token}", follow_redirects=False)
    for buyer in (messaged[0], holdout[0]):
        await pay_by_card(buyer, await place_order(buyer, {catalog.variant("M1-GR-F"): 1}))

    mono = catalog.malls.mono
    issued = await keys.issue_key(session, mall_id=mono.id, name="dashboard", scopes=["insights:read"])
    await session.commit()
    dashboard = PartnerMall(client=mono.client, id=mono.id, name=mono.name, key=issued.key)
    today = utc_now().astimezone(KOREA).date()
    params = {"from": (today - datetime.timedelta(days=1)).isoformat(), "to": today.isoformat()}
    response = await dashboard.call("GET", "/partner/v1/insights/winback", params=params)
    assert response.status_code == 200, response.text
    kinds: dict[str, Any] = {kind["kind"]: kind for kind in response.json()["kinds"]}
    price = kinds["price_drop"]
    assert (price["sent"], price["held_out"]) == (len(messaged), len(holdout))
    assert (price["clicked"], price["purchases_7d"], price["held_out_purchases_7d"]) == (1, 1, 1)
    assert price["opened"] is None
    assert price["purchase_rate"] == round(1 / len(messaged), 4)
    assert price["uplift"]["points"] == round(100 * (1 / len(messaged) - 1 / len(holdout)), 2)
    assert price["uplift"]["low"] < price["uplift"]["points"] < price["uplift"]["high"]
    assert kinds["restock"]["uplift"] is None  # asked for: never held out

    # The other mall sees none of it.
    haru = catalog.malls.haru
    issued = await keys.issue_key(session, mall_id=haru.id, name="dashboard", scopes=["insights:read"])
    await session.commit()
    other = PartnerMall(client=haru.client, id=haru.id, name=haru.name, key=issued.key)
    theirs = (await other.call("GET", "/partner/v1/insights/winback", params=params)).json()
    assert all(kind["sent"] == 0 and kind["held_out"] == 0 for kind in theirs["kinds"])
    refused = await mono.call("GET", "/partner/v1/insights/winback", params=params)  # a key without insights:read
    assert refused.status_code == 403
