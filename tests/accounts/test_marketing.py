"""A shopper's consents to advertising: given per channel, at night only beside one, withdrawn at once, gone with
the account while their log stays, confirmed every two years, and handed to messaging exactly as one lookup or
many see them."""

from __future__ import annotations

import datetime
import itertools
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from accounts import marketing
from accounts.models import MarketingConsent, MarketingConsentLog
from notify.providers.base import Channel
from notify.service import note_inbound
from shoa_api.wiring import shopper_recipient, shopper_recipients
from shoa_kernel.clock import utc_now
from tests.shoa_api.test_auth import PASSWORD

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from tests.client import ShoaClient

_emails = itertools.count(1)
TWO_YEARS_ON = datetime.timedelta(days=2 * 366)
"""Past two calendar years from any moment."""


class Shopper:
    def __init__(self, client: ShoaClient, tokens: dict[str, Any]) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        self.id = uuid.UUID(tokens["profile"]["id"])

    async def marketing(self) -> dict[str, Any]:
        response = await self.client.get("/v1/me/marketing", headers=self.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def grant(self, channel: str) -> Any:
        return await self.client.put(f"/v1/me/marketing/{channel}", headers=self.headers)

    async def withdraw(self, channel: str | None = None) -> Any:
        path = "/v1/me/marketing" + (f"/{channel}" if channel else "")
        return await self.client.delete(path, headers=self.headers)

    async def change(self, **profile: Any) -> None:
        response = await self.client.patch("/v1/me", headers=self.headers, json=profile)
        assert response.status_code == 200, response.text


async def _shopper(client: ShoaClient, **profile: Any) -> Shopper:
    body = {"email": f"shopper{next(_emails)}@example.kr", "password": PASSWORD}
    response = await client.post("/v1/auth/signup", json=body)
    assert response.status_code == 201, response.text
    shopper = Shopper(client, response.json())
    if profile:
        await shopper.change(**profile)
    return shopper


def _channels(state: dict[str, Any]) -> list[str]:
    return [item["channel"] for item in state["channels"]]


async def _log(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[str, str, str]]:
    rows = await session.execute(
        sa.select(MarketingConsentLog.channel, MarketingConsentLog.action, MarketingConsentLog.source)
        .where(MarketingConsentLog.user_id == user_id)
        .order_by(MarketingConsentLog.id)
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


async def _back_date(session: AsyncSession, user_id: uuid.UUID, by: datetime.timedelta) -> None:
    """As if the shopper's consents had been given (and last confirmed) ``by`` earlier."""
    earlier = sa.literal(by, sa.Interval())
    await session.execute(
        sa.update(MarketingConsent)
        .where(MarketingConsent.user_id == user_id)
        .values(granted_at=MarketingConsent.granted_at - earlier, confirmed_at=MarketingConsent.confirmed_at - earlier)
    )
    await session.commit()


def _when(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


async def test_a_consent_says_what_it_still_needs_and_is_gone_once_withdrawn(client: ShoaClient) -> None:
    jiyoung = await _shopper(client)
    before = await jiyoung.marketing()

    granted = await jiyoung.grant("sms")
    await jiyoung.change(phone="010-1234-5678")
    reachable = await jiyoung.marketing()
    withdrawn = await jiyoung.withdraw("sms")

    assert before == {"channels": [], "night": None, "confirm_by": None}
    assert granted.status_code == 200, granted.text
    sms = granted.json()["channels"][0]
    assert (sms["channel"], sms["source"], sms["reachable"]) == ("sms", "app", False)
    assert sms["why_unreachable"] == "to get advertising on SMS, add your mobile number first"
    assert _when(granted.json()["confirm_by"]) == _when(sms["confirmed_at"]).replace(
        year=_when(sms["confirmed_at"]).year + 2
    )
    assert (reachable["channels"][0]["reachable"], reachable["channels"][0]["why_unreachable"]) == (True, None)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json() == {"channels": [], "night": None, "confirm_by": None}
    me = (await client.get("/v1/me", headers=jiyoung.headers)).json()
    assert me["consents"]["sms"] is False  # order messages' consents are another matter, untouched


async def test_marketing_consents_are_apart_from_order_message_consents(client: ShoaClient) -> None:
    jiyoung = await _shopper(client, phone="010-1234-5678", consents={"sms": True, "line": True})

    state = await jiyoung.marketing()
    await jiyoung.grant("line")
    me = (await client.get("/v1/me", headers=jiyoung.headers)).json()

    assert state["channels"] == []
    assert me["consents"] == {"alimtalk": False, "line": True, "instagram": False, "talktalk": False, "sms": True}


async def test_agreeing_again_keeps_the_first_date_and_counts_two_more_years(
    client: ShoaClient, session: AsyncSession
) -> None:
    jiyoung = await _shopper(client, instagram_id="jiyoung.daily")
    first = (await jiyoung.grant("instagram")).json()["channels"][0]
    await _back_date(session, jiyoung.id, datetime.timedelta(days=400))

    again = await jiyoung.grant("instagram")

    assert again.status_code == 200, again.text
    channel = again.json()["channels"][0]
    assert _when(channel["granted_at"]) == _when(first["granted_at"]) - datetime.timedelta(days=400)
    assert _when(channel["confirmed_at"]) >= _when(first["confirmed_at"])
    assert _when(again.json()["confirm_by"]).year == _when(channel["confirmed_at"]).year + 2
    assert [item["channel"] for item in again.json()["channels"]] == ["instagram"]
    assert await _log(session, jiyoung.id) == [("instagram", "granted", "app"), ("instagram", "confirmed", "app")]


async def test_night_time_advertising_needs_a_channel_and_goes_with_the_last_one(
    client: ShoaClient, session: AsyncSession
) -> None:
    jiyoung = await _shopper(client, phone="010-1234-5678", instagram_id="jiyoung.daily")

    refused = await jiyoung.grant("night")
    await jiyoung.grant("sms")
    await jiyoung.grant("instagram")
    at_night = await jiyoung.grant("night")
    one_left = await jiyoung.withdraw("sms")
    none_left = await jiyoung.withdraw("instagram")

    assert refused.status_code == 409, refused.text
    assert refused.json()["type"] == "https://api.shoa.kr/problems/night-consent-needs-a-medium"
    assert "before agreeing to get it at night" in refused.json()["detail"]
    assert at_night.status_code == 200, at_night.text
    assert at_night.json()["night"] is not None
    assert (_channels(one_left.json()), one_left.json()["night"]) == (["instagram"], at_night.json()["night"])
    assert none_left.json() == {"channels": [], "night": None, "confirm_by": None}
    assert [entry for entry in await _log(session, jiyoung.id) if entry[1] == "withdrawn"] == [
        ("sms", "withdrawn", "app"),
        ("instagram", "withdrawn", "app"),
        ("night", "withdrawn", "app"),
    ]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize(
    ("channel", "says"),
    [
        ("alimtalk", "AlimTalk carries order information only, never advertising"),
        ("email", "'email' is not a marketing channel"),
    ],
)
async def test_a_channel_without_marketing_consent_is_refused_naming_those_there_are(
    client: ShoaClient, method: str, channel: str, says: str
) -> None:
    jiyoung = await _shopper(client)

    response = await client.request(method, f"/v1/me/marketing/{channel}", headers=jiyoung.headers)

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "https://api.shoa.kr/problems/unknown-marketing-channel"
    assert says in problem["detail"]
    assert "sms, line, talktalk and instagram, and night" in problem["detail"]
    assert [(error["field"], error["source"]) for error in problem["errors"]] == [("channel", "path")]
    assert (await jiyoung.marketing())["channels"] == []


async def test_withdrawing_everything_stops_all_advertising_at_once(client: ShoaClient, session: AsyncSession) -> None:
    jiyoung = await _shopper(client, phone="010-1234-5678")
    for channel in ("sms", "line", "talktalk", "night"):
        assert (await jiyoung.grant(channel)).status_code == 200
    reached = await shopper_recipient(session, jiyoung.id)

    withdrawn = await jiyoung.withdraw()
    again = await jiyoung.withdraw()
    session.expire_all()
    after = await shopper_recipient(session, jiyoung.id)

    assert reached is not None
    assert (reached.advertising_consents, reached.night_advertising) == (frozenset({Channel.SMS}), True)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json() == {"channels": [], "night": None, "confirm_by": None}
    assert again.status_code == 200  # nothing left to withdraw is not an error
    assert after is not None
    assert (after.advertising_consents, after.night_advertising) == (frozenset(), False)
    withdrawals = [entry[0] for entry in await _log(session, jiyoung.id) if entry[1] == "withdrawn"]
    assert withdrawals == ["sms", "line", "talktalk", "night"]


async def test_erasing_the_account_drops_its_consents_and_keeps_their_log(
    client: ShoaClient, session: AsyncSession
) -> None:
    jiyoung = await _shopper(client, phone="010-1234-5678")
    await jiyoung.grant("sms")
    await jiyoung.grant("night")

    erased = await client.delete("/v1/me", headers=jiyoung.headers)

    assert erased.status_code == 204, erased.text
    consents = await session.scalar(
        sa.select(sa.func.count()).select_from(MarketingConsent).where(MarketingConsent.user_id == jiyoung.id)
    )
    assert consents == 0
    assert await _log(session, jiyoung.id) == [
        ("sms", "granted", "app"),
        ("night", "granted", "app"),
        ("sms", "withdrawn", "app"),
        ("night", "withdrawn", "app"),
    ]
    assert await shopper_recipient(session, jiyoung.id) is None


async def test_consents_unconfirmed_for_two_years_are_due_and_stop_counting_until_confirmed(
    client: ShoaClient, session: AsyncSession
) -> None:
    older = await _shopper(client, phone="010-1111-2222")
    newer = await _shopper(client, phone="010-3333-4444")
    closed = await _shopper(client, phone="010-5555-6666")
    for shopper in (older, newer, closed):
        await shopper.grant("sms")
    await older.grant("night")
    await _back_date(session, older.id, datetime.timedelta(days=30))
    await closed.client.delete("/v1/me", headers=closed.headers)
    now = utc_now()
    later = now + TWO_YEARS_ON

    due_now = await marketing.due_for_confirmation(session, now=now, limit=10)
    due_later = await marketing.due_for_confirmation(session, now=later, limit=10)
    first_only = await marketing.due_for_confirmation(session, now=later, limit=1)
    unconfirmed = await marketing.advertising_channels(session, older.id, now=later)
    confirmed = await marketing.confirm_marketing(session, older.id, now=later)
    await session.commit()
    counted = await marketing.advertising_channels(session, older.id, now=later)
    due_after = await marketing.due_for_confirmation(session, now=later, limit=10)

    assert due_now == []
    assert [(row.user_id, row.channels) for row in due_later] == [
        (older.id, frozenset({"sms", "night"})),
        (newer.id, frozenset({"sms"})),
    ]
    assert [row.user_id for row in first_only] == [older.id]
    assert due_later[0].granted_since < now - datetime.timedelta(days=29)
    assert unconfirmed == marketing.NO_ADVERTISING
    assert confirmed == ["sms", "night"]
    assert counted == marketing.AdvertisingChannels(media=frozenset({"sms"}), night=True)
    assert [row.user_id for row in due_after] == [newer.id]
    assert [entry for entry in await _log(session, older.id) if entry[1] == "confirmed"] == [
        ("sms", "confirmed", "notice"),
        ("night", "confirmed", "notice"),
    ]


async def test_a_consent_past_two_years_tells_the_shopper_to_agree_again(
    client: ShoaClient, session: AsyncSession
) -> None:
    jiyoung = await _shopper(client, phone="010-1234-5678")
    await jiyoung.grant("sms")
    await _back_date(session, jiyoung.id, TWO_YEARS_ON)

    state = await jiyoung.marketing()
    reached = await shopper_recipient(session, jiyoung.id)

    sms = state["channels"][0]
    assert (sms["channel"], sms["reachable"]) == ("sms", False)
    assert sms["why_unreachable"] == (
        "to get advertising on SMS, agree to SMS advertising again (a consent counts for two years) first"
    )
    assert _when(state["confirm_by"]) < utc_now()
    assert reached is not None
    assert reached.advertising_consents == frozenset()
    renewed = (await jiyoung.grant("sms")).json()["channels"][0]
    assert renewed["reachable"] is True


async def test_many_shoppers_are_looked_up_as_each_one_is_in_a_constant_number_of_queries(
    client: ShoaClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    texter = await _shopper(client, phone="010-1234-5678", consents={"sms": True})
    for channel in ("sms", "line", "night"):
        await texter.grant(channel)  # no LINE id: LINE advertising cannot reach her
    instagrammer = await _shopper(client, instagram_id="minji.ootd")
    await instagrammer.grant("instagram")
    await note_inbound(session, channel=Channel.INSTAGRAM, address="minji.ootd", now=utc_now())
    await session.commit()
    lapsed = await _shopper(client, talktalk_id="tt-lapsed")
    await lapsed.grant("talktalk")
    await _back_date(session, lapsed.id, TWO_YEARS_ON)
    silent = await _shopper(client, locale="ja")
    erased = await _shopper(client, phone="010-9999-0000")
    await erased.grant("sms")
    await client.delete("/v1/me", headers=erased.headers)
    unknown = uuid.UUID("0193a1c2-0000-7000-8000-000000000000")
    ids = [texter.id, instagrammer.id, lapsed.id, silent.id, erased.id, unknown, texter.id]

    one_by_one = {user_id: await shopper_recipient(session, user_id) for user_id in ids}
    session.expire_all()
    statements = _StatementCounter(engine)
    with statements:
        all_at_once = await shopper_recipients(session, ids)
    with statements.again():
        two = await shopper_recipients(session, ids[:2])

    assert all_at_once == {user_id: recipient for user_id, recipient in one_by_one.items() if recipient is not None}
    assert set(all_at_once) == {texter.id, instagrammer.id, lapsed.id, silent.id}
    assert (all_at_once[texter.id].advertising_consents, all_at_once[texter.id].night_advertising) == (
        frozenset({Channel.SMS}),
        True,
    )
    instagram = all_at_once[instagrammer.id]
    assert instagram.advertising_consents == frozenset({Channel.INSTAGRAM})
    assert instagram.instagram_window_until is not None
    assert instagram.instagram_window_until > utc_now()
    assert all_at_once[lapsed.id].advertising_consents == frozenset()
    assert all_at_once[silent.id].locale == "ja"
    assert two == {user_id: all_at_once[user_id] for user_id in ids[:2]}
    assert statements.counts[0] == statements.counts[1] <= 3


class _StatementCounter:
    """How many statements the session's connection ran in each ``with`` block."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine.sync_engine
        self.counts: list[int] = []

    def _count(self, *_: Any) -> None:
        self.counts[-1] += 1

    def again(self) -> _StatementCounter:
        return self

    def __enter__(self) -> None:
        self.counts.append(0)
        sa.event.listen(self.engine, "before_cursor_execute", self._count)

    def __exit__(self, *_: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._count)
